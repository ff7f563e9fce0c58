"""Ablation grids over the regulariser's settings: plan the children, run one child, summarise over seeds.

The Prefect flow ``pipelines/ablation.py`` (``mtc ablate``) is a thin sequence of these functions:

1. :func:`plan_ablation` expands ``ablation.grid`` (dotted params keys → value lists) into children and validates
   every child's params through the schema, so a bad key or value fails before any training, naming the key.
2. :func:`spawn_child` trains + evaluates one child in its own Python process (``python -m mtcontrast.ablation
   <child dir>`` → :func:`run_child`) as an MLflow run nested under the ablation's parent run. A process per child
   keeps torch sane: each has its own intra-op thread pool sized ``cores / max_parallel`` (``torch.set_num_threads``
   is process-global, so threads in one process would share and oversubscribe it), its own MLflow client, and a
   crash (OOM, segfault) takes down one child, not the flow.
3. :func:`summarize` groups the children by setting (every grid key but ``seed``): mean ± std over seeds of each
   task's primary metric and, when the grid switches ``loss.contrast.enabled``, Δm against the host-only child
   with the same seed and non-regulariser keys. :func:`write_summary` writes Parquet, markdown and the bar chart.

Children live under ``<ablation.runs_dir>/<ablation.name>/<child>/`` (never the DVC pipeline's ``runs/``); each
holds ``params.yaml`` (the child's full params: ``mtc train --params <dir>/params.yaml --variant <child>``
reproduces it), ``child.json`` (its place in the grid), ``child.log`` and, when done, ``child_result.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mtcontrast.config import (
    Params,
    ParamsError,
    VariantParams,
    apply_overrides,
    load_params,
    parse_overrides,
    resolve_variant,
)
from mtcontrast.config.ablation import AblationParams
from mtcontrast.metrics.delta_m import DELTA_M_METRICS, delta_m

SEED_KEY = "seed"  # the grid key averaged over; every other key defines a setting
SWITCH_KEY = "loss.contrast.enabled"  # grids that switch the regulariser off get Δm against that host
CONTRAST_PREFIX = "loss.contrast."
DELTA_M_COLUMN = "delta_m_vs_host"
SUMMARY_COLUMNS = ("setting", "metric", "mean", "std", "n")
# keys the flow sets itself (child folders, the child's variant); a grid over them would break the layout
_RESERVED = ("ablation", "variants", "train.runs_dir")


class AblationChildError(RuntimeError):
    """A child process that exited non-zero; the message holds the tail of its log."""


@dataclass(frozen=True)
class ChildPlan:
    """One grid point: folder / MLflow run name, setting label (grid keys but the seed), overrides, full params."""

    name: str
    setting: str
    overrides: dict[str, Any]
    params: Params

    @property
    def run_dir(self) -> Path:
        return Path(self.params.train.runs_dir) / self.name


@dataclass
class ChildResult:
    """A trained + evaluated child as the summary needs it."""

    name: str
    setting: str
    overrides: dict[str, Any]
    metrics: dict[str, dict[str, float]]
    run_id: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ planning
def format_value(value: Any) -> str:
    """Compact, YAML-like text of a grid value (``true``, ``0.3``, ``random``, ``0.05,0.25``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}:{format_value(v)}" for k, v in value.items())
    return json.dumps(value)


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each dotted key → its shortest dotted suffix that no other key ends with (``loss.contrast.weight`` →
    ``weight``), so labels stay short and unambiguous."""
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            suffix = ".".join(parts[-n:])
            if not any(other != key and (other == suffix or other.endswith("." + suffix)) for other in keys):
                break
        out[key] = suffix
    return out


def expand_grid(base: Params, grid: Mapping[str, Sequence[Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The Cartesian product of ``grid`` as ``[(child name, {key: value})]``, each validated against ``base``.

    Children with ``loss.contrast.enabled: false`` drop the other ``loss.contrast.*`` keys (they do not change a
    run without the regulariser), so the host-only setting is trained once per seed, not once per λ.
    """
    for key, values in grid.items():
        if any(key == r or key.startswith(r + ".") for r in _RESERVED):
            raise ParamsError(f"ablation grid: key {key!r} is set by the flow itself; choose another key")
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise ParamsError(f"ablation grid: {key} = {values!r}: expected a non-empty list of values")
    if not grid:
        return [("base", {})]
    keys = list(grid)
    short = short_keys(keys)
    children: list[tuple[str, dict[str, Any]]] = []
    seen_overrides: list[dict[str, Any]] = []
    names: set[str] = set()
    for combo in itertools.product(*(grid[k] for k in keys)):
        overrides = dict(zip(keys, combo))
        if overrides.get(SWITCH_KEY) is False:
            overrides = {k: v for k, v in overrides.items() if k == SWITCH_KEY or not k.startswith(CONTRAST_PREFIX)}
        if overrides in seen_overrides:
            continue
        name = "_".join(_term(k, v, short, "-") for k, v in overrides.items())
        name = re.sub(r"[^A-Za-z0-9_.,+=-]", "", name) or "child"
        if name in names:
            name = f"{name}_{len(children)}"
        apply_overrides(base, overrides, f"ablation grid child {name} ({setting_of(overrides, keys)})")
        seen_overrides.append(overrides)
        names.add(name)
        children.append((name, overrides))
    return children


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]] | None:
    """``["loss.contrast.weight=[0.3, 1]", "seed=[0, 1]"]`` → ``{"loss.contrast.weight": [0.3, 1], "seed": [0, 1]}``
    (YAML values, the ``-S`` syntax; a scalar is a one-value axis). None when no item is given."""
    if not items:
        return None
    return {".".join(path): value if isinstance(value, list) else [value] for path, value in parse_overrides(items)}


def setting_of(overrides: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    """Label of a child's setting: its overrides but the seed, e.g. ``enabled=true, weight=0.3``."""
    short = short_keys(list(keys if keys is not None else overrides))
    return ", ".join(_term(k, v, short, "=") for k, v in overrides.items() if k != SEED_KEY) or "base"


def _term(key: str, value: Any, short: Mapping[str, str], sep: str) -> str:
    """``weight=0.3`` in labels, ``weight-0.3`` in names; the regulariser switch reads ``contrast=off``."""
    if key == SWITCH_KEY and isinstance(value, bool):
        return f"contrast{sep}{'on' if value else 'off'}"
    return f"{short[key]}{sep}{format_value(value)}"


def child_variant(base: VariantParams, overrides: Mapping[str, Any]) -> VariantParams:
    """The child's variant: the ablated variant, with its regulariser switch / host / tasks taken from the grid
    when the grid sets them (``resolve_variant`` would otherwise overwrite those keys with the variant's)."""
    update: dict[str, Any] = {}
    if SWITCH_KEY in overrides:
        update["contrast"] = bool(overrides[SWITCH_KEY])
    if "model.host" in overrides:
        update["host"] = overrides["model.host"]
    if "model.tasks" in overrides:
        update["tasks"] = overrides["model.tasks"] or "all"
    return VariantParams.model_validate({**base.model_dump(), **update})


def plan_ablation(base: Params, cfg: AblationParams) -> list[ChildPlan]:
    """Every child of ``cfg.grid`` with its full, validated params: ``train.runs_dir = <runs_dir>/<name>`` and a
    single variant named after the child, so its run folder is ``<runs_dir>/<name>/<child>``."""
    if cfg.variant not in base.variants:
        raise ParamsError(f"ablation.variant = {cfg.variant!r}: not a key of `variants` ({', '.join(base.variants)})")
    variant = base.variants[cfg.variant]
    keys = list(cfg.grid)
    plans = []
    for name, overrides in expand_grid(base, cfg.grid):
        params = apply_overrides(base, overrides)
        train = params.train.model_copy(update={"runs_dir": Path(cfg.runs_dir) / cfg.name})
        params = params.model_copy(update={"train": train, "variants": {name: child_variant(variant, overrides)}})
        resolve_variant(params, name)  # the variant's tasks must belong to the (possibly overridden) dataset
        plans.append(ChildPlan(name, setting_of(overrides, keys), overrides, params))
    return plans


def require_prepared(params: Params) -> None:
    """Children train on the DVC-prepared data; say how to make it when it is missing."""
    for split in ("train", "val"):
        path = params.data.prepared_path(split)
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: prepared {split} split missing; run `dvc repro prepare` first")


# ------------------------------------------------------------------------------------------------ one child
def write_child_dir(plan: ChildPlan, grid_name: str) -> Path:
    """``<run_dir>/params.yaml`` + ``child.json``: everything :func:`run_child` needs, in plain files."""
    run_dir = plan.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "params.yaml").write_text(yaml.safe_dump(plan.params.model_dump(mode="json"), sort_keys=False))
    meta = {"name": plan.name, "setting": plan.setting, "overrides": plan.overrides, "grid": grid_name}
    (run_dir / "child.json").write_text(json.dumps(meta, indent=2))
    (run_dir / "child_result.json").unlink(missing_ok=True)
    return run_dir


def run_child(run_dir: Path, parent_run_id: str | None, source: str = "flow:ablation") -> ChildResult:
    """Train + evaluate the child in ``run_dir`` as one MLflow run nested under ``parent_run_id``; writes
    ``child_result.json``. Runs inside the child process (see the module docstring for why)."""
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / "child.json").read_text())
    params = load_params(run_dir / "params.yaml")

    import mtcontrast._compat  # noqa: F401  (torchvision guard before timm / mlflow.pytorch)
    from mtcontrast.tracking import run_id_of
    from mtcontrast.tracking.jobs import tracked_evaluate, tracked_train

    name = meta["name"]
    tags = {"ablation.grid": meta["grid"], "ablation.setting": meta["setting"], "ablation.child": name}
    run = {"parent_run_id": parent_run_id, "run_name": name, "extra_tags": tags}  # the same run for both
    trained = tracked_train(params, name, source=source, progress=False, **run)
    evaluated = tracked_evaluate(params, name, source=source, progress=False, **run)
    result = ChildResult(
        name,
        meta["setting"],
        meta["overrides"],
        evaluated.metrics,
        run_id_of(run_dir),
        round(trained.seconds + evaluated.seconds, 2),
        {"train_seconds": round(trained.seconds, 2)},
    )
    (run_dir / "child_result.json").write_text(json.dumps(asdict(result), indent=2))
    return result


def child_threads(max_parallel: int) -> int:
    """torch threads per child: the cores shared evenly between the children that train at once."""
    return max(1, (os.cpu_count() or 1) // max_parallel)


def spawn_child(
    run_dir: Path, parent_run_id: str | None, *, threads: int, tracking_uri: str | None = None
) -> ChildResult:
    """Run :func:`run_child` in a fresh Python process (log: ``<run_dir>/child.log``) and read its result."""
    run_dir = Path(run_dir)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    cmd = [sys.executable, "-m", "mtcontrast.ablation", str(run_dir)]
    if parent_run_id:
        cmd += ["--parent-run-id", parent_run_id]
    log_path = run_dir / "child.log"
    with log_path.open("w") as log:
        code = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    result_path = run_dir / "child_result.json"
    if code != 0 or not result_path.is_file():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        raise AblationChildError(f"ablation child {run_dir.name} failed (exit code {code}); {log_path} ends:\n{tail}")
    return ChildResult(**json.loads(result_path.read_text()))


# ------------------------------------------------------------------------------------------------ summary
def primary_metrics(metrics: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``{"semseg/miou": 0.41, "depth/rmse": 0.62, ...}``: each task's Δm metric."""
    out = {}
    for task, values in metrics.items():
        metric = DELTA_M_METRICS[task][0]
        if metric not in values:
            raise ValueError(f"results of task {task!r} have no {metric!r} (they have {', '.join(values)})")
        out[f"{task}/{metric}"] = float(values[metric])
    return out


def _host_of(child: ChildResult, children: Sequence[ChildResult]) -> ChildResult | None:
    """The regulariser-off child with the same values for every non-regulariser key (seed included)."""
    if SWITCH_KEY not in child.overrides:
        return None
    same = {k: v for k, v in child.overrides.items() if not k.startswith(CONTRAST_PREFIX)}
    for other in children:
        if other.overrides.get(SWITCH_KEY) is False and all(other.overrides.get(k) == v for k, v in same.items()):
            return other
    return None


def child_table(children: Sequence[ChildResult]) -> pd.DataFrame:
    """Long table, one row per (child, metric): ``child, setting, seed, metric, value``; Δm vs the host child
    (``delta_m_vs_host``, %) when the grid switches the regulariser off."""
    rows = []
    for child in children:
        seed = child.overrides.get(SEED_KEY)
        values = primary_metrics(child.metrics)
        host = _host_of(child, children)
        if host is not None:
            try:
                values[DELTA_M_COLUMN] = delta_m(child.metrics, host.metrics)
            except ValueError:  # a host metric of 0 (e.g. mIoU of an untrained run): the relative gain is undefined
                values[DELTA_M_COLUMN] = math.nan
        rows += [
            {"child": child.name, "setting": child.setting, "seed": seed, "metric": m, "value": v}
            for m, v in values.items()
        ]
    return pd.DataFrame(rows, columns=["child", "setting", "seed", "metric", "value"])


def summarize(children: Sequence[ChildResult]) -> pd.DataFrame:
    """Per (setting, metric): mean, sample std over seeds (NaN with one seed) and n; settings and metrics in
    grid order. Columns: setting, metric, mean, std, n (the ``ablation_chart`` input)."""
    table = child_table(children)
    if table.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    grouped = table.groupby(["setting", "metric"], sort=False)["value"]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()
    out["n"] = out["n"].astype(int)
    return out[list(SUMMARY_COLUMNS)]


def _arrow(metric: str) -> str:
    if metric == DELTA_M_COLUMN:
        return "↑"
    task = metric.split("/")[0]
    return "↓" if DELTA_M_METRICS.get(task, ("", False))[1] else "↑"


def summary_markdown(df: pd.DataFrame, title: str | None = None) -> str:
    """A setting × metric table of ``mean ± std`` (n seeds); the best mean of each column in bold."""
    lines = [f"# {title}", ""] if title else []
    if df.empty:
        return "\n".join(lines + ["No finished children."]) + "\n"
    settings = list(dict.fromkeys(df["setting"]))
    metrics = list(dict.fromkeys(df["metric"]))
    cell = {(r.setting, r.metric): r for r in df.itertuples(index=False)}
    best = {}
    for metric in metrics:
        means = {s: cell[s, metric].mean for s in settings if (s, metric) in cell}
        means = {s: m for s, m in means.items() if math.isfinite(m)}
        top = (min if _arrow(metric) == "↓" else max)(means.values(), default=None)
        leaders = [s for s, m in means.items() if m == top]
        if len(leaders) == 1:  # a tie has no best
            best[metric] = leaders[0]
    head = ["Δm vs host (%) ↑" if m == DELTA_M_COLUMN else f"{m} {_arrow(m)}" for m in metrics]
    lines += ["| setting | n | " + " | ".join(head) + " |", "|---|---|" + "---|" * len(metrics)]
    for setting in settings:
        n = max(int(cell[setting, m].n) for m in metrics if (setting, m) in cell)
        cells = []
        for metric in metrics:
            row = cell.get((setting, metric))
            if row is None:
                cells.append("–")
                continue
            text = f"{row.mean:.4g}" + (f" ± {row.std:.2g}" if math.isfinite(row.std) else "")
            cells.append(f"**{text}**" if best.get(metric) == setting and len(settings) > 1 else text)
        lines.append(f"| {setting} | {n} | " + " | ".join(cells) + " |")
    lines += ["", "mean ± sample std over seeds; **bold**: the best setting of a column (none on a tie)."]
    return "\n".join(lines) + "\n"


def write_summary(
    children: Sequence[ChildResult], out_dir: Path, title: str, failed: Sequence[str] = ()
) -> dict[str, Path]:
    """``summary.parquet`` (setting, metric, mean, std, n), ``children.parquet`` (one row per child and metric),
    ``summary.md`` (naming the ``failed`` children) and the bar chart ``summary.png`` under ``out_dir``."""
    from mtcontrast.report.figures import ablation_chart

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(children)
    paths = {
        "summary": out_dir / "summary.parquet",
        "children": out_dir / "children.parquet",
        "markdown": out_dir / "summary.md",
        "chart": out_dir / "summary.png",
    }
    summary.to_parquet(paths["summary"], index=False)
    child_table(children).to_parquet(paths["children"], index=False)
    markdown = summary_markdown(summary, title)
    if failed:
        markdown += f"\n**Failed children (not in the table):** {', '.join(failed)}\n"
    paths["markdown"].write_text(markdown)
    if summary.empty:
        del paths["chart"]
    else:
        ablation_chart(summary, paths["chart"], title)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mtcontrast.ablation <child dir> [--parent-run-id ID]``: the child process of :func:`spawn_child`."""
    parser = argparse.ArgumentParser(prog="python -m mtcontrast.ablation", description=main.__doc__)
    parser.add_argument("run_dir", type=Path, help="a child folder written by write_child_dir")
    parser.add_argument("--parent-run-id", default=None, help="MLflow run id of the ablation's parent run")
    parser.add_argument("--source", default="flow:ablation", help="the run's `source` tag")
    args = parser.parse_args(argv)
    result = run_child(args.run_dir, args.parent_run_id, args.source)
    print(json.dumps({"child": result.name, "run_id": result.run_id, **primary_metrics(result.metrics)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
