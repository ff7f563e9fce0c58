"""Convergence from the val evaluations logged during training (``train.val_evals``): is a run's curve flat at
the end? The issue's yardstick: the last 20 % of the steps improve the val metric by less than 2 % relative.

Read from each run's ``history.jsonl`` (keys ``val/<task>_<metric>``), so it costs no evaluation. The val points
come from the in-training evaluator (edge odsF on every ``train.val_edge_threshold_step``-th threshold), so they can
differ slightly from ``evaluate@``'s final numbers; the gain compares two of them, both computed the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mtcontrast.metrics.delta_m import DELTA_M_METRICS

TAIL = 0.2  # the last 20 % of the steps
FLAT = 2.0  # % relative improvement below which a curve counts as flat


def val_points(history: Path) -> dict[str, list[tuple[int, float]]]:
    """``{task: [(step, value of its primary metric)]}`` from a run's history, in step order."""
    out: dict[str, list[tuple[int, float]]] = {}
    if not history.is_file():
        return out
    for line in history.read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        for task, (metric, _) in DELTA_M_METRICS.items():
            key = f"val/{task}_{metric}"
            if key in row:
                out.setdefault(task, []).append((int(row["step"]), float(row[key])))
    return out


def tail_gain(points: list[tuple[int, float]], lower_is_better: bool, tail: float = TAIL) -> float | None:
    """% improvement of the final val value over the last point at or before ``(1 − tail)`` of the final step
    (positive = still improving). None without such a point or when it is 0."""
    if len(points) < 2:
        return None
    final_step, final = points[-1]
    before = [v for s, v in points if s <= (1 - tail) * final_step]
    if not before or before[-1] == 0:
        return None
    change = (before[-1] - final) if lower_is_better else (final - before[-1])
    return 100.0 * change / abs(before[-1])


def convergence(histories: Mapping[tuple[str, int], Path]) -> dict[str, dict[str, Any]]:
    """Per variant and task: the mean over seeds of :func:`tail_gain` (``gain_pct``), how many seeds' curves are
    flat (``flat``, gain < :data:`FLAT` %) out of ``n``."""
    gains: dict[str, dict[str, list[float]]] = {}
    for (variant, _), history in histories.items():
        for task, points in val_points(history).items():
            gain = tail_gain(points, DELTA_M_METRICS[task][1])
            if gain is not None:
                gains.setdefault(variant, {}).setdefault(task, []).append(gain)
    return {
        v: {
            t: {"gain_pct": float(np.mean(g)), "flat": sum(x < FLAT for x in g), "n": len(g)}
            for t, g in by_task.items()
        }
        for v, by_task in gains.items()
    }


def convergence_markdown(conv: Mapping[str, Mapping[str, Any]], tasks: list[str]) -> list[str]:
    """The results.md section: one row per variant, one cell per task: mean gain over the last 20 % of the steps
    and the number of flat curves."""
    if not conv:
        return []
    lines = [
        "## Convergence (val during training)",
        "",
        f"Improvement of each task's val metric over the last {TAIL:.0%} of the steps (% relative, mean over seeds;"
        f" flat: < {FLAT:g} %), from the val points logged during training (`train.val_evals`).",
        "",
        "| variant | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for variant, by_task in conv.items():
        cells = []
        for t in tasks:
            c = by_task.get(t)
            cells.append("–" if c is None else f"{c['gain_pct']:+.1f} % ({c['flat']}/{c['n']} flat)".replace("-", "−"))
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines
