"""Saliency maxF under the three protocols of docs/benchmark-protocol.md §2.4; ``pred`` = probability of salient.

F_β(t) = (1 + β²)·P·R / (β²·P + R); maxF = 100·max_t F_β(t).

* ``atrc`` (brdav/atrc ``MaxF``): p ≥ t for t = 0.05, 0.10, …, 0.95 (float32, as ``torch.arange``); TP,
  predicted-positive and GT-positive counts pooled over the split; β² = 0.3; NaN → 0.
* ``invpt`` (InvPT / TaskPrompter / MLoRE ``SaliencyMeter``): as ``atrc`` but the meter applies a *second*
  sigmoid to the probability before thresholding. sigmoid(p) ∈ [0.5, 0.731], so t ≤ 0.5 marks every pixel and
  t ≥ 0.75 none; the effective thresholds are p ≥ {0, 0.2007, 0.4055, 0.6190, 0.8473} (p ≥ logit t).
  The sigmoid is applied literally (float32), so that equivalence is a consequence, checked by a test.
* ``mtinet`` (MTL-PyTorch / ASTMT ``eval_sal``): p > t for t = linspace(0.2, 0.9, 15); precision and recall per
  image (tp / (tp + fp + 1e-12), tp / (tp + fn + 1e-12)), averaged over images, then F with β² = 1
  (2·P·R / (P + R + 1e-12)). Also gives MTL-PyTorch's saliency ``miou``: the max over t of the mean per-image
  Jaccard, where an image with empty GT and empty prediction scores 1.

GT is {0, 1} with 255 = ignore (padding only); ignored pixels count nowhere.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from mtcontrast.metrics.base import ImageFields, Meter, check_finite, check_same_shape, squeeze_map
from mtcontrast.tasks import IGNORE_INDEX

SalProtocol = Literal["atrc", "invpt", "mtinet"]
SAL_PROTOCOLS: tuple[str, ...] = ("atrc", "invpt", "mtinet")

# float32 values of torch.arange(0.05, 1, 0.05) as the reference meters use them (bit-exact; the 12th is just
# below 0.6, which no plain numpy expression reproduces). A test compares them with torch.
POOLED_THRESHOLDS = np.array(
    [
        0.05,
        0.1,
        0.15,
        0.2,
        0.25,
        0.3,
        0.35,
        0.4,
        0.45,
        0.5,
        0.55,
        0.5999999642372131,
        0.65,
        0.7,
        0.75,
        0.8,
        0.85,
        0.9,
        0.95,
    ],
    dtype=np.float32,
)
MTINET_THRESHOLDS = np.linspace(0.2, 0.9, 15)
BETA_SQUARED: dict[str, float] = {"atrc": 0.3, "invpt": 0.3, "mtinet": 1.0}


def _count_at_least(sorted_values: np.ndarray, thresholds: np.ndarray, strict: bool) -> np.ndarray:
    """How many values are ≥ t (or > t when ``strict``) for each t, from one sort instead of T passes."""
    side = "right" if strict else "left"
    return sorted_values.size - np.searchsorted(sorted_values, thresholds, side=side)


def _f_beta(precision: np.ndarray, recall: np.ndarray, beta2: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (1 + beta2) * precision * recall / (beta2 * precision + recall)
    return np.nan_to_num(f, nan=0.0)


class SaliencyMeter(Meter):
    """maxF under ``protocol`` (``atrc`` | ``invpt`` | ``mtinet``); see the module docstring."""

    def __init__(self, protocol: SalProtocol = "invpt") -> None:
        if protocol not in SAL_PROTOCOLS:
            raise ValueError(f"saliency protocol {protocol!r} unknown; expected one of {', '.join(SAL_PROTOCOLS)}")
        self.protocol: SalProtocol = protocol
        self.thresholds = MTINET_THRESHOLDS if protocol == "mtinet" else POOLED_THRESHOLDS
        self.beta2 = BETA_SQUARED[protocol]
        super().__init__()

    def config(self) -> dict[str, Any]:
        return {"protocol": self.protocol}

    def _empty_sums(self) -> dict[str, np.ndarray]:
        t = len(self.thresholds)
        if self.protocol == "mtinet":
            return {
                "sum_precision": np.zeros(t),
                "sum_recall": np.zeros(t),
                "sum_jaccard": np.zeros(t),
                "n_images": np.zeros((), np.int64),
            }
        return {key: np.zeros(t, np.int64) for key in ("true_pos", "pred_pos", "gt_pos")}

    def _image_fields(self) -> ImageFields:
        return {"maxf": ((), np.float64)}

    def _measure(self, pred: np.ndarray, gt: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        pred, gt = squeeze_map(pred, "saliency prediction"), squeeze_map(gt, "saliency ground truth")
        check_same_shape(pred, gt, "saliency")
        check_finite(pred, "saliency prediction")
        if pred.size and (pred.min() < 0 or pred.max() > 1):
            raise ValueError("saliency prediction must be the probability of salient, in [0, 1]")
        valid = gt != IGNORE_INDEX
        g = gt[valid]
        if g.size and not np.isin(g, (0, 1)).all():
            raise ValueError("saliency ground truth must be {0, 1} with 255 = ignore")
        g = g.astype(bool)
        p = pred[valid].astype(np.float32)
        strict = self.protocol == "mtinet"
        if self.protocol == "invpt":
            p = (1.0 / (1.0 + np.exp(-p))).astype(np.float32)  # the meter's second sigmoid
        pred_pos = _count_at_least(np.sort(p), self.thresholds, strict)
        true_pos = _count_at_least(np.sort(p[g]), self.thresholds, strict)
        gt_pos = np.full(len(self.thresholds), np.count_nonzero(g), dtype=np.int64)
        if self.protocol == "mtinet":
            fp, fn = pred_pos - true_pos, gt_pos - true_pos
            precision = true_pos / (true_pos + fp + 1e-12)
            recall = true_pos / (true_pos + fn + 1e-12)
            union = true_pos + fp + fn
            jaccard = np.where(union == 0, 1.0, true_pos / np.maximum(union, 1))
            f = 2 * precision * recall / (precision + recall + 1e-12)
            sums = {"sum_precision": precision, "sum_recall": recall, "sum_jaccard": jaccard, "n_images": 1}
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                f = _f_beta(true_pos / pred_pos, true_pos / gt_pos, self.beta2)
            sums = {"true_pos": true_pos, "pred_pos": pred_pos, "gt_pos": gt_pos}
        return sums, {"maxf": 100.0 * float(f.max())}

    def f_curve(self) -> np.ndarray:
        """F at each threshold of the protocol (fraction)."""
        s = self._sums
        if self.protocol == "mtinet":
            n = max(int(s["n_images"]), 1)
            p, r = s["sum_precision"] / n, s["sum_recall"] / n
            return 2 * p * r / (p + r + 1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _f_beta(s["true_pos"] / s["pred_pos"], s["true_pos"] / s["gt_pos"], self.beta2)

    def compute(self) -> dict[str, float]:
        f = self.f_curve()
        best = int(np.argmax(f))
        out = {"maxf": 100.0 * float(f[best]), "maxf_threshold": float(self.thresholds[best])}
        if self.protocol == "mtinet":
            n = max(int(self._sums["n_images"]), 1)
            out["miou"] = 100.0 * float(np.max(self._sums["sum_jaccard"] / n))
        return out
