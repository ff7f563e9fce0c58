"""The torch Dataset over a prepared HDF5 split, and a DataLoader builder.

Items follow the Batch contract (see :mod:`mtcontrast.data.transforms`); ``meta`` additionally holds ``index``.
Each item draws its augmentation from a generator seeded by (seed, epoch, index), so a run is reproducible and
independent of the number of workers. The HDF5 file is opened lazily by :class:`PreparedSplit` in the process that
reads it (each worker opens its own handle on first access; h5py handles must not cross a fork).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mtcontrast.config import Params
from mtcontrast.config.data import PartialLabelsParams
from mtcontrast.data.errors import DataError
from mtcontrast.data.partial import check_every_task_labelled, drop_labels, kept_images, label_mask, mask_record
from mtcontrast.data.prepared import PreparedSplit
from mtcontrast.data.transforms import EvalTransform, TrainTransform, sample_seed

SplitKind = Literal["train", "eval"]


class MultiTaskDataset(Dataset):
    """Samples of ``path`` (a prepared ``{train,val}.h5``) through the train or eval transform.

    ``tasks``: the task maps to return (default: all the split holds); ``transform``: a :class:`TrainTransform`
    (train split) or an :class:`EvalTransform` (evaluation). Call :meth:`set_epoch` before each epoch; with
    ``num_workers`` > 0 keep ``persistent_workers=False`` (as :func:`build_loader` does) so workers see the epoch.
    ``partial``: with a TrainTransform, the labels each image keeps (``label_mask``, N × len(tasks)); the mask is
    drawn over all the tasks the split holds, so a single-task dataset sees the same annotation as a multi-task one.
    With ``partial.images`` < 1 the dataset holds only the kept training images (``rows``: their split indices).
    """

    def __init__(
        self,
        path: str | Path,
        transform: TrainTransform | EvalTransform,
        tasks: tuple[str, ...] | list[str] | None = None,
        seed: int = 0,
        num_workers: int = 0,
        partial: PartialLabelsParams | None = None,
    ) -> None:
        self.path = Path(path)
        if not isinstance(transform, TrainTransform | EvalTransform):
            raise TypeError(f"transform = {transform!r}: expected a TrainTransform or an EvalTransform")
        if not self.path.is_file():
            raise DataError(self.path, "prepared split not found; run `mtc prepare` (or `dvc repro prepare`) first")
        self.split_kind: SplitKind = "train" if isinstance(transform, TrainTransform) else "eval"
        self.num_workers = int(num_workers)
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0
        available = PreparedSplit(self.path).tasks  # reads attrs only; no handle stays open
        missing = [t for t in tasks or () if t not in available]
        if missing:
            raise DataError(self.path, f"task(s) {missing} requested but the split holds only {list(available)}")
        # Reads only the requested maps; opens its HDF5 handle on first access in each process.
        self._split = PreparedSplit(self.path, tasks=None if tasks is None else tuple(tasks))
        self.tasks: tuple[str, ...] = self._split.tasks
        if len(self._split) == 0:
            raise DataError(self.path, "prepared split holds no samples; expected at least one")
        self.partial = partial if partial is not None and self.split_kind == "train" else PartialLabelsParams()
        self.rows = np.flatnonzero(kept_images(self._split.ids, self.partial))
        if len(self.rows) == 0:
            raise DataError(
                self.path, f"data.partial.images = {self.partial.images} keeps none of its {len(self._split)} images"
            )
        self._ids = [self._split.ids[r] for r in self.rows]
        self._full_mask, self._all_tasks = label_mask(self._ids, available, self.partial), available
        self.label_mask = self._full_mask[:, [available.index(t) for t in self.tasks]]
        check_every_task_labelled(self.label_mask, self.tasks, self.path)  # the tasks this dataset serves

    @property
    def fingerprint(self) -> str:
        """``source_fingerprint`` of the prepared split (part of a training's recipe digest)."""
        return self._split.info.source_fingerprint

    def mask_record(self) -> dict[str, Any]:
        """The annotation as a JSON record (``data.partial.mask_record``) over all the split's tasks, so every variant
        trained under the same ``data.partial`` records the same digest."""
        return mask_record(self._ids, self._all_tasks, self._full_mask, self.partial)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (the item generators are seeded by (seed, epoch, index))."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {self.path} ({len(self)} samples)")
        sample = self._split[int(self.rows[index])]
        rng = np.random.default_rng(sample_seed(self.seed, self.epoch, index))
        item = drop_labels(self.transform(sample, rng), self.tasks, self.label_mask[index])
        item["meta"]["index"] = int(index)
        if self.partial.mode != "none":  # which labels this image carries, for the regulariser's source choice
            item["meta"]["labelled"] = {t: bool(k) for t, k in zip(self.tasks, self.label_mask[index])}
        return item

    def close(self) -> None:
        """Release this process's HDF5 handle (a later access reopens it)."""
        self._split.close()


def build_dataset(
    params: Params,
    split: str,
    tasks: tuple[str, ...] | list[str] | None = None,
    pad_multiple: int = 32,
    seed: int | None = None,
) -> MultiTaskDataset:
    """The dataset of ``<prepared_dir>/<name>/<split>.h5``: the ``train`` split with the ``train`` transforms
    (crop, augmentation, workers), any other split (``val``) with the ``eval`` transform (centre-pad to
    ``eval.pad_to`` or to ``pad_multiple``, the encoder stride). ``seed`` defaults to the run's seed (the first of ``seeds`` when ``params`` hold several)."""
    path = params.data.prepared_path(split)
    if split == "train":
        transform: TrainTransform | EvalTransform = TrainTransform(tuple(params.train.crop_size), params.train.augment)
        workers = params.train.num_workers
    else:
        transform, workers = EvalTransform(params.eval.pad_to, pad_multiple), 0
    return MultiTaskDataset(
        path, transform, tasks, params.at_seed().seed if seed is None else seed, workers, partial=params.data.partial
    )


def worker_init_fn(worker_id: int) -> None:
    """One thread per worker (workers already run in parallel) and distinct global RNG seeds, for any library
    code that draws from them; our own augmentation uses only the per-item generator."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    seed = torch.initial_seed() % 2**32  # DataLoader gives each worker base_seed + worker_id
    np.random.seed(seed)
    random.seed(seed)


def build_loader(
    dataset: MultiTaskDataset,
    batch_size: int,
    *,
    shuffle: bool | None = None,
    drop_last: bool | None = None,
    num_workers: int | None = None,
    seed: int | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """DataLoader with the project's defaults: shuffle and drop_last for train, neither for eval; workers from
    ``train.num_workers``; a seeded shuffle order; non-persistent workers so :meth:`set_epoch` reaches them."""
    is_train = dataset.split_kind == "train"
    workers = dataset.num_workers if num_workers is None else num_workers
    generator = torch.Generator().manual_seed(dataset.seed if seed is None else seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=is_train if shuffle is None else shuffle,
        drop_last=is_train if drop_last is None else drop_last,
        num_workers=workers,
        worker_init_fn=worker_init_fn if workers > 0 else None,
        generator=generator,
        persistent_workers=False,
        pin_memory=pin_memory,
    )
