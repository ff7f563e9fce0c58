"""NYUD-v2 adapters for the two packages of docs/benchmark-protocol.md §1.1, which are not interchangeable:
``nyudv2`` (InvPT / ATRC paper: PNG images 425×560, PNG normals and edges) and ``nyud_mt`` (MTL-PyTorch: JPG
480×640, NPY normals and edges). Both: ``segmentation/<id>.png`` 0 = unlabelled, 1..40 → 0..39 with 0 → 255;
``depth/<id>.npy`` metres, 0 = invalid; splits ``gt_sets/{train,val}.txt``.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from mtcontrast.data.adapters.base import SPLITS, DatasetAdapter, Decoded
from mtcontrast.data.adapters.io import check_finite, check_size, read_npy, read_png, read_rgb, require_file
from mtcontrast.data.checks import NYUD_FORMATS, detect_nyud_variant
from mtcontrast.data.errors import DataError
from mtcontrast.data.prepared import UNIT_PNG8, decode_unit_png
from mtcontrast.tasks import IGNORE_INDEX

NYU40_MAX = 40


def decode_nyu_semseg(raw: np.ndarray) -> np.ndarray:
    """0 (unlabelled) → 255 ignore, 1..40 → 0..39 (the benchmark drops background)."""
    return np.where(raw == 0, IGNORE_INDEX, raw.astype(np.int16) - 1).astype(np.uint8)


class _NyudAdapter(DatasetAdapter):
    """Shared NYUD logic; subclasses differ only in the image / normals / edge file formats."""

    image_ext: ClassVar[str]
    normals_ext: ClassVar[str]
    edge_ext: ClassVar[str]

    def split_file(self, split: str) -> Path:
        return self.root / "gt_sets" / f"{split}.txt"

    def check_layout(self) -> None:
        if not self.split_file("train").is_file() and (self.root / "JPEGImages").is_dir():
            raise DataError(self.root, f"looks like a PASCAL-Context folder; data.dataset={self.name!r} expects NYUD")
        for split in SPLITS:
            ids = self.split_ids(split)
            if ids:
                found = detect_nyud_variant(self.root, ids[0])
                if found != self.name:
                    img, nrm = NYUD_FORMATS[found]
                    raise DataError(
                        self.root,
                        f"folder is the {found!r} NYUD package (images/*{img}, normals/*{nrm}) but "
                        f"data.dataset={self.name!r} expects images/*{self.image_ext}, normals/*{self.normals_ext}; "
                        f"set data.dataset={found}",
                    )
                return

    def image_path(self, sid: str) -> Path:
        return self.file("images", f"{sid}{self.image_ext}")

    def _paths(self, sid: str) -> dict[str, Path]:
        return {
            "image": self.image_path(sid),
            "semseg": self.file("segmentation", f"{sid}.png"),
            "depth": self.file("depth", f"{sid}.npy"),
            "normals": self.file("normals", f"{sid}{self.normals_ext}"),
            "edge": self.file("edge", f"{sid}{self.edge_ext}"),
        }

    def sample_files(self, split: str, sid: str) -> list[Path]:
        return [require_file(p, f"{task} file of sample {sid!r}") for task, p in self._paths(sid).items()]

    def decode(self, split: str, sid: str) -> Decoded:
        paths = self._paths(sid)
        image = read_rgb(paths["image"])
        size = image.shape[:2]
        raw = read_png(paths["semseg"], "semseg label")
        check_size(paths["semseg"], raw, size, "semseg label")
        if raw.max() > NYU40_MAX:
            raise DataError(paths["semseg"], f"semseg value {raw.max()}; expected 0 (unlabelled) or 1..40 (NYU-40)")
        depth = read_npy(paths["depth"], "depth map")
        if depth.ndim == 3 and depth.shape[2] == 1:
            depth = depth[..., 0]
        if depth.ndim != 2:
            raise DataError(paths["depth"], f"depth map has shape {depth.shape}; expected H×W metres")
        check_size(paths["depth"], depth, size, "depth map")
        check_finite(paths["depth"], depth, "depth map")
        if (depth < 0).any():
            raise DataError(paths["depth"], f"depth has negative values (min {depth.min():.3g}); expected metres ≥ 0")
        raw_stats: dict[str, int] = {}
        normals = self._normals(paths["normals"], size, raw_stats)
        edge = self._edge(paths["edge"], size, raw_stats)
        sample = {
            "image": image,
            "semseg": decode_nyu_semseg(raw),
            "depth": depth.astype(np.float32),
            "normals": normals,
            "edge": edge,
            "meta": self.meta(sid, image),
        }
        return Decoded(sample, raw_stats)

    @abstractmethod
    def _normals(self, path: Path, size: tuple[int, int], raw_stats: dict[str, int]) -> np.ndarray: ...

    @abstractmethod
    def _edge(self, path: Path, size: tuple[int, int], raw_stats: dict[str, int]) -> np.ndarray: ...


class NyudV2Adapter(_NyudAdapter):
    """``NYUDv2.tar.gz`` (the default): images/normals/edge PNG."""

    name = "nyudv2"
    image_ext, normals_ext, edge_ext = ".png", ".png", ".png"
    normals_encoding = UNIT_PNG8

    def _normals(self, path: Path, size: tuple[int, int], raw_stats: dict[str, int]) -> np.ndarray:
        raw = read_png(path, "normals", channels=3)
        check_size(path, raw, size, "normals")
        # Invalid pixels stored as a colour would pass as valid (docs/benchmark-protocol.md §1.3): count black / mid-grey pixels.
        grey = (raw[..., 0] == raw[..., 1]) & (raw[..., 1] == raw[..., 2]) & np.isin(raw[..., 0], (0, 127, 128))
        raw_stats["normals_png_grey"] = int(grey.sum())
        return decode_unit_png(raw)

    def _edge(self, path: Path, size: tuple[int, int], raw_stats: dict[str, int]) -> np.ndarray:
        raw = read_png(path, "edge map")
        check_size(path, raw, size, "edge map")
        raw_stats["edge_nonbinary"] = int(((raw != 0) & (raw != 255)).sum())
        return (raw >= 128).astype(np.uint8)  # e = v/255, binarised at 0.5


class NyudMtAdapter(_NyudAdapter):
    """``NYUD_MT.tgz`` (MTL-PyTorch): JPG images, NPY normals (zero vector = invalid) and binary float edges."""

    name = "nyud_mt"
    image_ext, normals_ext, edge_ext = ".jpg", ".npy", ".npy"

    def _normals(self, path: Path, size: tuple[int, int], raw_stats: dict[str, int]) -> np.ndarray:
        normals = read_npy(path, "normals")
        if normals.ndim != 3 or normals.shape[2] != 3:
            raise DataError(path, f"normals have shape {normals.shape}; expected H×W×3")
        check_size(path, normals, size, "normals")
        check_finite(path, normals, "normals")
        if np.abs(normals).max() > 1.001:
            raise DataError(path, f"normals component {np.abs(normals).max():.3g}; expected unit vectors in [-1, 1]")
        return normals.astype(np.float32)

    def _edge(self, path: Path, size: tuple[int, int], raw_stats: dict[str, int]) -> np.ndarray:
        raw = read_npy(path, "edge map")
        if raw.ndim == 3 and raw.shape[2] == 1:
            raw = raw[..., 0]
        if raw.ndim != 2:
            raise DataError(path, f"edge map has shape {raw.shape}; expected H×W")
        check_size(path, raw, size, "edge map")
        check_finite(path, raw, "edge map")
        raw_stats["edge_nonbinary"] = int(((raw != 0) & (raw != 1)).sum())
        return (raw >= 0.5).astype(np.uint8)
