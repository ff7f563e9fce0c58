"""mIoU, depth and normals meters against hand-computed values (docs/benchmark-protocol.md §2.1–2.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtcontrast.metrics import ConfusionMeter, DepthMeter, NormalsMeter
from mtcontrast.metrics.normals import angular_error_deg, histogram_median

# 2×3 label map with one ignored pixel; confusion (rows GT): g0→{p0, p1}, g1→{p1, p1}, g2→{p0}
SEG_GT = np.array([[0, 0, 1], [1, 255, 2]], dtype=np.uint8)
SEG_PRED = np.array([[0, 1, 1], [1, 0, 0]], dtype=np.int64)


def test_miou_by_hand_with_ignore() -> None:
    meter = ConfusionMeter(3)
    meter.update(SEG_PRED, SEG_GT)
    # IoU0 = 1/(1+1+1), IoU1 = 2/(2+1+0), IoU2 = 0/(0+0+1)
    np.testing.assert_allclose(meter.per_class_iou(), [1 / 3, 2 / 3, 0.0])
    out = meter.compute()
    assert out["miou"] == pytest.approx(100 / 3)
    assert out["pixel_acc"] == pytest.approx(60.0)  # 3 of 5 valid pixels
    # the prediction under the ignored pixel does not count
    other = SEG_PRED.copy()
    other[1, 1] = 2
    again = ConfusionMeter(3)
    again.update(other, SEG_GT)
    assert again.compute()["miou"] == pytest.approx(100 / 3)


def test_miou_absent_class_scores_zero_and_counts() -> None:
    meter = ConfusionMeter(4)  # class 3 appears in neither map
    meter.update(SEG_PRED, SEG_GT, id="a")
    assert meter.compute()["miou"] == pytest.approx(25.0)  # (1/3 + 2/3 + 0 + 0) / 4
    (record,) = meter.records()
    assert record["id"] == "a" and record["n_valid"] == 5
    assert record["miou"] == pytest.approx(100 / 3)  # per-image: classes seen in that image only


def test_miou_rejects_out_of_range_prediction() -> None:
    meter = ConfusionMeter(3)
    with pytest.raises(ValueError, match=r"image 'x': prediction holds class indices outside 0\.\.2"):
        meter.update(np.full((2, 3), 3), SEG_GT, id="x")
    with pytest.raises(ValueError, match="shape"):
        meter.update(np.zeros((3, 2), np.int64), SEG_GT)


DEPTH_GT_A = np.array([[1.0, 2.0], [0.0, 4.0]], dtype=np.float32)
DEPTH_PRED_A = np.array([[1.5, 2.0], [3.0, -1.0]], dtype=np.float32)  # GT 0 invalid; −1 clamps to 0


def test_depth_by_hand() -> None:
    meter = DepthMeter()
    meter.update(DEPTH_PRED_A, DEPTH_GT_A)
    out = meter.compute()
    # valid pairs (1, 1.5), (2, 2), (4, 0): squared errors 0.25, 0, 16
    assert out["rmse"] == pytest.approx(math.sqrt(16.25 / 3))
    # log: prediction 0 → 1e-9
    log_sq = math.log(1.5) ** 2 + (math.log(4.0) - math.log(1e-9)) ** 2
    assert out["log_rmse"] == pytest.approx(math.sqrt(log_sq / 3))
    assert out["abs_rel"] == pytest.approx((0.5 + 0 + 1.0) / 3)
    assert out["sq_rel"] == pytest.approx((0.25 + 0 + 4.0) / 3)
    assert out["delta1"] == pytest.approx(100 / 3)  # only (2, 2) has ratio < 1.25


def test_depth_pooled_rmse_differs_from_mean_of_image_rmses() -> None:
    meter = DepthMeter()
    meter.update(DEPTH_PRED_A, DEPTH_GT_A, id="a")
    meter.update(np.ones((1, 2), np.float32), np.ones((1, 2), np.float32), id="b")
    pooled = meter.compute()["rmse"]
    assert pooled == pytest.approx(math.sqrt(16.25 / 5))  # 1.8028
    per_image = [r["rmse"] for r in meter.records()]
    assert per_image == pytest.approx([math.sqrt(16.25 / 3), 0.0])
    assert np.mean(per_image) == pytest.approx(1.16369, abs=1e-5)  # ASTMT's number, not ours


def _unit(deg: float) -> list[float]:
    return [math.sin(math.radians(deg)), 0.0, math.cos(math.radians(deg))]


def test_normals_by_hand() -> None:
    gt = np.array(
        [[[0, 0, 1], [1, 0, 0], [0, 1, 0]], [[0, 0, 1], [0, 0, 1], [0, 0, 0]]], dtype=np.float32
    )  # last pixel invalid
    pred = np.array(
        [[[0, 1, 1], [2, 0, 0], [0, -1, 0]], [[1, 0, 0], _unit(20.0), [5, 5, 5]]], dtype=np.float32
    )  # angles 45, 0, 180, 90, 20
    meter = NormalsMeter()
    meter.update(pred, gt)
    out = meter.compute()
    assert out["mean"] == pytest.approx(67.0, abs=1e-4)  # (45 + 0 + 180 + 90 + 20) / 5
    assert out["median"] == pytest.approx(45.0, abs=0.0051)  # histogram median: within half a 0.01° bin
    assert out["rmse"] == pytest.approx(math.sqrt(8585.0), abs=1e-3)
    assert out["within_11_25"] == pytest.approx(20.0)
    assert out["within_22_5"] == pytest.approx(40.0)
    assert out["within_30"] == pytest.approx(40.0)


def test_histogram_median_even_count_within_half_bin() -> None:
    hist = np.zeros(18000, np.int64)
    for angle in (0.0, 45.0, 90.0, 180.0):
        hist[min(int(angle / 0.01), 17999)] += 1
    assert histogram_median(hist) == pytest.approx(67.5, abs=0.0051)  # mean of the two middle values


def test_atan2_form_equals_acos_and_is_stable_near_zero() -> None:
    rng = np.random.default_rng(0)
    p, g = rng.normal(size=(1000, 3)), rng.normal(size=(1000, 3))
    pn = p / np.linalg.norm(p, axis=1, keepdims=True)
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    acos = np.degrees(np.arccos(np.clip((pn * gn).sum(1), -1, 1)))
    np.testing.assert_allclose(angular_error_deg(p, g), acos, atol=1e-6)
    tiny = 1e-8  # radians: acos(cos(1e-8)) loses it entirely, atan2 keeps it
    theta = angular_error_deg(np.array([[math.sin(tiny), 0.0, math.cos(tiny)]]), np.array([[0.0, 0.0, 1.0]]))
    assert theta[0] == pytest.approx(math.degrees(tiny), rel=1e-6)
    assert np.degrees(np.arccos(math.cos(tiny))) == 0.0


def test_normals_rejects_wrong_layout() -> None:
    with pytest.raises(ValueError, match="H×W×3"):
        NormalsMeter().update(np.zeros((3, 4, 4)), np.zeros((3, 4, 4)))
