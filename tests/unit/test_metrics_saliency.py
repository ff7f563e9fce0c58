"""Saliency maxF under the atrc / invpt / mtinet protocols (docs/benchmark-protocol.md §2.4), by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtcontrast.metrics import SaliencyMeter
from mtcontrast.metrics.saliency import MTINET_THRESHOLDS, POOLED_THRESHOLDS

# Two images. Salient pixels: 0.92, 0.18 (A) and 0.47 (B); background: 0.14, 0.12 (A) and 0.07 (B).
IMAGES = [
    (np.array([[0.92, 0.18, 0.14, 0.12]]), np.array([[1, 1, 0, 0]], np.uint8)),
    (np.array([[0.47, 0.07]]), np.array([[1, 0]], np.uint8)),
]


def _run(protocol: str) -> dict[str, float]:
    meter = SaliencyMeter(protocol)  # type: ignore[arg-type]
    for pred, gt in IMAGES:
        meter.update(pred, gt)
    return meter.compute()


def test_three_protocols_give_three_hand_computed_numbers() -> None:
    # atrc: p ≥ 0.15 selects exactly the 3 salient pixels → P = R = 1
    assert _run("atrc")["maxf"] == pytest.approx(100.0)
    # invpt: sigmoid(p) ≥ 0.6 ⇔ p ≥ 0.4055 selects {0.92, 0.47}: P = 1, R = 2/3, β² = 0.3 → 1.3·(2/3)/(0.3 + 2/3)
    assert _run("invpt")["maxf"] == pytest.approx(100 * 26 / 29)
    # mtinet: p > t for t ≥ 0.2 never selects 0.18; per image (P, R) = (1, 1/2) and (1, 1) up to t = 0.45,
    # mean P = 1, mean R = 3/4 → F = 2·0.75/1.75
    mtinet = _run("mtinet")
    assert mtinet["maxf"] == pytest.approx(100 * 6 / 7)
    assert mtinet["miou"] == pytest.approx(75.0)  # mean per-image Jaccard (1/2 + 1) / 2


def test_pooled_f_curve_by_hand() -> None:
    meter = SaliencyMeter("atrc")
    for pred, gt in IMAGES:
        meter.update(pred, gt)
    f = meter.f_curve()
    assert f[0] == pytest.approx(1.3 * 0.5 / (0.15 + 1))  # t = 0.05: all 6 positive, P = 1/2
    assert f[1] == pytest.approx(1.3 * 0.6 / (0.18 + 1))  # t = 0.10: 0.07 drops out, P = 3/5
    assert f[-1] == 0.0  # t = 0.95: nothing predicted, 0/0 → 0


def test_pooled_thresholds_are_torch_arange_float32() -> None:
    np.testing.assert_array_equal(POOLED_THRESHOLDS, torch.arange(0.05, 1, 0.05).numpy())
    assert len(MTINET_THRESHOLDS) == 15 and MTINET_THRESHOLDS[0] == 0.2 and MTINET_THRESHOLDS[-1] == 0.9


def test_invpt_second_sigmoid_leaves_five_effective_thresholds() -> None:
    p = np.linspace(0.0, 1.0, 20001).reshape(1, -1)
    meter = SaliencyMeter("invpt")
    meter.update(p, np.ones_like(p, dtype=np.uint8))
    selected = meter.state()["pred_pos"]  # pixels with sigmoid(p) ≥ t, for each of the 19 t
    lowest = 1.0 - (selected - 1) / 20000.0  # smallest selected p on the grid
    assert (selected[:10] == p.size).all()  # t ≤ 0.5: every pixel
    np.testing.assert_allclose(lowest[10:14], [0.2007, 0.4055, 0.6190, 0.8473], atol=1e-4)
    assert (selected[14:] == 0).all()  # t ≥ 0.75: none


def test_ignore_pixels_count_nowhere() -> None:
    meter = SaliencyMeter("atrc")
    meter.update(np.array([[0.9, 0.9, 0.1]]), np.array([[1, 255, 0]], np.uint8))
    assert meter.compute()["maxf"] == pytest.approx(100.0)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="probability of salient"):
        SaliencyMeter().update(np.array([[1.5]]), np.array([[1]], np.uint8))
    with pytest.raises(ValueError, match="unknown"):
        SaliencyMeter("foo")  # type: ignore[arg-type]
