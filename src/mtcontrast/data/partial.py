"""Partially labelled training data: which task labels each training image keeps (docs/partial-labels.md).

The mask is a pure function of (``data.partial``, image id, task): a SHA-256 of ``"<seed>/<id>"`` (one task per
image) or ``"<seed>/<id>/<task>"`` (fractions) read as a uniform number. So two runs with different training seeds,
or a split whose files are listed in another order, see the same annotation, and the mask never needs storing to be
reproduced; training still writes it to the run folder (``RunPaths.label_mask``) for MLflow and for the reader.

A dropped label becomes the task's "no label" map (255 for discrete labels, depth 0, the zero normal: the pad
values of :mod:`mtcontrast.data.transforms`), *after* the augmentation, so an image's crop and flips do not depend
on which of its labels are kept. Every loss averages over valid pixels only (``mtcontrast.losses``), so such a map
costs nothing and gets no gradient.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtcontrast.config.data import PartialLabelsParams
from mtcontrast.data.errors import DataError
from mtcontrast.data.transforms import PAD_VALUES


def _uniform(key: str) -> float:
    """A number in [0, 1) from the first 8 bytes of SHA-256(key): the same on every machine and Python."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2.0**64


def kept_images(ids: Sequence[str], cfg: PartialLabelsParams) -> np.ndarray:
    """N bool: is training image ``ids[i]`` used at all (``cfg.images``, drawn from SHA-256 of
    ``"<seed>/images/<id>"``, so independent of the label draws above and of the file order)."""
    if cfg.images >= 1.0:
        return np.ones(len(ids), dtype=bool)
    return np.array([_uniform(f"{cfg.seed}/images/{i}") < cfg.images for i in ids], dtype=bool)


def label_mask(ids: Sequence[str], tasks: Sequence[str], cfg: PartialLabelsParams) -> np.ndarray:
    """N × T bool: does image ``ids[i]`` keep task ``tasks[j]``'s label. All True when ``cfg.mode`` is none.

    ``tasks`` in the dataset's own order (``DatasetSpec.tasks`` filtered), which fixes the one-per-image draw.
    """
    n, t = len(ids), len(tasks)
    if cfg.mode == "none":
        return np.ones((n, t), dtype=bool)
    if cfg.mode == "one_per_image":
        keep = np.zeros((n, t), dtype=bool)
        pick = [min(int(_uniform(f"{cfg.seed}/{i}") * t), t - 1) for i in ids]
        keep[np.arange(n), pick] = True
        return keep
    share = np.array([cfg.fractions.get(task, 1.0) for task in tasks])
    draws = np.array([[_uniform(f"{cfg.seed}/{i}/{task}") for task in tasks] for i in ids]).reshape(n, t)
    return draws < share


def check_every_task_labelled(mask: np.ndarray, tasks: Sequence[str], source: Path) -> None:
    """Refuse a mask that leaves a task without a single labelled training image (its loss would never train)."""
    empty = [task for task, column in zip(tasks, mask.T) if not column.any()]
    if empty:
        raise DataError(
            source,
            f"data.partial leaves task(s) {empty} with no labelled training image among {mask.shape[0]}; "
            "raise their fraction or use more images",
        )


def drop_labels(item: dict[str, Any], tasks: Sequence[str], keep: np.ndarray) -> dict[str, Any]:
    """Replace, in one Batch-contract item, the maps of the tasks whose ``keep`` flag is False by "no label"."""
    for task, kept in zip(tasks, keep):
        if not kept:
            item[task] = torch.full_like(item[task], PAD_VALUES[task])
    return item


def mask_record(ids: Sequence[str], tasks: Sequence[str], mask: np.ndarray, cfg: PartialLabelsParams) -> dict[str, Any]:
    """The JSON record of a mask: the settings, per-task counts, the labelled tasks of every image and a digest."""
    labelled = {str(i): [task for task, kept in zip(tasks, row) if kept] for i, row in zip(ids, mask)}
    body = {"mode": cfg.mode, "seed": cfg.seed, "fractions": dict(cfg.fractions), "tasks": list(tasks)}
    if cfg.images < 1.0:  # only then, so that the digests of full-image annotations stay what they were
        body["images_share"] = cfg.images
    digest = hashlib.sha256(json.dumps([body, labelled], sort_keys=True).encode()).hexdigest()[:16]
    counts = {task: int(mask[:, j].sum()) for j, task in enumerate(tasks)}
    return {**body, "digest": digest, "images": len(ids), "labelled_images": counts, "labelled": labelled}


def write_mask_record(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` as JSON to ``path`` through a temporary name, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)
