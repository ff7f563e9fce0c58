"""Angular error of surface normals, pooled over the valid pixels of the split (docs/benchmark-protocol.md §2.3).

Both vectors are L2-normalised; θ = 2·atan2(‖p − g‖, ‖p + g‖) in degrees (ATRC / InvPT), which equals
acos(clip(p·g, −1, 1)) but stays accurate near 0° and 180°. Valid pixels: non-zero GT vector.

The median must stay sum-reducible, so the meter keeps a histogram of θ with bins of ``MEDIAN_BIN_DEG`` = 0.01°
over [0°, 180°] (18,000 int64 counts); the median is read from the bins of the middle order statistics (bin
centres), so the pooled median is exact to within half a bin, 0.005°. Mean, RMSE and the % under 11.25° / 22.5° /
30° use exact sums.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtcontrast.metrics.base import ImageFields, Meter, check_finite, check_same_shape

MEDIAN_BIN_DEG = 0.01
_NUM_BINS = int(round(180.0 / MEDIAN_BIN_DEG))
WITHIN_DEG: dict[str, float] = {"within_11_25": 11.25, "within_22_5": 22.5, "within_30": 30.0}


def angular_error_deg(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """θ in degrees between rows of ``pred`` and ``gt`` (N×3), both normalised here (zero pred → 90°)."""
    p = pred / np.maximum(np.linalg.norm(pred, axis=-1, keepdims=True), 1e-12)
    g = gt / np.maximum(np.linalg.norm(gt, axis=-1, keepdims=True), 1e-12)
    return np.degrees(2.0 * np.arctan2(np.linalg.norm(p - g, axis=-1), np.linalg.norm(p + g, axis=-1)))


def histogram_median(hist: np.ndarray, bin_width: float = MEDIAN_BIN_DEG) -> float:
    """Median of the values binned in ``hist`` (uniform bins from 0): the mean of the centres of the bins holding
    the two middle order statistics (the same one for odd counts), so the error is at most half a bin."""
    n = int(hist.sum())
    if n == 0:
        return float("nan")
    cum = np.cumsum(hist)
    lower, upper = np.searchsorted(cum, [(n + 1) // 2, n // 2 + 1], side="left")
    return float((lower + upper + 1) / 2.0 * bin_width)


class NormalsMeter(Meter):
    """``pred`` H×W×3 raw (normalised here), ``gt`` H×W×3 unit vectors with the zero vector = invalid."""

    def _empty_sums(self) -> dict[str, np.ndarray]:
        return {
            "sum_deg": np.zeros((), np.float64),
            "sum_sq_deg": np.zeros((), np.float64),
            "n_valid": np.zeros((), np.int64),
            **{key: np.zeros((), np.int64) for key in WITHIN_DEG},
            "hist": np.zeros(_NUM_BINS, np.int64),
        }

    def _image_fields(self) -> ImageFields:
        return {key: ((), np.float64) for key in ("mean", "median", *WITHIN_DEG)} | {"n_valid": ((), np.int64)}

    def _measure(self, pred: np.ndarray, gt: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if gt.ndim != 3 or gt.shape[-1] != 3:
            raise ValueError(f"normals ground truth must be H×W×3; got shape {gt.shape}")
        check_same_shape(pred, gt, "normals (H×W×3)")
        check_finite(pred, "normals prediction")
        g = gt.reshape(-1, 3).astype(np.float64)
        valid = np.linalg.norm(g, axis=1) > 0
        theta = angular_error_deg(pred.reshape(-1, 3).astype(np.float64)[valid], g[valid])
        bins = np.minimum((theta / MEDIAN_BIN_DEG).astype(np.int64), _NUM_BINS - 1)
        sums = {
            "sum_deg": theta.sum(),
            "sum_sq_deg": np.sum(theta**2),
            "n_valid": theta.size,
            **{key: np.count_nonzero(theta < limit) for key, limit in WITHIN_DEG.items()},
            "hist": np.bincount(bins, minlength=_NUM_BINS),
        }
        n = theta.size
        row: dict[str, Any] = {"n_valid": n}
        row["mean"] = float(theta.mean()) if n else np.nan
        row["median"] = float(np.median(theta)) if n else np.nan
        for key, limit in WITHIN_DEG.items():
            row[key] = 100.0 * np.count_nonzero(theta < limit) / n if n else np.nan
        return sums, row

    def compute(self) -> dict[str, float]:
        s = self._sums
        n = int(s["n_valid"])
        if n == 0:
            return dict.fromkeys(("mean", "median", "rmse", *WITHIN_DEG), float("nan"))
        return {
            "mean": float(s["sum_deg"] / n),
            "median": histogram_median(s["hist"]),
            "rmse": float(np.sqrt(s["sum_sq_deg"] / n)),
            **{key: 100.0 * float(s[key]) / n for key in WITHIN_DEG},
        }
