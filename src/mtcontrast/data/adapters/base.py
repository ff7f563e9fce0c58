"""The adapter interface: one class per raw on-disk layout, decoding a sample into the prepared-sample contract
(docs/benchmark-protocol.md §6.1–6.2: ``image`` uint8 H×W×3, ``semseg`` uint8 with 255 ignore, ``depth`` float32 m with 0 invalid, ...)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mtcontrast.data.adapters.io import image_size, read_split_ids
from mtcontrast.data.checks import Expectations, load_expectations
from mtcontrast.data.errors import DataError
from mtcontrast.data.ids import check_ids, path_inside
from mtcontrast.tasks import DatasetSpec, dataset_spec

SPLITS: tuple[str, ...] = ("train", "val")


@dataclass
class Decoded:
    """A decoded sample plus counts that are only visible in the raw files (for the check summary) and optional
    maps outside the prepared-sample contract (``extras``, keys of ``prepared.EXTRA_MAPS``, see ``val_extras``)."""

    sample: dict[str, Any]
    raw_stats: dict[str, int] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)


class DatasetAdapter(ABC):
    """Reads one raw layout. Subclasses set ``name`` (a key of ``tasks.DATASETS``) and the file paths."""

    name: ClassVar[str]
    # "unit_png8" when decoded normals are exactly 2v/255 − 1 of 8-bit PNGs (stored compactly), else "float32".
    normals_encoding: ClassVar[str] = "float32"
    # Optional maps (``prepared.EXTRA_MAPS``) that ``decode`` returns in ``Decoded.extras``; stored for val only.
    val_extras: ClassVar[tuple[str, ...]] = ()

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(self.root, f"dataset root not found; expected a {self.name} folder (data.root)")
        self.spec: DatasetSpec = dataset_spec(self.name)

    @property
    def variant(self) -> str:
        """The package the folder holds (NYUD has two); recorded in the prepared file."""
        return self.name

    def expectations(self) -> Expectations:
        return load_expectations(self.root, self.name)

    @abstractmethod
    def split_file(self, split: str) -> Path:
        """The id list of ``split``."""

    def split_ids(self, split: str) -> list[str]:
        """Ids of ``split``; each must be a plain file name, since it becomes part of every sample path."""
        path = self.split_file(split)
        return check_ids(read_split_ids(path), path)

    def file(self, *parts: str) -> Path:
        """``root / parts`` for a sample file, refused if an id in ``parts`` would lead outside the root (the
        guard for ids that did not come through :meth:`split_ids`)."""
        return path_inside(self.root, *parts)

    def check_layout(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Refuse a folder that is another package than this adapter reads (called once before any decoding)."""

    @abstractmethod
    def image_path(self, sid: str) -> Path: ...

    @abstractmethod
    def sample_files(self, split: str, sid: str) -> list[Path]:
        """Every file that ``load`` reads for ``sid``; a missing one is an error (checked before decoding)."""

    def split_files(self, split: str) -> list[Path]:
        """Split-level files whose content defines the output (id lists, caches), for the source fingerprint."""
        return [self.split_file(split)]

    def image_size(self, sid: str) -> tuple[int, int]:
        return image_size(self.image_path(sid))

    @abstractmethod
    def decode(self, split: str, sid: str) -> Decoded:
        """The prepared-sample dict of ``sid`` (only the dataset's tasks) plus raw-file counts."""

    def load(self, split: str, sid: str) -> dict[str, Any]:
        return self.decode(split, sid).sample

    @staticmethod
    def meta(sid: str, image: np.ndarray) -> dict[str, Any]:
        return {"id": sid, "size": (int(image.shape[0]), int(image.shape[1]))}
