"""Small raw datasets written in the real layouts through ``mtcontrast.data.layouts``, with hand-made arrays whose
decoded values the tests know exactly. Shared by the adapter, prepared-file and bad-input tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtcontrast.data.layouts import (
    PascalObject,
    PascalPart,
    write_nyud_sample,
    write_nyud_splits,
    write_pascal_sample,
    write_pascal_splits,
)

# PASCAL-Context LabelMap ids used below (context_classes.json): in / out of the 170-class normals set.
WALL, SKY, TVMONITOR, UNKNOWN, PERSON, CAT = 440, 360, 427, 431, 284, 65
UNIT_NORMALS = np.array([[0, 0, 1], [1, 0, 0], [-1, 0, 0], [0.6, 0.8, 0], [0, -0.6, 0.8]], dtype=np.float32)


@dataclass
class RawDataset:
    """A written raw folder and the arrays each sample was written from (raw conventions, before decoding)."""

    root: Path
    splits: dict[str, list[str]]
    samples: dict[str, dict[str, Any]]


def write_manifest(root: Path, layout: str, counts: dict[str, int], image_size: Any, max_side: Any) -> None:
    """The ``scenes_manifest.json`` the procedural generator writes (the fields the adapters read)."""
    manifest = {"layout": layout, "counts": counts, "image_size": image_size, "max_side": max_side}
    (root / "scenes_manifest.json").write_text(json.dumps(manifest))


def nyud_arrays(k: int, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Sample ``k``: semseg cycles 0..40 (0 = unlabelled), depth has exact zeros, normals cycle known unit
    vectors (one zero vector in sample 0 for the NPY package), edges on a fixed column."""
    h, w = size
    idx = np.arange(h * w).reshape(h, w)
    image = ((idx[..., None] * np.array([3, 5, 7]) + 11 * k) % 256).astype(np.uint8)
    semseg = ((idx + k) % 41).astype(np.uint8)
    depth = (0.5 + 0.25 * ((idx + k) % 37)).astype(np.float32)
    depth[(idx + k) % 5 == 0] = 0.0
    normals = UNIT_NORMALS[(idx + k) % len(UNIT_NORMALS)].copy()
    edge = np.zeros((h, w), dtype=np.uint8)
    edge[:, (k + 1) % w] = 1
    edge[0, :] = 1
    return {"image": image, "semseg": semseg, "depth": depth, "normals": normals, "edge": edge}


def write_nyud_dataset(
    root: Path,
    variant: str,
    *,
    train: int = 3,
    val: int = 2,
    size: tuple[int, int] = (6, 8),
    manifest: bool = True,
) -> RawDataset:
    splits = {"train": [f"{i:04d}" for i in range(1, train + 1)], "val": [f"{i:04d}" for i in range(101, 101 + val)]}
    samples = {}
    for k, sid in enumerate(splits["train"] + splits["val"]):
        arrays = nyud_arrays(k, size)
        if variant == "nyud_mt" and k == 0:
            arrays["normals"][0, 0] = 0.0  # NPY package: the zero vector marks an invalid normal
        write_nyud_sample(root, variant, sid, **arrays)  # type: ignore[arg-type]
        samples[sid] = arrays
    write_nyud_splits(root, splits)
    if manifest:
        write_manifest(root, variant, {"train": train, "val": val}, list(size), None)
    return RawDataset(Path(root), splits, samples)


def _rect(size: tuple[int, int], r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[r0:r1, c0:c1] = True
    return mask


def pascal_arrays(kind: str, size: tuple[int, int], k: int) -> dict[str, Any]:
    """Sample kinds: ``parts`` (a person with 5 annotated parts + a person without parts + a cat), ``noparts``
    (only a person without part annotation), ``nopersons`` (a cat only)."""
    h, w = size
    idx = np.arange(h * w).reshape(h, w)
    labelmap = np.full(size, WALL, dtype=np.uint16)
    labelmap[: h // 4] = SKY
    labelmap[h // 4 : h // 2, : w // 3] = TVMONITOR
    labelmap[h // 4 : h // 2, w // 3 : w // 2] = UNKNOWN
    labelmap[-1, -1] = 0
    semseg = np.zeros(size, dtype=np.uint8)
    objects: list[PascalObject] = []
    if kind in ("parts", "noparts"):
        person = _rect(size, h // 2, h, 0, w // 2)
        labelmap[person] = PERSON
        semseg[person] = 15
        parts = []
        if kind == "parts":
            parts = [
                PascalPart("head", _rect(size, h // 2, h // 2 + 1, 0, w // 2)),
                PascalPart("torso", _rect(size, h // 2 + 1, h // 2 + 2, 0, w // 2)),
                PascalPart("luarm", _rect(size, h // 2 + 2, h // 2 + 3, 0, 1)),
                PascalPart("llarm", _rect(size, h // 2 + 2, h // 2 + 3, 1, 2)),
                PascalPart("lfoot", _rect(size, h - 1, h, 0, w // 2)),
            ]
        objects.append(PascalObject("person", 15, person, parts))
        if kind == "parts":
            other = _rect(size, h // 2, h, w // 2, w // 2 + 1)  # a second person, without part annotation
            labelmap[other] = PERSON
            semseg[other] = 15
            objects.append(PascalObject("person", 15, other, []))
    cat = _rect(size, 0, 2, w - 2, w)
    labelmap[cat] = CAT
    semseg[cat] = 8
    semseg[2, w - 2 : w] = 255  # void border
    objects.append(PascalObject("cat", 8, cat, []))
    if kind == "nopersons":
        objects = []  # no PASCAL-Part file at all
    image = ((idx[..., None] * np.array([5, 3, 1]) + 17 * k) % 256).astype(np.uint8)
    normals = UNIT_NORMALS[(idx + k) % len(UNIT_NORMALS)].copy()
    sal = np.where((idx + k) % 2 == 0, 128 / 255, 127 / 255).astype(np.float32)  # just above / below 0.5
    sal[0, 0] = 1.0
    return {"image": image, "labelmap": labelmap, "semseg": semseg, "objects": objects, "normals": normals, "sal": sal}


PASCAL_SIZES = [(10, 12), (12, 8), (9, 11), (8, 10), (11, 9)]
PASCAL_KINDS = ["parts", "nopersons", "noparts", "parts", "nopersons"]


def write_pascal_dataset(root: Path, *, train: int = 3, val: int = 2, manifest: bool = True) -> RawDataset:
    """Variable image sizes; ``ImageSets/Parts`` lists category 15 for the ``parts`` and ``noparts`` kinds."""
    splits = {"train": [f"2008_{i:06d}" for i in range(train)], "val": [f"2009_{i:06d}" for i in range(val)]}
    samples, cache = {}, {"train": {}, "val": {}}
    for k, (split, sid) in enumerate([(s, i) for s in ("train", "val") for i in splits[s]]):
        arrays = pascal_arrays(PASCAL_KINDS[k % 5], PASCAL_SIZES[k % 5], k)
        write_pascal_sample(root, sid, **arrays)
        cache[split][sid] = [o.class_index if o.mask.any() else -1 for o in arrays["objects"]]
        samples[sid] = arrays
    write_pascal_splits(root, splits, cache)
    if manifest:
        write_manifest(root, "pascal_context", {"train": train, "val": val}, None, 12)
    return RawDataset(Path(root), splits, samples)
