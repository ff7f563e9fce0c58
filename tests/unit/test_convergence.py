"""Convergence from the val points of the training history: the last-20 % gain, flatness and the report rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtcontrast.report.convergence import convergence, convergence_markdown, tail_gain, val_points


def _history(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_gain_compares_the_final_point_with_the_last_one_before_the_tail() -> None:
    points = [(80, 10.0), (160, 20.0), (240, 30.0), (320, 40.0), (400, 42.0)]
    assert tail_gain(points, lower_is_better=False) == pytest.approx(5.0)  # 40 → 42 over steps 320..400
    rmse = [(80, 1.0), (320, 0.80), (400, 0.79)]
    assert tail_gain(rmse, lower_is_better=True) == pytest.approx(1.25)  # lower is better: a drop is a gain
    assert tail_gain([(400, 1.0)], lower_is_better=True) is None  # one point: nothing to compare
    assert tail_gain([(350, 1.0), (400, 2.0)], lower_is_better=False) is None  # no point at or before 80 %


def test_convergence_averages_over_seeds_and_counts_flat_curves(tmp_path: Path) -> None:
    rows = lambda end: [  # noqa: E731
        {"step": 10, "train/loss": 3.0},
        {"step": 80, "val/semseg_miou": 30.0, "val/depth_rmse": 0.8},
        {"step": 100, "val/semseg_miou": end, "val/depth_rmse": 0.8},
    ]
    histories = {
        ("mtl", 0): _history(tmp_path / "a.jsonl", rows(30.3)),  # +1 %: flat
        ("mtl", 1): _history(tmp_path / "b.jsonl", rows(33.0)),  # +10 %: not flat
    }
    assert val_points(histories["mtl", 0])["semseg"] == [(80, 30.0), (100, 30.3)]
    conv = convergence(histories)
    assert conv["mtl"]["semseg"] == {"gain_pct": pytest.approx(5.5), "flat": 1, "n": 2}
    assert conv["mtl"]["depth"] == {"gain_pct": pytest.approx(0.0), "flat": 2, "n": 2}
    lines = convergence_markdown(conv, ["semseg", "depth", "normals"])
    assert lines[0] == "## Convergence (val during training)"
    assert lines[-1] == "| mtl | +5.5 % (1/2 flat) | +0.0 % (2/2 flat) | – |"
    assert convergence({("x", 0): tmp_path / "missing.jsonl"}) == {} and convergence_markdown({}, ["semseg"]) == []


def test_the_val_curves_figure_draws_every_run_or_nothing(tmp_path: Path) -> None:
    from mtcontrast.report.figures import val_curves

    rows = [{"step": 50, "val/edge_odsf": 40.0}, {"step": 100, "val/edge_odsf": 45.0}]
    runs = {("mtl", 0): _history(tmp_path / "a.jsonl", rows), ("mtl", 1): _history(tmp_path / "b.jsonl", rows)}
    out = val_curves(runs, tmp_path / "val.png")
    assert out is not None and out.stat().st_size > 10_000
    no_val = {("mtl", 0): _history(tmp_path / "c.jsonl", [{"step": 10, "train/loss": 1.0}])}
    assert val_curves(no_val, tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()
