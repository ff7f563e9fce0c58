"""The step-time ratio interval of benchmarks/bench_regularizer.py (paired bootstrap over interleaved steps)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_regularizer.py"
_spec = importlib.util.spec_from_file_location("bench_regularizer", _PATH)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_an_exact_ratio_gives_a_point_interval_at_that_ratio() -> None:
    without = list(np.linspace(0.10, 0.20, 21))
    low, high = bench.ratio_interval([1.07 * t for t in without], without)
    assert low == pytest.approx(1.07, abs=1e-9) and high == pytest.approx(1.07, abs=1e-9)


def test_the_interval_holds_the_true_ratio_and_narrows_with_more_pairs() -> None:
    rng = np.random.default_rng(3)

    def interval(n: int) -> tuple[float, float, float]:
        drift = 0.15 * (1 + 0.3 * np.sin(np.arange(n) / 3))  # machine drift hits both runs of a pair alike
        without = drift * np.exp(rng.normal(0, 0.03, n))
        with_ = 1.04 * drift * np.exp(rng.normal(0, 0.03, n))
        low, high = bench.ratio_interval(list(with_), list(without))
        return low, high, high - low

    low, high, small = interval(15)
    assert low < 1.04 < high
    low, high, large = interval(240)
    assert low < 1.04 < high
    assert large < 0.5 * small
