"""First-load checks of a raw dataset folder (docs/benchmark-protocol.md §1.3): which package it is, split counts, image
sizes, and a streamed summary of the decoded labels (depth range, edge density, parts images, ...).

Expected counts and sizes are the protocol's unless the folder holds a ``scenes_manifest.json`` written by the
procedural-scenes generator, which states its own.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtcontrast.data.errors import DataError
from mtcontrast.tasks import IGNORE_INDEX, dataset_spec

MANIFEST = "scenes_manifest.json"
NYUD_SIZES: dict[str, tuple[int, int]] = {"nyudv2": (425, 560), "nyud_mt": (480, 640)}
PASCAL_MAX_SIDE = 500
# File formats that identify a NYUD package: (image suffix, normals suffix).
NYUD_FORMATS: dict[str, tuple[str, str]] = {"nyudv2": (".png", ".png"), "nyud_mt": (".jpg", ".npy")}


@dataclass(frozen=True)
class Expectations:
    """What a complete folder must hold: ids per split, and a fixed image size or a bound on the longer side."""

    counts: dict[str, int]
    image_size: tuple[int, int] | None
    max_side: int | None
    source: str  # "protocol" or the manifest path

    def as_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "image_size": self.image_size, "max_side": self.max_side, "source": self.source}


def load_expectations(root: Path, dataset: str) -> Expectations:
    """Protocol values, replaced field by field by what a ``scenes_manifest.json`` states (read defensively: a
    missing or null field keeps the protocol value; a malformed one is an error)."""
    spec = dataset_spec(dataset)
    counts = dict(spec.split_counts)
    size = NYUD_SIZES.get(dataset)
    max_side = PASCAL_MAX_SIDE if size is None else None
    path = Path(root) / MANIFEST
    if not path.is_file():
        return Expectations(counts, size, max_side, "protocol")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(path, f"cannot parse scenes manifest ({err}); expected a JSON object") from None
    if not isinstance(manifest, dict):
        raise DataError(path, "expected a JSON object with 'counts', 'image_size', 'max_side'")
    layout = manifest.get("layout")
    if layout is not None and layout != dataset:
        raise DataError(path, f"folder holds the {layout!r} layout but data.dataset={dataset!r}; set data.dataset")
    got = manifest.get("counts")
    if got is not None:
        if not isinstance(got, dict) or not all(isinstance(got.get(s), int) and got[s] >= 0 for s in counts):
            raise DataError(path, f"'counts' = {got!r}; expected non-negative integers for {sorted(counts)}")
        counts = {s: int(got[s]) for s in counts}
    got_size, got_side = manifest.get("image_size"), manifest.get("max_side")
    if got_size is not None:  # a fixed size wins over a bound on the longer side
        ok = isinstance(got_size, list) and len(got_size) == 2 and all(isinstance(v, int) and v > 0 for v in got_size)
        if not ok:
            raise DataError(path, f"'image_size' = {got_size!r}; expected [H, W] positive integers or null")
        size, max_side = (got_size[0], got_size[1]), None
    elif got_side is not None:
        if not (isinstance(got_side, int) and got_side > 0):
            raise DataError(path, f"'max_side' = {got_side!r}; expected a positive integer or null")
        size, max_side = None, got_side
    return Expectations(counts, size, max_side, str(path))


def detect_nyud_variant(root: Path, sample_id: str) -> str:
    """Which NYUD package a folder really is, from the files of one sample: PNG image + PNG normals = ``nyudv2``,
    JPG image + NPY normals = ``nyud_mt`` (docs/benchmark-protocol.md §1.1)."""
    root = Path(root)
    found = [
        variant
        for variant, (img, nrm) in NYUD_FORMATS.items()
        if (root / "images" / f"{sample_id}{img}").is_file() and (root / "normals" / f"{sample_id}{nrm}").is_file()
    ]
    if len(found) == 1:
        return found[0]
    listed = [p.name for sub in ("images", "normals") for p in sorted((root / sub).glob(f"{sample_id}.*"))]
    what = "both packages' files" if found else f"files {listed}" if listed else "no image / normals files"
    raise DataError(
        root,
        f"cannot tell the NYUD package from sample {sample_id!r} ({what}); expected images/<id>.png + "
        "normals/<id>.png (NYUDv2, 425×560) or images/<id>.jpg + normals/<id>.npy (NYUD_MT, 480×640)",
    )


def check_split_ids(path: Path, split: str, ids: list[str], expected: Expectations, limit: int | None) -> None:
    """A split must be non-empty and, unless a ``limit`` asks for a quick subset, hold exactly the expected ids."""
    if not ids:
        raise DataError(path, f"split {split!r} lists no ids; expected {expected.counts.get(split, 'some')}")
    want = expected.counts.get(split)
    if limit is None and want is not None and len(ids) != want:
        raise DataError(
            path,
            f"split {split!r} lists {len(ids)} ids; expected {want} ({expected.source}); "
            "pass --limit N / data.limit for a subset",
        )


def check_image_size(path: Path, size: tuple[int, int], expected: Expectations) -> None:
    if expected.image_size is not None and tuple(size) != tuple(expected.image_size):
        h, w = expected.image_size
        raise DataError(path, f"image is {size[0]}×{size[1]}; expected {h}×{w} ({expected.source})")
    if expected.max_side is not None and max(size) > expected.max_side:
        raise DataError(path, f"image is {size[0]}×{size[1]}; expected longer side ≤ {expected.max_side}")


class SplitStats:
    """Streamed label statistics of one split (scalars and counters only, so memory does not grow with N)."""

    def __init__(self, dataset: str) -> None:
        self.spec = dataset_spec(dataset)
        self.images = 0
        self.sizes: Counter[str] = Counter()
        self.pixels = 0
        self.sums: Counter[str] = Counter()
        self.depth_min = float("inf")
        self.depth_max = 0.0
        self.norm_min = float("inf")
        self.norm_max = 0.0
        self.semseg_classes = np.zeros(len(self.spec.class_names["semseg"]), dtype=bool)

    def update(self, sample: dict[str, Any], raw_stats: dict[str, int] | None = None) -> None:
        """Add one decoded sample; ``raw_stats`` are counts only visible before decoding (e.g. grey normals PNG)."""
        h, w = sample["image"].shape[:2]
        n = h * w
        self.images += 1
        self.pixels += n
        self.sizes[f"{h}x{w}"] += 1
        s = self.sums
        sem = sample["semseg"]
        s["semseg_ignore"] += int((sem == IGNORE_INDEX).sum())
        self.semseg_classes[np.unique(sem[sem != IGNORE_INDEX])] = True
        s["edge_pos"] += int(sample["edge"].sum())
        if "depth" in sample:
            depth = sample["depth"]
            valid = depth[depth > 0]
            s["depth_zero"] += n - valid.size
            if valid.size:
                self.depth_min = min(self.depth_min, float(valid.min()))
                self.depth_max = max(self.depth_max, float(valid.max()))
        normals = sample["normals"]
        norm = np.sqrt((normals.astype(np.float64) ** 2).sum(axis=-1))
        valid_norm = norm[norm > 0]
        s["normals_valid"] += valid_norm.size
        s["normals_norm_sum"] += float(valid_norm.sum())
        s["normals_norm_off"] += int((np.abs(valid_norm - 1.0) > 0.02).sum())
        if valid_norm.size:
            self.norm_min = min(self.norm_min, float(valid_norm.min()))
            self.norm_max = max(self.norm_max, float(valid_norm.max()))
        for key, value in (raw_stats or {}).items():
            s[key] += int(value)
        if "human_parts" in sample:
            s["parts_images"] += int((sample["human_parts"] != IGNORE_INDEX).any())
        if "sal" in sample:
            s["sal_pos"] += int(sample["sal"].sum())

    def summary(self) -> dict[str, Any]:
        """JSON-able summary; fractions are over all pixels of the split."""
        px = max(self.pixels, 1)
        s = self.sums
        out: dict[str, Any] = {
            "images": self.images,
            "sizes": dict(self.sizes.most_common()),
            "semseg_ignore_fraction": s["semseg_ignore"] / px,
            "semseg_classes_present": int(self.semseg_classes.sum()),
            "edge_positive_ratio": s["edge_pos"] / px,
            "normals_valid_fraction": s["normals_valid"] / px,
            "normals_norm_mean": s["normals_norm_sum"] / max(s["normals_valid"], 1),
            "normals_norm_range": [self.norm_min, self.norm_max] if s["normals_valid"] else None,
            "normals_norm_off_fraction": s["normals_norm_off"] / max(s["normals_valid"], 1),
        }
        if "depth" in self.spec.tasks:
            out["depth_range_m"] = [self.depth_min, self.depth_max] if self.depth_max > 0 else None
            out["depth_zero_fraction"] = s["depth_zero"] / px
        if self.spec.name == "nyudv2":
            out["normals_png_grey_fraction"] = s["normals_png_grey"] / px
        if self.spec.name != "pascal_context":
            out["edge_nonbinary_fraction"] = s["edge_nonbinary"] / px
        if "human_parts" in self.spec.tasks:
            out["images_with_parts"] = s["parts_images"]
        if "sal" in self.spec.tasks:
            out["sal_positive_ratio"] = s["sal_pos"] / px
        return out


def format_summary(split: str, summary: dict[str, Any]) -> str:
    """One line per split for the console: the numbers a user compares with the protocol."""
    sizes = summary["sizes"]
    top = ", ".join(f"{k}: {v}" for k, v in list(sizes.items())[:3])
    more = f" (+{len(sizes) - 3} more sizes)" if len(sizes) > 3 else ""
    parts = [f"{split}: {summary['images']} images [{top}{more}]"]
    if summary.get("depth_range_m"):
        lo, hi = summary["depth_range_m"]
        parts.append(f"depth {lo:.3g}-{hi:.3g} m, zeros {summary['depth_zero_fraction']:.2%}")
    parts.append(f"edge+ {summary['edge_positive_ratio']:.2%}")
    parts.append(f"normals valid {summary['normals_valid_fraction']:.2%} (|n| mean {summary['normals_norm_mean']:.3f})")
    if "normals_png_grey_fraction" in summary:
        parts.append(f"normals grey/black {summary['normals_png_grey_fraction']:.2%}")
    if "images_with_parts" in summary:
        parts.append(f"with parts {summary['images_with_parts']}")
    if "sal_positive_ratio" in summary:
        parts.append(f"sal+ {summary['sal_positive_ratio']:.2%}")
    parts.append(f"semseg ignore {summary['semseg_ignore_fraction']:.2%}, classes {summary['semseg_classes_present']}")
    return "; ".join(parts)
