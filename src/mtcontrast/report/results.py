"""The results report: per-task metrics of every variant, Δm against the single-task baselines, the regulariser's
effect (contrast minus the same run without it) and the trivial-predictor floors.

Writes ``reports/results.md`` for people, ``reports/metrics.json`` (everything, for tools: the flows, MLflow) and
``reports/headline/<row>.json``: one small file per row of the results table (floor, each variant, each
regulariser pair) with the same keys (``<task>.<primary metric>``, ``delta_m``), which is what ``dvc metrics show``,
``dvc metrics diff`` and ``dvc exp show`` lead with: one row per file, so the table stays as narrow as results.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtcontrast.config import Params
from mtcontrast.metrics.delta_m import DELTA_M_METRICS, delta_m
from mtcontrast.tasks import dataset_spec

ARROW = {False: "↑", True: "↓"}
LABEL = {"miou": "mIoU", "rmse": "RMSE", "mean": "mErr", "maxf": "maxF", "odsf": "odsF"}


def load_eval(params: Params, variant: str) -> dict[str, Any]:
    path = params.train.run_paths(variant).metrics
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no evaluation of variant {variant!r}; run `mtc evaluate --variant {variant}`")
    return json.loads(path.read_text())


def single_task_baselines(params: Params, evals: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``{task: metrics}`` from the completed single-task variants (one per task)."""
    out: dict[str, dict[str, float]] = {}
    for name, variant in params.variants.items():
        if variant.is_single_task() and name in evals:
            task = variant.tasks[0]  # type: ignore[index]
            out[task] = evals[name]["tasks"][task]
    return out


def _contrast_pairs(params: Params) -> list[tuple[str, str]]:
    """(with_contrast, without) variant pairs that differ only by the regulariser."""
    pairs = []
    for name, v in params.variants.items():
        if v.contrast:
            for other, w in params.variants.items():
                if not w.contrast and w.tasks == v.tasks and w.host == v.host:
                    pairs.append((name, other))
                    break
    return pairs


def build_results(
    params: Params, evals: dict[str, dict[str, Any]], floors: dict[str, dict[str, float]] | None
) -> dict[str, Any]:
    """Everything the report shows, as one JSON-able dict."""
    spec = dataset_spec(params.data.dataset)
    baselines = single_task_baselines(params, evals)
    results: dict[str, Any] = {
        "dataset": spec.name,
        "data": params.data.name,
        "variants": {},
        "delta_m": {},
        "contrast_minus_host": {},
        "floors": floors or {},
    }
    for name, ev in evals.items():
        results["variants"][name] = ev["tasks"]
        tasks = list(ev["tasks"])
        if len(tasks) > 1:
            missing = [t for t in tasks if t not in baselines]
            if missing:
                raise ValueError(
                    f"Δm of {name!r} needs single-task baselines for {missing}: add variants "
                    + ", ".join(f"{t}: {{tasks: [{t}]}}" for t in missing)
                    + " to params.yaml and run them"
                )
            results["delta_m"][name] = round(delta_m(ev["tasks"], baselines), 4)
    for with_c, without in _contrast_pairs(params):
        if with_c in evals and without in evals:
            diff = {}
            for task, (metric, _) in ((t, DELTA_M_METRICS[t]) for t in evals[with_c]["tasks"]):
                diff[task] = {metric: evals[with_c]["tasks"][task][metric] - evals[without]["tasks"][task][metric]}
            results["contrast_minus_host"][f"{with_c}-{without}"] = {
                "per_task": diff,
                "delta_m_vs_host": round(delta_m(evals[with_c]["tasks"], evals[without]["tasks"]), 4),
            }
    if floors:
        results["above_floor"] = {
            name: {t: _better(t, ev["tasks"][t], floors[t]) for t in ev["tasks"] if t in floors}
            for name, ev in evals.items()
        }
    return results


def _better(task: str, result: dict[str, float], floor: dict[str, float]) -> bool:
    metric, lower = DELTA_M_METRICS[task]
    return result[metric] < floor[metric] if lower else result[metric] > floor[metric]


def render_markdown(params: Params, results: dict[str, Any]) -> str:
    spec = dataset_spec(params.data.dataset)
    tasks = list(spec.tasks)
    head = [f"{t} {LABEL[DELTA_M_METRICS[t][0]]} {ARROW[DELTA_M_METRICS[t][1]]}" for t in tasks]
    lines = [
        f"# Results: {spec.name} ({results['data']})",
        "",
        f"Encoder `{params.model.encoder.name}`, host `{params.model.host}`, {params.train.iterations} iterations × "
        f"batch {params.train.batch_size}, seed {params.seed}. Val split at native resolution; saliency protocol "
        f"`{params.eval.sal_protocol}`, edge `{'nms' if params.eval.edge_nms else 'plain'}`"
        + (
            f" (every {params.eval.edge_threshold_step}th protocol threshold)"
            if params.eval.edge_threshold_step > 1
            else ""
        )
        + ". Δm against the "
        "single-task baselines (%, higher is better).",
        "",
        "| variant | " + " | ".join(head) + " | Δm |",
        "|---|" + "---|" * (len(tasks) + 1),
    ]

    def row(name: str, metrics: dict[str, dict[str, float]], dm: str) -> str:
        cells = []
        for t in tasks:
            m = DELTA_M_METRICS[t][0]
            cells.append(f"{metrics[t][m]:.4g}" if t in metrics else "–")
        return f"| {name} | " + " | ".join(cells) + f" | {dm} |"

    if results["floors"]:
        lines.append(row("*floor (trivial predictor)*", results["floors"], "–"))
    for name, metrics in results["variants"].items():
        dm = results["delta_m"].get(name)
        lines.append(row(name, metrics, f"{dm:+.2f}" if dm is not None else "baseline"))
    if results["contrast_minus_host"]:
        lines += [
            "",
            "## Regulariser effect (with − without, same host)",
            "",
            "| comparison | " + " | ".join(head) + " | Δm vs host |",
            "|---|" + "---|" * (len(tasks) + 1),
        ]
        for key, diff in results["contrast_minus_host"].items():
            cells = [
                f"{diff['per_task'][t][DELTA_M_METRICS[t][0]]:+.4g}" if t in diff["per_task"] else "–" for t in tasks
            ]
            lines.append(f"| {key} | " + " | ".join(cells) + f" | {diff['delta_m_vs_host']:+.2f} |")
    if "above_floor" in results:
        bad = [f"{v}/{t}" for v, ts in results["above_floor"].items() for t, ok in ts.items() if not ok]
        lines += [
            "",
            "All variants beat the trivial floors on every task."
            if not bad
            else f"**Not above the floor:** {', '.join(bad)}",
        ]
    lines += ["", "## All metrics", ""]
    for name, metrics in results["variants"].items():
        for t, ms in metrics.items():
            lines.append(f"- {name} / {t}: " + ", ".join(f"{k} {v:.4g}" for k, v in ms.items()))
    return "\n".join(lines) + "\n"


HEADLINE_DIR = "headline"


def headline_rows(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{row: {task: {primary metric: value}, "delta_m": value}}``: the results table of results.md as rows. A
    variant's ``delta_m`` is against the single-task baselines; a regulariser pair's row (``<with>-<without>``)
    holds the paired differences (with − without) and ``delta_m`` = Δm of the regularised run against its host."""
    rows: dict[str, dict[str, Any]] = {}
    if results.get("floors"):
        rows["floor"] = {t: {DELTA_M_METRICS[t][0]: ms[DELTA_M_METRICS[t][0]]} for t, ms in results["floors"].items()}
    for name, metrics in results["variants"].items():
        row: dict[str, Any] = {t: {DELTA_M_METRICS[t][0]: ms[DELTA_M_METRICS[t][0]]} for t, ms in metrics.items()}
        if name in results["delta_m"]:
            row["delta_m"] = results["delta_m"][name]
        rows[name] = row
    for pair, diff in results["contrast_minus_host"].items():
        rows[pair] = {**diff["per_task"], "delta_m": diff["delta_m_vs_host"]}
    return rows


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)


def write_report(params: Params, out_dir: Path = Path("reports"), floors_path: Path | None = None) -> dict[str, Any]:
    """Collect every variant's evaluation and write ``results.md``, ``metrics.json`` and ``headline/`` under
    ``out_dir``."""
    evals = {name: load_eval(params, name) for name in params.variants}
    floors = json.loads(floors_path.read_text()) if floors_path and floors_path.is_file() else None
    results = build_results(params, evals, floors)
    headline = out_dir / HEADLINE_DIR
    headline.mkdir(parents=True, exist_ok=True)
    rows = headline_rows(results)
    for stale in headline.glob("*.json"):
        if stale.stem not in rows:
            stale.unlink()
    for name, row in rows.items():
        _write_json(headline / f"{name}.json", row)
    _write_json(out_dir / "metrics.json", results)
    (out_dir / "results.md").write_text(render_markdown(params, results))
    return results
