"""``eval.edge_thin`` reaches the edge meter on both routes, the evaluator and ``mtc score`` (docs/seism.md §1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtcontrast.config import EvalParams
from mtcontrast.metrics import build_meter
from mtcontrast.metrics.edges import EdgeMeter, export_edge_png
from mtcontrast.metrics.score import evaluate_samples

FEW = np.array([0.2, 0.5, 0.8])


def test_default_is_the_tools_thinning() -> None:
    assert EvalParams().edge_thin is True
    assert EdgeMeter(0.011).thin is True and build_meter("edge", "nyudv2").config()["thin"] is True


def test_evaluator_edge_options_pass_the_flag(tmp_path: Path) -> None:
    from mtcontrast.engine.evaluator import edge_options  # late: the engine imports torch

    for flag in (True, False):
        options = edge_options(EvalParams(edge_thin=flag, export_edges=False), tmp_path)
        meter = build_meter("edge", "nyudv2", **options)
        assert meter.config()["thin"] is flag and "export_dir" not in options


def test_score_route_passes_the_flag_and_scores_like_the_meter(tmp_path: Path) -> None:
    gt = np.zeros((48, 64), np.uint8)
    gt[10:40, 20] = 1
    pred = np.zeros((48, 64))
    pred[10:40, 20:22] = 0.7  # a 2-px band: thinning changes sumP
    export_edge_png(pred, tmp_path, "a")
    samples = [{"edge": gt, "meta": {"id": "a"}}]
    sum_p = {}
    for flag in (True, False):
        meter = evaluate_samples(samples, tmp_path, ["edge"], "nyudv2", "plain", edge_thin=flag)["edge"]
        direct = EdgeMeter(0.011, nms=False, thin=flag)
        direct.update(pred, gt, id="a")
        assert meter.config()["thin"] is flag
        for key, value in direct.state().items():
            np.testing.assert_array_equal(meter.state()[key], value)
        sum_p[flag] = int(meter.state()["image/sum_p"][0, 0])
    assert sum_p == {True: 29, False: 60}  # 30 × 2 band → its west column minus the north end


def test_the_matcher_option_reaches_the_meter(tmp_path: Path) -> None:
    from mtcontrast.engine.evaluator import edge_options

    assert EvalParams().edge_matcher == "fast"  # BSDS's problem in NumPy unless the C++ build is asked for
    assert edge_options(EvalParams(edge_matcher="bsds"), tmp_path)["matcher"] == "bsds"
    assert EdgeMeter(0.011, matcher="bsds").config()["matcher"] == "bsds"
