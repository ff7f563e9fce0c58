"""mIoU from a pooled confusion matrix (semseg, human parts; docs/benchmark-protocol.md §2.1).

IoU_c = TP_c / max(TP_c + FP_c + FN_c, 1e-8) over **all** K classes: a class absent from both GT and prediction
scores 0 and still counts in the mean (ATRC / InvPT), pixels with GT 255 are ignored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtcontrast.metrics.base import ImageFields, Meter, check_same_shape, squeeze_map
from mtcontrast.tasks import IGNORE_INDEX


class ConfusionMeter(Meter):
    """K×K confusion (rows GT, columns prediction) summed over the split. ``pred`` is a class-index map.

    Per-image records: ``miou`` over the classes present in that image's GT or prediction, ``pixel_acc``.
    """

    def __init__(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be ≥ 1, got {num_classes}")
        self.num_classes = int(num_classes)
        super().__init__()

    def config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes}

    def _empty_sums(self) -> dict[str, np.ndarray]:
        return {"confusion": np.zeros((self.num_classes, self.num_classes), dtype=np.int64)}

    def _image_fields(self) -> ImageFields:
        return {"miou": ((), np.float64), "pixel_acc": ((), np.float64), "n_valid": ((), np.int64)}

    def _measure(self, pred: np.ndarray, gt: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        k = self.num_classes
        pred, gt = squeeze_map(pred, "class-index prediction"), squeeze_map(gt, "label map")
        check_same_shape(pred, gt, "class-index")
        if not (np.issubdtype(pred.dtype, np.integer) or np.issubdtype(pred.dtype, np.bool_)):
            raise ValueError(f"prediction must be an integer class-index map (argmax); got dtype {pred.dtype}")
        valid = gt != IGNORE_INDEX
        g = gt[valid].astype(np.int64)
        p = pred[valid].astype(np.int64)
        if g.size and (g.min() < 0 or g.max() >= k):
            raise ValueError(f"ground truth holds labels outside 0..{k - 1} (and 255 = ignore)")
        if p.size and (p.min() < 0 or p.max() >= k):
            raise ValueError(f"prediction holds class indices outside 0..{k - 1} (got {p.min()}..{p.max()})")
        conf = np.bincount(g * k + p, minlength=k * k).reshape(k, k)
        iou, seen = _iou(conf)
        row = {
            "miou": 100.0 * float(iou[seen].mean()) if seen.any() else np.nan,
            "pixel_acc": 100.0 * float(np.trace(conf)) / g.size if g.size else np.nan,
            "n_valid": g.size,
        }
        return {"confusion": conf}, row

    def per_class_iou(self) -> np.ndarray:
        """IoU of each class (fraction), absent classes 0."""
        return _iou(self._sums["confusion"])[0]

    def compute(self) -> dict[str, float]:
        conf = self._sums["confusion"]
        total = conf.sum()
        return {
            "miou": 100.0 * float(self.per_class_iou().mean()),
            "pixel_acc": 100.0 * float(np.trace(conf)) / total if total else 0.0,
        }


def _iou(conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class IoU and the mask of classes present in GT or prediction."""
    tp = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - tp
    return tp / np.maximum(union, 1e-8), union > 0
