"""The results report over seeds: per-task mean ± 95 % interval of every variant, Δm against the single-task
baselines (per seed, against that seed's baselines or, where it has none, their mean over ``baseline_seeds``; then
over seeds), the regulariser's paired effect (with − without, per seed, mean, t interval
over seeds, bootstrap over val images, verdict: ``report.effects``) and the trivial-predictor floors.

Writes ``reports/results.md`` for people, ``reports/metrics.json`` (everything, for tools: the flows, MLflow, the
forest plot) and ``reports/headline/<row>.json``: one small file per row of the results table (floor, each variant
and each regulariser pair as the mean over seeds, and ``<row>.s<seed>`` for every seed) with the same keys
(``<task>.<primary metric>``, ``delta_m``), which is what ``dvc metrics show``, ``dvc metrics diff`` and
``dvc exp show`` lead with: one row per file, so seeds add rows and the table stays as narrow as results.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtcontrast.config import Params, run_items, stage_name
from mtcontrast.metrics.delta_m import DELTA_M_METRICS, delta_m
from mtcontrast.report.convergence import convergence, convergence_markdown
from mtcontrast.report.effects import bootstrap_interval, paired_effect, verdict
from mtcontrast.tasks import dataset_spec

ARROW = {False: "↑", True: "↓"}
LABEL = {"miou": "mIoU", "rmse": "RMSE", "mean": "mErr", "maxf": "maxF", "odsf": "odsF"}


SeedEvals = dict[int, dict[str, dict[str, Any]]]  # {seed: {variant: metrics.json of that run}}
PER_IMAGE_COLUMN = {"edge": "f"}  # per_image.parquet column of a task's primary metric (edge: per-image best F)
BOOTSTRAP_RESAMPLES = 2000


def load_eval(params: Params, variant: str, seed: int) -> dict[str, Any]:
    path = params.train.run_paths(variant, seed).metrics
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no evaluation of variant {variant!r} seed {seed}; "
            f"run `dvc repro {stage_name('evaluate', variant, seed, params.baselines)}` or "
            f"`mtc evaluate --variant {variant} --seed {seed}`"
        )
    return json.loads(path.read_text())


def load_evals(params: Params) -> SeedEvals:
    """Every (variant, seed) evaluation of the experiment (``run_items``: the baselines on ``baseline_seeds``, the
    compared variants on every seed; all must exist: the report compares complete seeds)."""
    evals: SeedEvals = {}
    for variant, seed in run_items(params):
        evals.setdefault(seed, {})[variant] = load_eval(params, variant, seed)
    return dict(sorted(evals.items()))


def load_per_image(params: Params, evals: SeedEvals) -> dict[tuple[str, int], pd.DataFrame]:
    """``per_image.parquet`` of every evaluated run that has one (the bootstrap over val images reads them)."""
    out = {}
    for seed, by_variant in evals.items():
        for variant in by_variant:
            path = params.train.run_paths(variant, seed).per_image
            if path.is_file():
                out[variant, seed] = pd.read_parquet(path)
    return out


def single_task_baselines(params: Params, evals: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``{task: metrics}`` from the completed ``baselines`` of one seed (one per task)."""
    out: dict[str, dict[str, float]] = {}
    for name, variant in params.baselines.items():
        if name in evals:
            task = variant.tasks[0]  # type: ignore[index]
            out[task] = evals[name]["tasks"][task]
    return out


def baseline_reference(
    params: Params, by_seed: dict[int, dict[str, dict[str, float]]], seed: int
) -> tuple[list[int], dict[str, dict[str, float]]]:
    """What Δm of a multi-task run of ``seed`` is measured against, and the baseline seeds it comes from: that seed's
    single-task baselines when it has any (``by_seed``: :func:`single_task_baselines` per seed), else the mean of
    each metric over the ``baseline_seeds`` that have them (the baselines train on ``baseline_seeds`` only)."""
    if by_seed.get(seed):
        return [seed], by_seed[seed]
    used = [s for s in params.baseline_seeds if by_seed.get(s)]
    return used, mean_baselines(by_seed, used)


def mean_baselines(by_seed: dict[int, dict[str, dict[str, float]]], seeds: list[int]) -> dict[str, dict[str, float]]:
    """``{task: {metric: mean over those of ``seeds`` that have the task}}`` of per-seed single-task baselines."""
    mean: dict[str, dict[str, float]] = {}
    for task in dict.fromkeys(t for s in seeds for t in by_seed[s]):
        runs = [by_seed[s][task] for s in seeds if task in by_seed[s]]
        mean[task] = {m: float(np.mean([r[m] for r in runs])) for m in runs[0]}
    return mean


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


def _finite(value: float) -> float | None:
    """JSON has no NaN: an interval that does not exist (one seed) is ``null``."""
    return None if value is None or not math.isfinite(value) else float(value)


def _interval(values: list[float]) -> dict[str, Any]:
    """Mean over seeds and its 95 % t interval (``low`` / ``high`` null with one seed or a non-finite value)."""
    if not all(math.isfinite(v) for v in values):
        return {"mean": _finite(float(np.mean(values))), "low": None, "high": None, "n": len(values), "values": values}
    e = paired_effect(values, [0.0] * len(values))
    return {"mean": e.mean, "low": _finite(e.low), "high": _finite(e.high), "n": e.n, "values": list(e.diffs)}


def _delta_m_checked(name: str, tasks: dict[str, Any], baselines: dict[str, dict[str, float]], seed: int) -> float:
    missing = [t for t in tasks if t not in baselines]
    if missing:
        raise ValueError(
            f"Δm of {name!r} (seed {seed}) needs single-task baselines for {missing}: add baselines "
            + ", ".join(f"{t}: {{tasks: [{t}]}}" for t in missing)
            + " to params.yaml and run them"
        )
    return delta_m(tasks, baselines)


def _aligned(frames: list[pd.DataFrame], task: str, column: str) -> list[np.ndarray] | None:
    """The per-image ``column`` of ``task`` of each frame, on the ids all of them hold, in one order."""
    series = []
    for frame in frames:
        rows = frame[frame["task"] == task]
        if column not in rows or "id" not in rows:
            return None
        series.append(rows.set_index("id")[column].astype(np.float64))
    common = sorted(set.intersection(*(set(s.index) for s in series)))
    return [s.loc[common].to_numpy() for s in series] if common else None


def _bootstrap_task(
    pair: tuple[str, str], task: str, seeds: list[int], per_image: dict[tuple[str, int], pd.DataFrame]
) -> tuple[float, float] | None:
    """Bootstrap interval (val images resampled within each seed, the same draw for both runs) of the mean over
    seeds of the difference of the mean per-image value of ``task``'s primary metric."""
    column = PER_IMAGE_COLUMN.get(task, DELTA_M_METRICS[task][0])
    per_seed = []
    for seed in seeds:
        if (pair[0], seed) not in per_image or (pair[1], seed) not in per_image:
            return None
        aligned = _aligned([per_image[pair[0], seed], per_image[pair[1], seed]], task, column)
        if aligned is None:
            return None
        per_seed.append((aligned[0], aligned[1]))
    return bootstrap_interval(per_seed, np.mean, resamples=BOOTSTRAP_RESAMPLES)


def _bootstrap_delta_m(
    pair: tuple[str, str], tasks: list[str], seeds: list[int], per_image: dict[tuple[str, int], pd.DataFrame]
) -> tuple[float, float] | None:
    """Bootstrap interval of Δm vs host, with each seed's host per-image means as the fixed denominators: each
    image's value of task t is scaled by ±100 / (T · host mean_t), so Δm = statistic(with) − statistic(host) for
    the statistic "sum over tasks of the column means" (the linearisation of Δm around the host)."""
    per_seed = []
    for seed in seeds:
        if (pair[0], seed) not in per_image or (pair[1], seed) not in per_image:
            return None
        cols_with, cols_host = [], []
        for task in tasks:
            column = PER_IMAGE_COLUMN.get(task, DELTA_M_METRICS[task][0])
            aligned = _aligned([per_image[pair[0], seed], per_image[pair[1], seed]], task, column)
            if aligned is None or len(aligned[0]) == 0:
                return None
            host_mean = float(aligned[1].mean())
            if host_mean == 0:
                return None
            sign = -1.0 if DELTA_M_METRICS[task][1] else 1.0
            scale = sign * 100.0 / (len(tasks) * host_mean)
            cols_with.append(aligned[0] * scale)
            cols_host.append(aligned[1] * scale)
        if len({len(c) for c in cols_with}) != 1:  # tasks scored on different images: no joint resample
            return None
        per_seed.append((np.stack(cols_with, axis=1), np.stack(cols_host, axis=1)))
    return bootstrap_interval(per_seed, lambda rows: float(rows.mean(axis=0).sum()), resamples=BOOTSTRAP_RESAMPLES)


def effect_entry(
    label: str,
    with_values: list[float],
    without_values: list[float],
    higher_is_better: bool,
    boot: tuple[float, float] | None,
    digits: int,
) -> dict[str, Any]:
    if not all(math.isfinite(v) for v in [*with_values, *without_values]):  # e.g. a metric of a diverged run
        diffs = [a - b for a, b in zip(with_values, without_values, strict=True)]
        return {
            "diffs": [_finite(d) for d in diffs],
            "mean": _finite(float(np.mean(diffs))),
            "sd": None,
            "low": None,
            "high": None,
            "n": len(diffs),
            "bootstrap": None,
            "higher_is_better": higher_is_better,
            "verdict": f"no interval: {label} is not finite for some seed; no claim",
        }
    e = paired_effect(with_values, without_values)
    return {
        "diffs": list(e.diffs),
        "mean": e.mean,
        "sd": _finite(e.sd),
        "low": _finite(e.low),
        "high": _finite(e.high),
        "n": e.n,
        "bootstrap": list(boot) if boot is not None else None,
        "higher_is_better": higher_is_better,
        "verdict": verdict(label, e, higher_is_better=higher_is_better, digits=digits),
    }


def build_results(
    params: Params,
    evals: SeedEvals,
    floors: dict[str, dict[str, float]] | None,
    per_image: dict[tuple[str, int], pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as one JSON-able dict, from every (variant, seed) evaluation ``evals``.

    Per variant: each metric's mean over its seeds (``variants``; a baseline's are the seeds it was evaluated on,
    every other variant's all of them), each task's primary metric with its 95 % t interval over those seeds
    (``intervals``), Δm per seed against :func:`baseline_reference` (which baseline seeds: ``delta_m_against``),
    its mean (``delta_m``) and interval (``delta_m_interval``); per run: ``runs[variant][seed]``. Per regulariser pair (with, without): the
    paired differences per seed, their mean, t interval, bootstrap interval over val images (from ``per_image``,
    when given) and verdict, for each task's primary metric and Δm vs host (``contrast_minus_host``)."""
    spec = dataset_spec(params.data.dataset)
    seeds = sorted(evals)
    by_seed = {seed: single_task_baselines(params, evals[seed]) for seed in seeds}
    results: dict[str, Any] = {
        "dataset": spec.name,
        "data": params.data.name,
        "seeds": seeds,
        "baseline_seeds": [seed for seed in seeds if by_seed[seed]],
        "delta_m_against": {},
        "runs": {},
        "variants": {},
        "intervals": {},
        "delta_m": {},
        "delta_m_interval": {},
        "contrast_minus_host": {},
        "floors": floors or {},
    }
    names = list(dict.fromkeys(v for seed in seeds for v in evals[seed]))
    for name in names:
        own = [s for s in seeds if name in evals[s]]  # a baseline's own seeds; every seed for the others
        missing = [s for s in seeds if s not in own]
        if missing and name not in params.baselines:
            raise ValueError(f"variant {name!r} has no evaluation for seeds {missing}; the report needs every seed")
        runs: dict[str, Any] = {}
        dms = []
        for seed in own:
            tasks = evals[seed][name]["tasks"]
            runs[str(seed)] = {"tasks": tasks}
            if len(tasks) > 1:
                against, baselines = baseline_reference(params, by_seed, seed)
                dm = _delta_m_checked(name, tasks, baselines, seed)
                runs[str(seed)]["delta_m"] = round(dm, 4)
                results["delta_m_against"][str(seed)] = against
                dms.append(dm)
        results["runs"][name] = runs
        first = evals[own[0]][name]["tasks"]
        results["variants"][name] = {
            t: {m: float(np.mean([evals[s][name]["tasks"][t][m] for s in own])) for m in ms} for t, ms in first.items()
        }
        results["intervals"][name] = {
            t: {
                "metric": DELTA_M_METRICS[t][0],
                **_interval([evals[s][name]["tasks"][t][DELTA_M_METRICS[t][0]] for s in own]),
            }
            for t in first
        }
        if dms:
            results["delta_m"][name] = round(float(np.mean(dms)), 4)
            results["delta_m_interval"][name] = _interval(dms)
    for with_c, without in _contrast_pairs(params):
        if with_c not in names or without not in names:
            continue
        tasks = list(evals[seeds[0]][with_c]["tasks"])
        per_seed: dict[str, Any] = {}
        for seed in seeds:
            a, b = evals[seed][with_c]["tasks"], evals[seed][without]["tasks"]
            row: dict[str, Any] = {
                t: {DELTA_M_METRICS[t][0]: a[t][DELTA_M_METRICS[t][0]] - b[t][DELTA_M_METRICS[t][0]]} for t in tasks
            }
            row["delta_m"] = round(delta_m(a, b), 4)
            per_seed[str(seed)] = row
        effects = {}
        for t in tasks:
            metric, lower = DELTA_M_METRICS[t]
            label = f"{t} {LABEL.get(metric, metric)}"
            boot = _bootstrap_task((with_c, without), t, seeds, per_image) if per_image else None
            effects[f"{t}.{metric}"] = effect_entry(
                label,
                [evals[s][with_c]["tasks"][t][metric] for s in seeds],
                [evals[s][without]["tasks"][t][metric] for s in seeds],
                not lower,
                boot,
                digits=4 if lower and t == "depth" else 2,
            )
        dm_values = [per_seed[str(s)]["delta_m"] for s in seeds]
        boot_dm = _bootstrap_delta_m((with_c, without), tasks, seeds, per_image) if per_image else None
        effects["delta_m"] = effect_entry("Δm vs host", dm_values, [0.0] * len(seeds), True, boot_dm, digits=2)
        results["contrast_minus_host"][f"{with_c}-{without}"] = {
            "with": with_c,
            "without": without,
            "per_task": {t: {DELTA_M_METRICS[t][0]: effects[f"{t}.{DELTA_M_METRICS[t][0]}"]["mean"]} for t in tasks},
            "delta_m_vs_host": _finite(effects["delta_m"]["mean"]) and round(effects["delta_m"]["mean"], 4),
            "per_seed": per_seed,
            "effects": effects,
            "verdict": effects["delta_m"]["verdict"],
        }
    if floors:
        results["above_floor"] = {
            name: {t: _better(t, ms, floors[t]) for t, ms in metrics.items() if t in floors}
            for name, metrics in results["variants"].items()
        }
    return results


def _better(task: str, result: dict[str, float], floor: dict[str, float]) -> bool:
    metric, lower = DELTA_M_METRICS[task]
    return result[metric] < floor[metric] if lower else result[metric] > floor[metric]


def _num(value: float | None, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:+.4g}" if signed else f"{value:.4g}"
    return text.replace("-", "−")


def _pm(entry: dict[str, Any], signed: bool = False, digits: str = ".4g") -> str:
    """``mean ± half-width`` of the 95 % t interval; the mean alone with one seed."""
    if entry.get("mean") is None:
        return "–"
    mean = f"{entry['mean']:{'+' if signed else ''}{digits}}".replace("-", "−")
    if entry.get("low") is None:
        return mean
    half = (entry["high"] - entry["low"]) / 2
    return f"{mean} ± {half:.2g}" if half < 100 else f"{mean} ± {half:.0f}"  # 350, not 3.5e+02


def _ci(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"[{_num(low, True)}, {_num(high, True)}]"


def _seed_list(seeds: list[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds))


def delta_m_sentence(results: dict[str, Any]) -> str:
    """One plain sentence: which single-task baselines each seed's Δm was measured against
    (``results["delta_m_against"]``), and so which seed noise its interval holds."""
    against = {int(s): used for s, used in results.get("delta_m_against", {}).items()}
    if not against:
        return ""
    own = [s for s, used in sorted(against.items()) if used == [s]]
    others = [s for s in sorted(against) if s not in own]
    if not others:
        return "Δm: per seed against that seed's single-task baselines, then mean ± 95 % t interval."
    references = {tuple(used) for used in against.values()}
    if len(references) == 1 and len(next(iter(references))) == 1:  # every seed against the same single seed
        seed = next(iter(references))[0]
        return (
            f"Δm: against the single-task baselines of seed {seed} (trained on seed {seed} only), so its interval "
            "holds the multi-task runs' seed noise, not the baselines'."
        )
    trained = sorted({b for used in against.values() for b in used})
    return (
        f"Δm: against that seed's single-task baselines for {_seed_list(own) if own else 'no seed'}, and for "
        f"{_seed_list(others)} against their mean over {_seed_list(trained)} (the seeds they were trained on), so "
        "its interval holds the baselines' seed noise only in part."
    )


def render_markdown(params: Params, results: dict[str, Any]) -> str:
    spec = dataset_spec(params.data.dataset)
    tasks = list(spec.tasks)
    seeds = results["seeds"]
    n = len(seeds)
    head = [f"{t} {LABEL[DELTA_M_METRICS[t][0]]} {ARROW[DELTA_M_METRICS[t][1]]}" for t in tasks]
    base_seeds = results.get("baseline_seeds", seeds)
    if n > 1:
        spread = (
            f"Each cell: mean over {n} seeds ({', '.join(map(str, seeds))}) ± the half-width of its 95 % t interval "
            f"over seeds. {delta_m_sentence(results)}"
        )
        if base_seeds and base_seeds != seeds:
            spread += (
                f" Baseline rows: {_seed_list(base_seeds)} only (one run each, so no interval)."
                if len(base_seeds) == 1
                else f" Baseline rows: mean ± interval over {_seed_list(base_seeds)} only."
            )
    else:
        spread = (
            f"**One seed ({seeds[0]}): no confidence interval exists**; each cell is a single run, and no difference "
            "below is a claim. List more seeds in `seeds` for intervals."
        )
    lines = [
        f"# Results: {spec.name} ({results['data']})",
        "",
        f"Encoder `{params.model.encoder.name}`, host `{params.model.host}`, {params.train.iterations} iterations × "
        f"batch {params.train.batch_size}. Val split at native resolution; saliency protocol "
        f"`{params.eval.sal_protocol}`, edge `{'nms' if params.eval.edge_nms else 'plain'}`"
        + (
            f" (every {params.eval.edge_threshold_step}th protocol threshold)"
            if params.eval.edge_threshold_step > 1
            else ""
        )
        + ". Δm against the single-task baselines (%, higher is better). Last iterate of every run; nothing is "
        "selected on val.",
        "",
        spread,
        "",
        "| variant | " + " | ".join(head) + " | Δm |",
        "|---|" + "---|" * (len(tasks) + 1),
    ]
    if results["floors"]:
        cells = [f"{results['floors'][t][DELTA_M_METRICS[t][0]]:.4g}" if t in results["floors"] else "–" for t in tasks]
        lines.append("| *floor (trivial predictor)* | " + " | ".join(cells) + " | – |")
    for name, intervals in results["intervals"].items():
        cells = [_pm(intervals[t]) if t in intervals else "–" for t in tasks]
        dm = results["delta_m_interval"].get(name)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_pm(dm, True, '.2f') if dm else 'baseline'} |")
    for pair in results["contrast_minus_host"].values():
        lines += [
            "",
            f"## Regulariser effect: {pair['with']} − {pair['without']} (same host, paired by seed)",
            "",
            f"**Verdict: {pair['verdict']}.**",
            "",
            "| | " + " | ".join(head) + " | Δm vs host |",
            "|---|" + "---|" * (len(tasks) + 1),
        ]
        effects = pair["effects"]
        cols = [f"{t}.{DELTA_M_METRICS[t][0]}" for t in tasks] + ["delta_m"]
        for i, seed in enumerate(seeds):
            cells = [_num(effects[c]["diffs"][i], True) if c in effects else "–" for c in cols]
            lines.append(f"| seed {seed} | " + " | ".join(cells) + " |")
        lines.append(
            "| **mean** | " + " | ".join(_num(effects[c]["mean"], True) if c in effects else "–" for c in cols) + " |"
        )
        lines.append(
            "| 95 % t interval over seeds | "
            + " | ".join(_ci(effects[c]["low"], effects[c]["high"]) if c in effects else "–" for c in cols)
            + " |"
        )
        boot = [effects[c]["bootstrap"] if c in effects else None for c in cols]
        lines.append("| 95 % bootstrap over val images | " + " | ".join(_ci(*b) if b else "–" for b in boot) + " |")
        lines += ["", "Per metric:", ""]
        lines += [f"- {effects[c]['verdict']}" for c in cols if c in effects]
        lines += [
            "",
            "With − without, per seed (both runs share the seed's initial host weights and data order). The t interval"
            " is over seeds (training noise included); the bootstrap resamples val images within each seed (the same"
            " draw for both runs) and so shows the val set's share of the uncertainty only. It is computed on the"
            " mean of per-image values (edge: per-image best F; Δm linearised around the host), a proxy of the pooled"
            " metrics.",
        ]
        if n < 2:
            lines += ["", "One seed: no interval exists, so this section makes no claim."]
    if "above_floor" in results:
        bad = [f"{v}/{t}" for v, ts in results["above_floor"].items() for t, ok in ts.items() if not ok]
        lines += [
            "",
            "All variants beat the trivial floors on every task (means over seeds)."
            if not bad
            else f"**Not above the floor (mean over seeds):** {', '.join(bad)}",
        ]
    conv = convergence_markdown(results.get("convergence", {}), tasks)
    if conv:
        lines += ["", *conv]
    lines += ["", "## All metrics (mean over seeds)", ""]
    for name, metrics in results["variants"].items():
        for t, ms in metrics.items():
            lines.append(f"- {name} / {t}: " + ", ".join(f"{k} {v:.4g}" for k, v in ms.items()))
    return "\n".join(lines) + "\n"


HEADLINE_DIR = "headline"


def _primary(metrics: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {t: {DELTA_M_METRICS[t][0]: ms[DELTA_M_METRICS[t][0]]} for t, ms in metrics.items()}


def headline_rows(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{row: {task: {primary metric: value}, "delta_m": value}}``: the results table of results.md as rows, the
    same five-or-so keys in every row. ``<variant>`` holds the means over seeds and ``<variant>.s<seed>`` each run;
    a variant's ``delta_m`` is against the single-task baselines (:func:`baseline_reference`). A regulariser pair's rows
    (``<with>-<without>``, ``<with>-<without>.s<seed>``) hold the paired differences (with − without) and
    ``delta_m`` = Δm of the regularised run against its host. Seeds add rows, never columns."""
    rows: dict[str, dict[str, Any]] = {}
    if results.get("floors"):
        rows["floor"] = _primary(results["floors"])
    for name, metrics in results["variants"].items():
        row: dict[str, Any] = _primary(metrics)
        if name in results["delta_m"]:
            row["delta_m"] = results["delta_m"][name]
        rows[name] = row
        for seed, run in results.get("runs", {}).get(name, {}).items():
            rows[f"{name}.s{seed}"] = {
                **_primary(run["tasks"]),
                **({"delta_m": run["delta_m"]} if "delta_m" in run else {}),
            }
    for pair, diff in results["contrast_minus_host"].items():
        rows[pair] = {**diff["per_task"], "delta_m": diff["delta_m_vs_host"]}
        for seed, per_seed in diff.get("per_seed", {}).items():
            rows[f"{pair}.s{seed}"] = dict(per_seed)
    return rows


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)


def write_report(params: Params, out_dir: Path = Path("reports"), floors_path: Path | None = None) -> dict[str, Any]:
    """Collect every (variant, seed) evaluation and write ``results.md``, ``metrics.json`` and ``headline/`` under
    ``out_dir``."""
    evals = load_evals(params)
    floors = json.loads(floors_path.read_text()) if floors_path and floors_path.is_file() else None
    results = build_results(params, evals, floors, load_per_image(params, evals))
    results["convergence"] = convergence(
        {(v, s): params.train.run_paths(v, s).history for s, by_variant in evals.items() for v in by_variant}
    )
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
