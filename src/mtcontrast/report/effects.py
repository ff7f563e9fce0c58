"""Paired effects over seeds: per-seed differences, their mean, a 95 % t interval, a bootstrap interval over val
images within seeds, and a one-line verdict in plain words.

Why paired: the runs with and without a change share each seed's initial weights and data order, so the per-seed
difference removes most of the seed-to-seed variation, and the question "does the change help?" becomes "is the
mean of these differences away from zero?". With n seeds, the t interval is mean ± t_{0.975, n−1} · sd / √n; with
one seed there is no interval and the verdict says so. The bootstrap resamples val images (the same resample for
both runs of a seed), which shows how much of the uncertainty the val set alone carries; it does not replace the
seed interval, because it cannot see training noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PairedEffect:
    """``with − without`` per seed and their summary; ``low`` / ``high``: the 95 % t interval (NaN for n < 2)."""

    diffs: tuple[float, ...]
    mean: float
    sd: float
    low: float
    high: float

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def includes_zero(self) -> bool:
        """True when the interval holds 0, or when there is no interval (one seed cannot exclude 0)."""
        return not (self.low > 0 or self.high < 0)


def paired_effect(with_: Sequence[float], without: Sequence[float], level: float = 0.95) -> PairedEffect:
    """The paired difference ``with_[i] − without[i]`` over seeds i, with a Student-t interval at ``level``."""
    a, b = np.asarray(with_, dtype=np.float64), np.asarray(without, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired values need two equal-length, non-empty 1-D lists; got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired values must be finite")
    d = a - b
    mean = float(d.mean())
    if d.size < 2:
        return PairedEffect(tuple(d.tolist()), mean, math.nan, math.nan, math.nan)
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, d.size - 1)) * sd / math.sqrt(d.size)
    return PairedEffect(tuple(d.tolist()), mean, sd, mean - half, mean + half)


def bootstrap_interval(
    per_seed: Sequence[tuple[np.ndarray, np.ndarray]],
    statistic: Callable[[np.ndarray], float],
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of the mean over seeds of ``statistic(with_rows) − statistic(without_rows)``, where each
    seed's val images are resampled with replacement, the same draw for both runs of that seed.

    ``per_seed``: (with, without) arrays whose first axis is the val image, in the same image order; ``statistic``
    turns a (resampled) array into the metric, e.g. pooled mIoU from per-image confusion matrices.
    """
    if not per_seed:
        raise ValueError("bootstrap_interval needs at least one seed")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for r in range(resamples):
        total = 0.0
        for with_rows, without_rows in per_seed:
            if len(with_rows) != len(without_rows):
                raise ValueError("both runs of a seed must hold the same val images")
            pick = rng.integers(0, len(with_rows), len(with_rows))
            total += statistic(with_rows[pick]) - statistic(without_rows[pick])
        means[r] = total / len(per_seed)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def _signed(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}".replace("-", "−")


def verdict(what: str, effect: PairedEffect, *, higher_is_better: bool = True, digits: int = 2) -> str:
    """One line in plain words, e.g. ``"no detectable effect at this budget: Δm +0.30 [−0.80, +1.40] (3 seeds)"``."""
    seeds = f"{effect.n} seed" + ("s" if effect.n != 1 else "")
    if effect.n < 2:
        return f"one seed only, no interval: {what} {_signed(effect.mean, digits)} ({seeds}); no claim"
    interval = f"[{_signed(effect.low, digits)}, {_signed(effect.high, digits)}]"
    numbers = f"{what} {_signed(effect.mean, digits)} {interval} ({seeds})"
    if effect.includes_zero:
        return f"no detectable effect at this budget: {numbers}"
    better = (effect.mean > 0) == higher_is_better
    return f"{'better' if better else 'worse'}, the 95 % interval excludes 0: {numbers}"
