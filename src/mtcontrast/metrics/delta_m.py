"""Multi-task gain Δm (docs/benchmark-protocol.md §2.6), one metric per task:

    Δm = (100 / T) · Σ_t (−1)^{l_t} · (M_t − M_t^b) / M_t^b

l_t = 1 when lower is better. Positive Δm means better than the baseline. (LibMTL's Δp averages within each task
first; that is a different formula.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# task → (metric, lower_is_better)
DELTA_M_METRICS: dict[str, tuple[str, bool]] = {
    "semseg": ("miou", False),
    "human_parts": ("miou", False),
    "sal": ("maxf", False),  # MTL-PyTorch's code uses sal "miou" instead: pass metrics={"sal": "miou"}
    "edge": ("odsf", False),
    "depth": ("rmse", True),
    "normals": ("mean", True),
}

# direction of every metric a task may be scored with (for ``metrics=`` overrides)
LOWER_IS_BETTER: dict[str, bool] = {
    "miou": False,
    "pixel_acc": False,
    "maxf": False,
    "odsf": False,
    "oisf": False,
    "ap": False,
    "delta1": False,
    "within_11_25": False,
    "within_22_5": False,
    "within_30": False,
    "rmse": True,
    "log_rmse": True,
    "abs_rel": True,
    "sq_rel": True,
    "mean": True,
    "median": True,
}


def delta_m(
    results: Mapping[str, Mapping[str, float]],
    baselines: Mapping[str, Mapping[str, float]],
    tasks: Iterable[str] | None = None,
    metrics: Mapping[str, str] | None = None,
) -> float:
    """Δm in % of ``results`` against ``baselines`` (both ``{task: {metric: value}}``) over ``tasks``
    (default: every task in ``results``). ``metrics`` overrides the metric of a task, e.g. ``{"sal": "miou"}``."""
    chosen = list(results if tasks is None else tasks)
    if not chosen:
        raise ValueError("delta_m: no tasks to average over")
    total = 0.0
    for task in chosen:
        if task not in DELTA_M_METRICS:
            raise ValueError(f"delta_m: unknown task {task!r}; known: {', '.join(DELTA_M_METRICS)}")
        metric, lower = DELTA_M_METRICS[task]
        if metrics and task in metrics:
            metric = metrics[task]
            if metric not in LOWER_IS_BETTER:
                raise ValueError(f"delta_m: no direction known for metric {metric!r} of task {task!r}")
            lower = LOWER_IS_BETTER[metric]
        if task not in baselines:
            held = ", ".join(baselines) or "none"
            raise ValueError(f"delta_m: no baseline for task {task!r} (baselines hold: {held})")
        if metric not in baselines[task]:
            held = ", ".join(baselines[task])
            raise ValueError(f"delta_m: baseline of task {task!r} has no {metric!r} (it has {held})")
        if task not in results or metric not in results[task]:
            raise ValueError(f"delta_m: results have no {task!r} {metric!r}")
        base = float(baselines[task][metric])
        if base == 0.0:
            raise ValueError(f"delta_m: baseline {task!r} {metric!r} is 0; the relative gain is undefined")
        rel = (float(results[task][metric]) - base) / base
        total += -rel if lower else rel
    return 100.0 * total / len(chosen)
