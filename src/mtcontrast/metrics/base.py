"""The meter contract shared by every task metric: sum-reducible state, exact merges, per-image records.

A meter's :meth:`Meter.state` is a flat ``dict[str, np.ndarray]`` of two kinds of entries:

* *sums* (confusion counts, error sums, per-threshold counts): merged by addition;
* *per-image* arrays, keyed ``image/<field>`` (first axis = image, always including ``image/id``): merged by
  concatenation.

So a distributed evaluation gathers every rank's state, and ``Meter.from_states(states, **config)`` gives exactly
the numbers one process would have computed over the whole split (docs/benchmark-protocol.md §2, "Pooling").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any, Self

import numpy as np

ImageFields = dict[str, tuple[tuple[int, ...], type[np.generic]]]
IMAGE_PREFIX = "image/"


class Meter(ABC):
    """Base of all meters. Subclasses define their sums, their per-image fields and :meth:`_measure`."""

    def __init__(self) -> None:
        self._sums: dict[str, np.ndarray] = self._empty_sums()
        self._fields: ImageFields = {"id": ((), np.str_), **self._image_fields()}
        self._chunks: dict[str, list[np.ndarray]] = {key: [] for key in self._fields}
        self._count = 0

    # -- to be defined by each metric --------------------------------------------------------------------
    @abstractmethod
    def _empty_sums(self) -> dict[str, np.ndarray]:
        """Zero-initialised sum entries of the state."""

    def _image_fields(self) -> ImageFields:
        """Per-image entries: name → (trailing shape, dtype). ``id`` is added by the base class."""
        return {}

    @abstractmethod
    def _measure(self, pred: np.ndarray, gt: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """One image → (increments of the sums, values of the per-image fields)."""

    @abstractmethod
    def compute(self) -> dict[str, float]:
        """The split-level metrics from the pooled state."""

    def config(self) -> dict[str, Any]:
        """Constructor arguments reproducing this meter's scoring configuration (for :meth:`from_states`)."""
        return {}

    def _record(self, row: dict[str, Any]) -> dict[str, Any]:
        """One per-image record from that image's per-image fields (override to derive metrics)."""
        return row

    # -- shared machinery --------------------------------------------------------------------------------
    def update(self, pred: np.ndarray, gt: np.ndarray, *, id: str | None = None) -> None:
        """Add one image (numpy arrays at native resolution, PreparedSplit conventions)."""
        image_id = str(self._count) if id is None else str(id)
        try:
            sums, row = self._measure(np.asarray(pred), np.asarray(gt))
        except ValueError as err:
            raise ValueError(f"image {image_id!r}: {err}") from None
        for key, inc in sums.items():
            self._sums[key] += inc
        self._chunks["id"].append(np.asarray([image_id], dtype=np.str_))
        for key, (shape, dtype) in self._fields.items():
            if key != "id":
                self._chunks[key].append(np.asarray(row[key], dtype=dtype).reshape((1, *shape)))
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def state(self) -> dict[str, np.ndarray]:
        """Copy of the full state (sums and per-image arrays)."""
        out = {key: value.copy() for key, value in self._sums.items()}
        for key, chunks in self._chunks.items():
            out[IMAGE_PREFIX + key] = self._concat(key, chunks).copy()
        return out

    def _concat(self, key: str, chunks: list[np.ndarray]) -> np.ndarray:
        shape, dtype = self._fields[key]
        if not chunks:
            return np.zeros((0, *shape), dtype=dtype)
        merged = np.concatenate(chunks)
        self._chunks[key] = [merged]  # keep one chunk so repeated state() calls stay linear
        return merged

    def merge(self, other: Mapping[str, np.ndarray]) -> None:
        """Add another meter's :meth:`state` (same configuration) into this one."""
        expected = set(self._sums) | {IMAGE_PREFIX + key for key in self._fields}
        if set(other) != expected:
            raise ValueError(f"{type(self).__name__}.merge: state keys {sorted(other)} do not match {sorted(expected)}")
        for key, total in self._sums.items():
            inc = np.asarray(other[key])
            if inc.shape != total.shape:
                raise ValueError(
                    f"{type(self).__name__}.merge: {key!r} has shape {inc.shape}, expected {total.shape} "
                    "(meters configured differently?)"
                )
            total += inc
        n = len(other[IMAGE_PREFIX + "id"])
        for key, (shape, dtype) in self._fields.items():
            part = np.asarray(other[IMAGE_PREFIX + key], dtype=dtype)
            if part.shape != (n, *shape):
                raise ValueError(f"{type(self).__name__}.merge: {key!r} has shape {part.shape}, expected {(n, *shape)}")
            self._chunks[key].append(part)
        self._count += n

    @classmethod
    def from_states(cls, states: Iterable[Mapping[str, np.ndarray]], **config: Any) -> Self:
        """A meter built with ``config`` holding the merge of ``states`` (e.g. one per DDP rank)."""
        meter = cls(**config)
        for state in states:
            meter.merge(state)
        return meter

    def records(self) -> list[dict[str, Any]]:
        """One dict per image, in update / merge order: ``id`` and that image's own metrics."""
        columns = {key: self._concat(key, chunks) for key, chunks in self._chunks.items()}
        out = []
        for i in range(self._count):
            row = {key: column[i].item() if column.ndim == 1 else column[i] for key, column in columns.items()}
            out.append(self._record(row))
        return out


def check_same_shape(pred: np.ndarray, gt: np.ndarray, what: str) -> None:
    """Native-resolution evaluation: the prediction must already have the GT's shape (padding cropped)."""
    if pred.shape != gt.shape:
        raise ValueError(
            f"{what} prediction has shape {pred.shape} but the ground truth has {gt.shape}; "
            "crop padding / resize to the native size before scoring"
        )


def squeeze_map(array: np.ndarray, what: str) -> np.ndarray:
    """Accept H×W, 1×H×W or H×W×1 for a single-channel map; return H×W."""
    if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
        array = array[0] if array.shape[0] == 1 else array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"{what} must be an H×W map (or 1×H×W / H×W×1); got shape {array.shape}")
    return array


def check_finite(array: np.ndarray, what: str) -> None:
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError(f"{what} holds NaN or inf values")
