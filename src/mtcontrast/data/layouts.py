"""Writers of the real raw dataset layouts (docs/benchmark-protocol.md §1.1, §1.2).

The procedural scenes and the adapter tests both write through these functions, so the adapters read exactly the
files a real download contains: NYUDv2 (PNG package), NYUD_MT (JPG / NPY package) and PASCAL-Context (JPEG,
``LabelMap`` .mat, PASCAL-Part ``anno`` .mat, distilled normals / saliency PNG, ``ImageSets`` splits).

Array conventions of the inputs are the *raw* ones, before any adapter decoding:
NYUD semseg 0 = unlabelled, 1..40 = NYU-40; PASCAL ``labelmap`` = PASCAL-Context 459-class ids (0 = unlabelled);
PASCAL ``semseg`` = VOC 0..20 with 255 on void borders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.io
from PIL import Image

NyudVariant = Literal["nyudv2", "nyud_mt"]


def encode_unit_png(vectors: np.ndarray) -> np.ndarray:
    """Unit vectors in [-1, 1] → uint8 RGB with v = round((n + 1) / 2 · 255), the inverse of n = 2v/255 − 1."""
    return np.clip(np.round((vectors + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _save_jpg(path: Path, array: np.ndarray, quality: int = 95) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=quality)


def _save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)


def write_nyud_sample(
    root: Path,
    variant: NyudVariant,
    sid: str,
    *,
    image: np.ndarray,
    semseg: np.ndarray,
    depth: np.ndarray,
    normals: np.ndarray,
    edge: np.ndarray,
) -> None:
    """Write one NYUD sample. ``image`` uint8 H×W×3; ``semseg`` uint8 (0 unlabelled, 1..40); ``depth`` float32
    metres (0 invalid); ``normals`` float32 H×W×3 unit (zero vector invalid, only representable in ``nyud_mt``);
    ``edge`` uint8 {0, 1}."""
    root = Path(root)
    _save_png(root / "segmentation" / f"{sid}.png", semseg.astype(np.uint8))
    _save_npy(root / "depth" / f"{sid}.npy", depth.astype(np.float32))
    if variant == "nyudv2":
        _save_png(root / "images" / f"{sid}.png", image)
        _save_png(root / "normals" / f"{sid}.png", encode_unit_png(normals))
        _save_png(root / "edge" / f"{sid}.png", (edge > 0).astype(np.uint8) * 255)
    elif variant == "nyud_mt":
        _save_jpg(root / "images" / f"{sid}.jpg", image)
        _save_npy(root / "normals" / f"{sid}.npy", normals.astype(np.float32))
        _save_npy(root / "edge" / f"{sid}.npy", (edge > 0).astype(np.float32))
    else:
        raise ValueError(f"unknown NYUD variant {variant!r}; expected 'nyudv2' or 'nyud_mt'")


def write_nyud_splits(root: Path, splits: Mapping[str, Sequence[str]]) -> None:
    """``gt_sets/{train,val}.txt``, one id per line."""
    for split, ids in splits.items():
        path = Path(root) / "gt_sets" / f"{split}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{i}\n" for i in ids))


@dataclass
class PascalPart:
    name: str  # exact PASCAL-Part name, e.g. "head", "luarm", "llleg"
    mask: np.ndarray  # bool H×W


@dataclass
class PascalObject:
    class_name: str  # VOC name, e.g. "person"
    class_index: int  # VOC / PASCAL-Part category 1..20 (15 = person)
    mask: np.ndarray  # bool H×W instance mask
    parts: list[PascalPart] = field(default_factory=list)


def _anno_struct(sid: str, objects: Sequence[PascalObject]) -> dict[str, object]:
    """The PASCAL-Part ``anno`` struct, so that ``loadmat(f)['anno'][0][0][1][0]`` is the object array and, for an
    object ``o``: ``o[0]`` class, ``o[1][0][0]`` class index, ``o[2]`` mask, ``o[3][0][i]`` part ``i`` with
    ``[0][0]`` name and ``[1]`` mask (``o[3]`` empty when the object has no parts)."""
    obj_dtype = [("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")]
    part_dtype = [("part_name", "O"), ("mask", "O")]
    objs = np.zeros((1, len(objects)), dtype=obj_dtype)
    for k, obj in enumerate(objects):
        if obj.parts:
            parts = np.zeros((1, len(obj.parts)), dtype=part_dtype)
            for i, part in enumerate(obj.parts):
                parts[0, i] = (part.name, part.mask.astype(np.uint8))
        else:
            parts = np.zeros((0, 0))
        objs[0, k] = (obj.class_name, np.array([[obj.class_index]], dtype=np.uint8), obj.mask.astype(np.uint8), parts)
    return {"imname": sid, "objects": objs}


def write_pascal_sample(
    root: Path,
    sid: str,
    *,
    image: np.ndarray,
    labelmap: np.ndarray,
    semseg: np.ndarray,
    objects: Sequence[PascalObject],
    normals: np.ndarray,
    sal: np.ndarray,
) -> None:
    """Write one PASCAL-Context sample. ``labelmap`` uint16 459-class ids; ``semseg`` uint8 VOC 0..20 / 255 void;
    ``objects`` the PASCAL-Part annotation (only images listed with objects get a ``human_parts`` .mat);
    ``normals`` float32 H×W×3 unit (the distilled teacher output, valid everywhere); ``sal`` float in [0, 1]."""
    root = Path(root)
    _save_jpg(root / "JPEGImages" / f"{sid}.jpg", image)
    mat = root / "pascal-context" / "trainval" / f"{sid}.mat"
    mat.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(mat, {"LabelMap": labelmap.astype(np.uint16)}, do_compression=True)
    _save_png(root / "semseg" / "VOC12" / f"{sid}.png", semseg.astype(np.uint8))
    if objects:
        parts = root / "human_parts" / f"{sid}.mat"
        parts.parent.mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(parts, {"anno": _anno_struct(sid, objects)}, do_compression=True)
    _save_png(root / "normals_distill" / f"{sid}.png", encode_unit_png(normals))
    _save_png(root / "sal_distill" / f"{sid}.png", np.clip(np.round(sal * 255.0), 0, 255).astype(np.uint8))


def write_pascal_splits(
    root: Path, splits: Mapping[str, Sequence[str]], parts_cache: Mapping[str, Mapping[str, Sequence[int]]]
) -> None:
    """``ImageSets/Context/<split>.txt`` id lists and the ``ImageSets/Parts/<split>.txt`` JSON cache
    ``{id: [category id of each annotated object, -1 for area <= area_thres]}`` that the loaders write on first run
    (we ship it so read-only mounts work)."""
    for split, ids in splits.items():
        ctx = Path(root) / "ImageSets" / "Context" / f"{split}.txt"
        ctx.parent.mkdir(parents=True, exist_ok=True)
        ctx.write_text("".join(f"{i}\n" for i in ids))
        parts = Path(root) / "ImageSets" / "Parts" / f"{split}.txt"
        parts.parent.mkdir(parents=True, exist_ok=True)
        parts.write_text(json.dumps({i: list(parts_cache[split].get(i, [])) for i in ids}))
