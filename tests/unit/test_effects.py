"""Paired effects over seeds (src/mtcontrast/report/effects.py) on hand-made numbers with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtcontrast.report.effects import bootstrap_interval, paired_effect, verdict


def test_paired_t_interval_by_hand() -> None:
    # diffs 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653, half width 4.302653 / √3 = 2.484138
    effect = paired_effect([11.0, 12.0, 13.0], [10.0, 10.0, 10.0])
    assert effect.diffs == (1.0, 2.0, 3.0) and effect.n == 3
    assert effect.mean == 2.0 and effect.sd == 1.0
    assert effect.low == pytest.approx(2 - 2.484138, abs=1e-6) and effect.high == pytest.approx(2 + 2.484138, abs=1e-6)
    assert effect.includes_zero  # −0.48 < 0 < 4.48


def test_pairing_removes_the_shared_seed_variation() -> None:
    # seeds differ by a lot, the change adds exactly 0.5 ± 0.1: the paired interval is narrow and excludes 0
    base = [40.0, 55.0, 47.0, 61.0, 52.0]
    effect = paired_effect([b + d for b, d in zip(base, (0.4, 0.6, 0.5, 0.5, 0.5))], base)
    assert effect.mean == pytest.approx(0.5) and effect.sd == pytest.approx(math.sqrt(0.005))
    # t(0.975, 4) = 2.776445; half = 2.776445 · 0.070711 / √5 = 0.087798
    assert (effect.low, effect.high) == (pytest.approx(0.412202, abs=1e-6), pytest.approx(0.587798, abs=1e-6))
    assert not effect.includes_zero


def test_one_seed_has_no_interval_and_bad_input_is_refused() -> None:
    one = paired_effect([3.0], [1.0])
    assert one.mean == 2.0 and math.isnan(one.low) and math.isnan(one.high) and one.includes_zero
    with pytest.raises(ValueError, match="equal-length"):
        paired_effect([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        paired_effect([1.0, float("nan")], [1.0, 2.0])


def test_verdict_wording_at_the_boundaries() -> None:
    assert verdict("Δm", paired_effect([0.3, 1.0, -0.4], [0, 0, 0])) == (
        "no detectable effect at this budget: Δm +0.30 [−1.44, +2.04] (3 seeds)"
    )
    better = paired_effect([1.0, 1.2, 0.8], [0, 0, 0])
    assert verdict("Δm", better).startswith("better, the 95 % interval excludes 0: Δm +1.00 [+0.50, +1.50]")
    # a lower-is-better metric (RMSE) that went down is better; one that went up is worse
    assert verdict("RMSE", paired_effect([-1.0, -1.2, -0.8], [0, 0, 0]), higher_is_better=False).startswith("better")
    assert verdict("RMSE", better, higher_is_better=False).startswith("worse")
    # an interval ending exactly at 0 includes 0
    edge = paired_effect([1.0, 1.0, 1.0], [0, 0, 0])
    assert edge.low == edge.high == 1.0 and not edge.includes_zero
    assert verdict("Δm", paired_effect([2.0], [0.0])) == "one seed only, no interval: Δm +2.00 (1 seed); no claim"


def test_bootstrap_over_images_is_paired_and_centred() -> None:
    rng = np.random.default_rng(0)
    per_seed = []
    for _ in range(3):
        without = rng.normal(50, 10, size=200)  # per-image scores that vary a lot between images
        per_seed.append((without + 1.0 + rng.normal(0, 0.1, 200), without))
    low, high = bootstrap_interval(per_seed, np.mean, resamples=500)
    # the same resample for both runs: the image-to-image variation cancels, the interval hugs +1
    assert 0.98 < low < 1.0 < high < 1.02
    unpaired = [(w, rng.permutation(wo)) for w, wo in per_seed]  # break the pairing: a much wider interval
    lo2, hi2 = bootstrap_interval(unpaired, np.mean, resamples=500)
    assert hi2 - lo2 > 20 * (high - low)
    with pytest.raises(ValueError, match="same val images"):
        bootstrap_interval([(np.ones(3), np.ones(4))], np.mean, resamples=2)
