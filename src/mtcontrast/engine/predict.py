"""Run a trained host over a prepared split at native resolution: the one pass shared by the evaluator (metrics,
panels, confusion matrices) and the Fig. 1 separation analysis (decoder features).

Each image is normalised and centre-padded (``eval.pad_to`` or the encoder stride; never resized), predicted, and
the prediction cropped back to the image's native size in the protocol conventions of :func:`postprocess`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mtcontrast.config import Params


@dataclass
class Prediction:
    """One image: the model input (padded tensors), the native ground truth, native predictions, and (on request)
    the decoder features of the padded input (1×C×h×w per task)."""

    index: int
    id: str
    item: dict[str, Any]
    gt: dict[str, Any]
    pred: dict[str, np.ndarray]
    feat: dict[str, torch.Tensor] | None = None


def postprocess(task: str, pred: torch.Tensor) -> torch.Tensor:
    """Network output (B×C×H×W) → the score()-convention prediction (B×H×W or B×H×W×3)."""
    pred = pred.float()
    if task in ("semseg", "human_parts"):
        return pred.argmax(1).to(torch.uint8)
    if task == "depth":
        return pred[:, 0].clamp_min(0.0)
    if task == "normals":
        return torch.nn.functional.normalize(pred, dim=1).permute(0, 2, 3, 1)
    if task == "edge":
        return torch.sigmoid(pred[:, 0])
    if task == "sal":
        return torch.softmax(pred, 1)[:, 1]
    raise KeyError(task)


def crop_native(pred: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """Remove the eval padding of an H×W or H×W×3 prediction."""
    from mtcontrast.data.transforms import crop_to_native

    if pred.ndim == 3:
        return np.moveaxis(crop_to_native(np.moveaxis(pred, -1, 0), meta), 0, -1)
    return crop_to_native(pred, meta)


def _same_shape_batches(dataset: Any, indices: Sequence[int], batch_size: int) -> Iterator[list[dict[str, Any]]]:
    """Consecutive items grouped while their padded shape agrees (PASCAL sizes vary unless ``eval.pad_to`` is set)."""
    pending: list[dict[str, Any]] = []
    for i in indices:
        item = dataset[i]
        if pending and (len(pending) == batch_size or item["image"].shape != pending[0]["image"].shape):
            yield pending
            pending = []
        pending.append(item)
    if pending:
        yield pending


@torch.no_grad()
def predict(
    host: torch.nn.Module,
    params: Params,
    *,
    split: str = "val",
    indices: Sequence[int] | None = None,
    batch_size: int | None = None,
    features: bool = False,
) -> Iterator[Prediction]:
    """Predictions of ``host`` (eval mode, on its device) for ``indices`` of the split (default: the first
    ``eval.limit`` images, or all), batched by ``eval.batch_size``; ``params`` give the data path and ``eval``."""
    from torch.utils.data import default_collate

    from mtcontrast.data.dataset import build_dataset
    from mtcontrast.data.prepared import PreparedSplit

    device = next(host.parameters()).device
    tasks = tuple(host.tasks)
    dataset = build_dataset(params, split, tasks=tasks, pad_multiple=host.pad_multiple)
    if indices is None:
        n = len(dataset) if params.eval.limit is None else min(len(dataset), params.eval.limit)
        indices = range(n)
    try:
        with PreparedSplit(dataset.path, tasks=tasks) as gt_split:
            for items in _same_shape_batches(dataset, indices, batch_size or params.eval.batch_size):
                out = host(default_collate([it["image"] for it in items]).to(device))
                preds = {t: postprocess(t, out["final"][t]).cpu().numpy() for t in tasks}
                for j, item in enumerate(items):
                    gt = gt_split[int(item["meta"]["index"])]
                    yield Prediction(
                        int(item["meta"]["index"]),
                        str(gt["meta"]["id"]),
                        item,
                        gt,
                        {t: np.ascontiguousarray(crop_native(preds[t][j], item["meta"])) for t in tasks},
                        {t: out["feat"][t][j : j + 1] for t in tasks} if features else None,
                    )
    finally:
        dataset.close()
