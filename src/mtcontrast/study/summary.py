"""Summarise a study's finished children per setting over seeds: mean ± sample std of each task's primary metric
and, when the grid switches ``loss.contrast.enabled``, Δm against the host-only child of the same seed (a paired
comparison: both children share every non-regulariser key). Writes Parquet, markdown and the bar chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from mtcontrast.metrics.delta_m import DELTA_M_METRICS, delta_m
from mtcontrast.study.plan import CONTRAST_PREFIX, SWITCH_KEY, ChildResult

DELTA_M_COLUMN = "delta_m_vs_host"
SUMMARY_COLUMNS = ("setting", "metric", "mean", "std", "n")
CHILD_COLUMNS = ("child", "setting", "seed", "metric", "value")


def primary_metrics(metrics: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``{"semseg/miou": 0.41, "depth/rmse": 0.62, ...}``: each task's Δm metric."""
    out = {}
    for task, values in metrics.items():
        metric = DELTA_M_METRICS[task][0]
        if metric not in values:
            raise ValueError(f"results of task {task!r} have no {metric!r} (they have {', '.join(values)})")
        out[f"{task}/{metric}"] = float(values[metric])
    return out


def is_host(child: ChildResult) -> bool:
    """A child with the regulariser switched off by the grid: the host of its seed."""
    return child.overrides.get(SWITCH_KEY) is False


def host_of(child: ChildResult, children: Sequence[ChildResult]) -> ChildResult | None:
    """The regulariser-off child with the same seed and the same values for every non-regulariser key."""
    if SWITCH_KEY not in child.overrides:
        return None
    same = {k: v for k, v in child.overrides.items() if not k.startswith(CONTRAST_PREFIX)}
    for other in children:
        if other.seed == child.seed and is_host(other) and all(other.overrides.get(k) == v for k, v in same.items()):
            return other
    return None


def delta_m_or_nan(metrics: Mapping[str, Mapping[str, float]], reference: Mapping[str, Mapping[str, float]]) -> float:
    """Δm (%) of ``metrics`` against ``reference``; NaN where it is undefined (a reference metric of 0, e.g. the
    mIoU of an untrained run), so a summary says "no interval" instead of failing after every child has trained."""
    try:
        return delta_m(metrics, reference)
    except ValueError:
        return math.nan


def delta_m_vs_host(child: ChildResult, host: ChildResult) -> float:
    """Δm (%) of ``child`` against ``host`` (:func:`delta_m_or_nan`)."""
    return delta_m_or_nan(child.metrics, host.metrics)


def child_table(children: Sequence[ChildResult]) -> pd.DataFrame:
    """Long table, one row per (child, metric): ``child, setting, seed, metric, value``; Δm vs the host child
    (``delta_m_vs_host``, %) when the grid switches the regulariser off."""
    rows = []
    for child in children:
        seed = child.seed
        values = primary_metrics(child.metrics)
        host = host_of(child, children)
        if host is not None:
            values[DELTA_M_COLUMN] = delta_m_vs_host(child, host)
        rows += [
            {"child": child.name, "setting": child.setting, "seed": seed, "metric": m, "value": v}
            for m, v in values.items()
        ]
    return pd.DataFrame(rows, columns=list(CHILD_COLUMNS))


def child_deltas(
    children: Sequence[ChildResult], baselines: Mapping[int, Mapping[str, Mapping[str, float]]] | None = None
) -> dict[str, dict[str, float]]:
    """Per child (:attr:`ChildResult.key`): ``val/delta_m_vs_host`` (% against the host-only child of the same seed,
    when the grid switches the regulariser) and ``val/delta_m`` (% against the single-task baselines of the child's
    seed, ``baselines = {seed: {task: metrics}}``, when they cover every task of the child), the names the
    pipeline's runs use, so children sort by them in the MLflow UI."""
    out: dict[str, dict[str, float]] = {}
    for child in children:
        values: dict[str, float] = {}
        host = host_of(child, children)
        if host is not None and host is not child:
            vs_host = delta_m_vs_host(child, host)
            if math.isfinite(vs_host):
                values["val/delta_m_vs_host"] = vs_host
        own = (baselines or {}).get(child.seed)
        if own and all(task in own for task in child.metrics):
            try:
                values["val/delta_m"] = delta_m(child.metrics, own)
            except ValueError:
                pass
        out[child.key] = values
    return out


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
