"""PASCAL-Context multi-task adapter (docs/benchmark-protocol.md §1.2; same tree for ``PASCAL_MT`` and
``PASCALContext``): VOC-21 semseg, 6-part human parts from PASCAL-Part ``anno``, distilled normals masked to the
170-class set, distilled saliency > 0.5, and edges from the Laplacian of ``LabelMap`` thinned to 1 px. ``LabelMap``
itself is kept as ``edge_labels`` (uint16) for the SEISM edge GT ``thin(seg2bmap(LabelMap))`` (docs/seism.md §1).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mtcontrast.data.adapters.base import DatasetAdapter, Decoded
from mtcontrast.data.adapters.io import check_size, read_mat_variable, read_png, read_rgb, require_file
from mtcontrast.data.errors import DataError
from mtcontrast.data.prepared import UNIT_PNG8, decode_unit_png
from mtcontrast.tasks import IGNORE_INDEX, PERSON_CLASS_INDEX, PERSON_PART_GROUPS, VOC_CLASSES

AREA_THRES = 0  # an object counts towards the parts cache when its mask area exceeds this (the loaders' default)


def _db_info(name: str) -> Any:
    return json.loads((resources.files("mtcontrast.data") / "db_info" / name).read_text())


@functools.cache
def context_class_count() -> int:
    return len(_db_info("context_classes.json"))


@functools.cache
def normals_valid_ids() -> np.ndarray:
    """``LabelMap`` ids on which distilled normals are kept: context names also in NYU's list ('unknown'
    excluded), plus tvmonitor (MTL-PyTorch's "custom addition")."""
    context: dict[str, int] = _db_info("context_classes.json")
    nyu: dict[str, int] = _db_info("nyu_classes.json")
    ids = {context[name] for name in nyu if name in context and name != "unknown"} | {context["tvmonitor"]}
    return np.array(sorted(ids), dtype=np.int64)


def labelmap_edges(labelmap: np.ndarray) -> np.ndarray:
    """Edge GT: non-zero response of cv2's 3×3 Laplacian of the label ids, thinned to 1 px (uint8 {0, 1})."""
    from skimage.morphology import thin  # local: skimage's import is slow and only PASCAL needs it

    src = labelmap if labelmap.dtype in (np.uint8, np.uint16, np.int16, np.float32) else labelmap.astype(np.float64)
    response = cv2.Laplacian(src, cv2.CV_64F)
    return thin(np.abs(response) > 0).astype(np.uint8)


@dataclass
class PartObject:
    """One PASCAL-Part object: VOC category, instance mask and its (part name, mask) annotations."""

    class_index: int
    mask: np.ndarray
    parts: list[tuple[str, np.ndarray]]


def read_part_objects(path: Path) -> list[PartObject]:
    """Objects of a PASCAL-Part file via the protocol's access path ``loadmat(f)['anno'][0][0][1][0]``."""
    anno = read_mat_variable(path, "anno", "PASCAL-Part annotation")
    try:
        objects = []
        for obj in anno[0][0][1][0]:
            parts = []
            if len(obj[3]) != 0:
                parts = [(str(part[0][0]), np.asarray(part[1])) for part in obj[3][0]]
            objects.append(PartObject(int(np.asarray(obj[1]).ravel()[0]), np.asarray(obj[2]), parts))
    except (IndexError, TypeError, ValueError, KeyError) as err:
        raise DataError(
            path,
            f"malformed PASCAL-Part 'anno' struct ({err}); expected anno.objects with class, class_ind, mask, parts",
        ) from None
    return objects


def human_parts_target(objects: list[PartObject], size: tuple[int, int], path: Path) -> np.ndarray:
    """Paint each part of each person that has parts with its 6-part id (0 = background); persons without parts
    add nothing, and a target with no part pixel becomes all 255 so the image drops out of loss and metric."""
    target = np.zeros(size, dtype=np.uint8)
    for obj in objects:
        if obj.class_index != PERSON_CLASS_INDEX:
            continue
        for name, mask in obj.parts:
            part_id = PERSON_PART_GROUPS.get(name)
            if part_id is None:
                raise DataError(path, f"unknown person part {name!r}; expected one of {sorted(PERSON_PART_GROUPS)}")
            check_size(path, mask, size, f"mask of part {name!r}")
            target[mask.astype(bool)] = part_id
    if not target.any():
        target.fill(IGNORE_INDEX)
    return target


class PascalContextAdapter(DatasetAdapter):
    name = "pascal_context"
    normals_encoding = UNIT_PNG8
    val_extras = ("edge_labels",)

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self._parts_cache: dict[str, dict[str, list[int]]] = {}
        self.parts_cache_computed: dict[str, int] = {}  # per split: ids absent from the shipped cache

    def split_file(self, split: str) -> Path:
        return self.root / "ImageSets" / "Context" / f"{split}.txt"

    def parts_cache_file(self, split: str) -> Path:
        return self.root / "ImageSets" / "Parts" / f"{split}.txt"

    def split_files(self, split: str) -> list[Path]:
        cache = self.parts_cache_file(split)
        return [self.split_file(split)] + ([cache] if cache.is_file() else [])

    def check_layout(self) -> None:
        if not self.split_file("train").is_file() and (self.root / "gt_sets").is_dir():
            raise DataError(
                self.root,
                "looks like a NYUD folder (gt_sets/); data.dataset='pascal_context' expects "
                "JPEGImages/, ImageSets/Context/, pascal-context/trainval/",
            )

    def image_path(self, sid: str) -> Path:
        return self.file("JPEGImages", f"{sid}.jpg")

    def _labelmap_path(self, sid: str) -> Path:
        return self.file("pascal-context", "trainval", f"{sid}.mat")

    def _parts_path(self, sid: str) -> Path:
        return self.file("human_parts", f"{sid}.mat")

    def _semseg_path(self, sid: str) -> Path:
        """VOC12 labels are preferred; ``semseg/pascal-context`` is the loaders' fallback."""
        voc = self.file("semseg", "VOC12", f"{sid}.png")
        fallback = self.file("semseg", "pascal-context", f"{sid}.png")
        if voc.is_file() or not fallback.is_file():
            return voc
        return fallback

    def _object_categories(self, sid: str) -> list[int]:
        """A parts-cache entry computed like the loaders' first run: category per object, −1 if its area ≤ 0."""
        path = self._parts_path(sid)
        if not path.is_file():
            return []
        return [o.class_index if int(o.mask.sum()) > AREA_THRES else -1 for o in read_part_objects(path)]

    def has_parts(self, split: str, sid: str) -> bool:
        """The presence rule: some category-15 object of positive area in the ``ImageSets/Parts`` cache (read
        once; entries it lacks are computed in memory, never written into the dataset folder)."""
        if split not in self._parts_cache:
            path = self.parts_cache_file(split)
            cache: Any = {}
            if path.is_file():
                try:
                    cache = json.loads(path.read_text())
                except (OSError, ValueError) as err:
                    raise DataError(
                        path, f"cannot parse parts cache ({err}); expected JSON {{id: [category ids]}}"
                    ) from None
                if not isinstance(cache, dict) or not all(isinstance(v, list) for v in cache.values()):
                    raise DataError(path, "parts cache is not a JSON object {id: [category ids]}")
            self._parts_cache[split] = cache
            self.parts_cache_computed[split] = 0
        cache = self._parts_cache[split]
        if sid not in cache:
            cache[sid] = self._object_categories(sid)
            self.parts_cache_computed[split] += 1
        return PERSON_CLASS_INDEX in cache[sid]

    def _paths(self, split: str, sid: str) -> dict[str, Path]:
        paths = {
            "image": self.image_path(sid),
            "LabelMap": self._labelmap_path(sid),
            "semseg": self._semseg_path(sid),
            "normals": self.file("normals_distill", f"{sid}.png"),
            "sal": self.file("sal_distill", f"{sid}.png"),
        }
        if self.has_parts(split, sid):
            paths["human_parts"] = self._parts_path(sid)
        return paths

    def sample_files(self, split: str, sid: str) -> list[Path]:
        return [require_file(p, f"{task} file of sample {sid!r}") for task, p in self._paths(split, sid).items()]

    def decode(self, split: str, sid: str) -> Decoded:
        paths = self._paths(split, sid)
        image = read_rgb(paths["image"])
        size = image.shape[:2]
        labelmap = self._labelmap(paths["LabelMap"], size)
        raw = read_png(paths["semseg"], "semseg label")
        check_size(paths["semseg"], raw, size, "semseg label")
        bad = (raw >= len(VOC_CLASSES)) & (raw != IGNORE_INDEX)
        if bad.any():
            raise DataError(paths["semseg"], f"semseg value {raw[bad][0]}; expected 0..20 (VOC) or 255 (void)")
        if "human_parts" in paths:
            parts = human_parts_target(read_part_objects(paths["human_parts"]), size, paths["human_parts"])
        else:
            parts = np.full(size, IGNORE_INDEX, dtype=np.uint8)
        sal = read_png(paths["sal"], "saliency map")
        check_size(paths["sal"], sal, size, "saliency map")
        sample = {
            "image": image,
            "semseg": raw.copy(),
            "human_parts": parts,
            "sal": (sal.astype(np.float32) / 255.0 > 0.5).astype(np.uint8),
            "normals": self._normals(paths["normals"], labelmap, size),
            "edge": labelmap_edges(labelmap),
            "meta": self.meta(sid, image),
        }
        # The SEISM edge GT's partition; ids 0..459 (checked in _labelmap) are exact in uint16.
        return Decoded(sample, extras={"edge_labels": labelmap.astype(np.uint16)})

    def _labelmap(self, path: Path, size: tuple[int, int]) -> np.ndarray:
        labelmap = np.asarray(read_mat_variable(path, "LabelMap", "PASCAL-Context LabelMap"))
        if labelmap.ndim != 2 or not np.issubdtype(labelmap.dtype, np.number):
            raise DataError(path, f"LabelMap has shape {labelmap.shape}, dtype {labelmap.dtype}; expected H×W ids")
        check_size(path, labelmap, size, "LabelMap")
        if labelmap.size and (labelmap.min() < 0 or labelmap.max() > context_class_count()):
            raise DataError(path, f"LabelMap ids span {labelmap.min()}..{labelmap.max()}; expected 0..459")
        return labelmap

    def _normals(self, path: Path, labelmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """n = 2v/255 − 1, zeroed outside the 170-class set (the zero vector is the invalid marker)."""
        raw = read_png(path, "distilled normals", channels=3)
        check_size(path, raw, size, "distilled normals")
        normals = decode_unit_png(raw)
        normals[~np.isin(labelmap, normals_valid_ids())] = 0.0
        return normals
