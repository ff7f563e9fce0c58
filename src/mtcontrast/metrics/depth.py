"""Depth errors pooled over the valid pixels of the whole split (docs/benchmark-protocol.md §2.2).

RMSE = sqrt(Σ_{i∈V} (d_i − d̂_i)² / |V|) with V = all pixels of the split whose GT depth is > 0. It is *not* the
mean of per-image RMSEs (ASTMT's mistake); per-image RMSEs are kept only as records. Predictions are clamped to
≥ 0, and values ≤ 0 become 1e-9 before logs and ratios (InvPT). Extras, pooled alike: ``log_rmse`` (natural log),
``abs_rel`` = mean |d − d̂|/d, ``sq_rel`` = mean (d − d̂)²/d, ``delta1`` = % of pixels with max(d/d̂, d̂/d) < 1.25.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtcontrast.metrics.base import ImageFields, Meter, check_finite, check_same_shape, squeeze_map

_SUMS = ("sq_err", "sq_log_err", "abs_rel", "sq_rel", "delta1", "n_valid")


class DepthMeter(Meter):
    """``pred`` and ``gt`` are H×W depth in metres; GT 0 (or any value ≤ 0) is invalid."""

    def _empty_sums(self) -> dict[str, np.ndarray]:
        return {key: np.zeros((), dtype=np.int64 if key in ("delta1", "n_valid") else np.float64) for key in _SUMS}

    def _image_fields(self) -> ImageFields:
        return {key: ((), np.float64) for key in ("rmse", "log_rmse", "abs_rel", "delta1")} | {
            "n_valid": ((), np.int64)
        }

    def _measure(self, pred: np.ndarray, gt: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        pred, gt = squeeze_map(pred, "depth prediction"), squeeze_map(gt, "depth ground truth")
        check_same_shape(pred, gt, "depth")
        check_finite(pred, "depth prediction")
        valid = np.isfinite(gt) & (gt > 0)
        d = gt[valid].astype(np.float64)
        q = np.maximum(pred[valid].astype(np.float64), 0.0)
        q_pos = np.where(q <= 0, 1e-9, q)
        err = d - q
        sums = {
            "sq_err": np.sum(err**2),
            "sq_log_err": np.sum((np.log(d) - np.log(q_pos)) ** 2),
            "abs_rel": np.sum(np.abs(err) / d),
            "sq_rel": np.sum(err**2 / d),
            "delta1": np.count_nonzero(np.maximum(d / q_pos, q_pos / d) < 1.25),
            "n_valid": d.size,
        }
        return sums, _metrics(sums) | {"n_valid": d.size}

    def compute(self) -> dict[str, float]:
        return _metrics(self._sums, with_sq_rel=True)


def _metrics(sums: dict[str, Any], with_sq_rel: bool = False) -> dict[str, float]:
    n = int(sums["n_valid"])
    if n == 0:
        keys = ("rmse", "log_rmse", "abs_rel", "delta1") + (("sq_rel",) if with_sq_rel else ())
        return dict.fromkeys(keys, float("nan"))
    out = {
        "rmse": float(np.sqrt(sums["sq_err"] / n)),
        "log_rmse": float(np.sqrt(sums["sq_log_err"] / n)),
        "abs_rel": float(sums["abs_rel"] / n),
        "delta1": 100.0 * float(sums["delta1"]) / n,
    }
    if with_sq_rel:
        out["sq_rel"] = float(sums["sq_rel"] / n)
    return out
