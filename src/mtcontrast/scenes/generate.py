"""Write the procedural scenes to disk in the real raw layouts, atomically, with a ``scenes_manifest.json``.

Image k of a split depends only on (seed, family, split, k) through its own random stream, so subsets
(``--limit``), re-runs and different counts agree image by image; ``nyudv2`` and ``nyud_mt`` hold the same
frames in their two file formats. Each layout is generated into ``<out_dir>/<layout>.tmp-XXXX`` and renamed over
``<out_dir>/<layout>`` only when complete, so a failed or interrupted run never leaves a half-written dataset.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from tqdm import tqdm

from mtcontrast.config.scenes import ScenesParams
from mtcontrast.data.layouts import (
    NyudVariant,
    write_nyud_sample,
    write_nyud_splits,
    write_pascal_sample,
    write_pascal_splits,
)
from mtcontrast.scenes.indoor import render_nyud
from mtcontrast.scenes.pascal import render_pascal
from mtcontrast.tasks import HUMAN_PARTS_CLASSES, NYU40_CLASSES, PERSON_CLASS_INDEX, PERSON_PART_GROUPS, VOC_CLASSES

GENERATOR_VERSION = 2  # bump when the same params would produce different images
MANIFEST = "scenes_manifest.json"
SPLITS = ("train", "val")
Family = Literal["nyud", "pascal"]
_FAMILY_CODE = {"nyud": 0, "pascal": 1}
_NYUD_LAYOUTS = ("nyudv2", "nyud_mt")


def sample_rng(seed: int, family: Family, split: str, index: int) -> np.random.Generator:
    """The random stream of one image: a function of (seed, family, split, index) only."""
    return np.random.default_rng([seed % 2**63, _FAMILY_CODE[family], SPLITS.index(split), index])


def sample_id(family: Family, split: str, index: int) -> str:
    """NYUD ``0001``-style or PASCAL ``2008_000001``-style ids; train and val interleave (odd / even) so an id
    never depends on the split sizes."""
    number = 2 * index + 1 + SPLITS.index(split)
    return f"{number:04d}" if family == "nyud" else f"2008_{number:06d}"


@contextmanager
def _staging(out_dir: Path, layouts: list[str]) -> Iterator[dict[str, Path]]:
    """Temporary sibling folders, renamed over the final ones on success and removed on any failure."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for layout in layouts:  # leftovers of an interrupted run
        for stale in out_dir.glob(f"{layout}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = {layout: Path(tempfile.mkdtemp(prefix=f"{layout}.tmp-", dir=out_dir)) for layout in layouts}
    try:
        yield tmp
    except BaseException:
        for path in tmp.values():
            shutil.rmtree(path, ignore_errors=True)
        raise
    for layout, path in tmp.items():
        final = out_dir / layout
        if final.exists():
            shutil.rmtree(final)
        path.rename(final)


def _manifest(params: ScenesParams, layout: str, stats: dict[str, Any]) -> dict[str, Any]:
    nyud = layout in _NYUD_LAYOUTS
    return {
        "generator": "mtcontrast.scenes",
        "version": GENERATOR_VERSION,
        "layout": layout,
        "seed": params.seed,
        "counts": {"train": params.train, "val": params.val},
        "image_size": list(params.image_size) if nyud else None,
        "max_side": max(params.image_size) if nyud else params.pascal_max_side,
        "params": params.model_dump(mode="json"),
        "stats": stats,
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _generate_nyud(params: ScenesParams, roots: dict[str, Path], bar: tqdm) -> dict[str, Any]:
    hist = np.zeros(len(NYU40_CLASSES) + 1, dtype=np.int64)
    holes = pixels = 0
    depth_max = 0.0
    splits: dict[str, list[str]] = {}
    for split in SPLITS:
        ids = splits[split] = []
        for k in range(getattr(params, split)):
            sid = sample_id("nyud", split, k)
            s = render_nyud(sample_rng(params.seed, "nyud", split, k), params)
            for layout, root in roots.items():
                variant = cast(NyudVariant, layout)
                write_nyud_sample(
                    root, variant, sid, image=s.image, semseg=s.semseg, depth=s.depth, normals=s.normals, edge=s.edge
                )
            hist += np.bincount(s.semseg.ravel(), minlength=len(hist))
            holes += int((s.depth == 0).sum())
            pixels += s.depth.size
            depth_max = max(depth_max, float(s.depth.max()))
            ids.append(sid)
            bar.update()
    stats = {
        "classes_present": [int(c) for c in np.flatnonzero(hist[1:]) + 1],
        "unlabelled_fraction": round(float(hist[0] / max(hist.sum(), 1)), 5),
        "depth_hole_fraction": round(holes / max(pixels, 1), 5),
        "depth_max_m": round(depth_max, 3),
    }
    for layout, root in roots.items():
        write_nyud_splits(root, splits)
        _write_json(root / MANIFEST, _manifest(params, layout, stats))
    return stats


def _generate_pascal(params: ScenesParams, root: Path, bar: tqdm) -> dict[str, Any]:
    voc_hist = np.zeros(len(VOC_CLASSES), dtype=np.int64)
    part_hist = np.zeros(len(HUMAN_PARTS_CLASSES), dtype=np.int64)
    splits: dict[str, list[str]] = {}
    caches: dict[str, dict[str, list[int]]] = {}
    with_parts: dict[str, int] = {}
    for split in SPLITS:
        ids = splits[split] = []
        cache = caches[split] = {}
        with_parts[split] = 0
        for k in range(getattr(params, split)):
            sid = sample_id("pascal", split, k)
            s = render_pascal(sample_rng(params.seed, "pascal", split, k), params)
            write_pascal_sample(
                root,
                sid,
                image=s.image,
                labelmap=s.labelmap,
                semseg=s.semseg,
                objects=s.objects,
                normals=s.normals,
                sal=s.sal,
            )
            cache[sid] = s.parts_cache()
            with_parts[split] += PERSON_CLASS_INDEX in cache[sid]
            voc_hist += np.bincount(s.semseg[s.semseg != 255].ravel(), minlength=len(voc_hist))
            for obj in s.objects:
                for part in obj.parts:
                    part_hist[PERSON_PART_GROUPS[part.name]] += 1
            ids.append(sid)
            bar.update()
    part_hist[0] = sum(with_parts.values())
    stats = {
        "voc_classes_present": [int(c) for c in np.flatnonzero(voc_hist)],
        "part_classes_present": [int(c) for c in np.flatnonzero(part_hist)],
        "images_with_parts": with_parts,
    }
    write_pascal_splits(root, splits, caches)
    _write_json(root / MANIFEST, _manifest(params, "pascal_context", stats))
    return stats


def generate_scenes(params: ScenesParams, *, progress: bool = True) -> dict[str, Path]:
    """Write ``<out_dir>/<layout>/`` for every layout in ``params.layouts``; returns the folder of each."""
    layouts = list(dict.fromkeys(params.layouts))
    nyud = [layout for layout in layouts if layout in _NYUD_LAYOUTS]
    per_family = params.train + params.val
    total = per_family * (bool(nyud) + ("pascal_context" in layouts))
    out_dir = Path(params.out_dir)
    start = time.perf_counter()
    summary = []
    with _staging(out_dir, layouts) as tmp, tqdm(total=total, desc="scenes", unit="img", disable=not progress) as bar:
        if nyud:
            stats = _generate_nyud(params, {layout: tmp[layout] for layout in nyud}, bar)
            summary.append(f"NYU-40 classes {len(stats['classes_present'])}/{len(NYU40_CLASSES)}")
        if "pascal_context" in layouts:
            stats = _generate_pascal(params, tmp["pascal_context"], bar)
            summary.append(f"VOC classes {len(stats['voc_classes_present'])}/{len(VOC_CLASSES)}")
            summary.append(f"part classes {len(stats['part_classes_present'])}/{len(HUMAN_PARTS_CLASSES)}")
    seconds = time.perf_counter() - start
    print(
        f"scenes: {total} images ({', '.join(layouts)}) in {seconds:.1f} s, {total / max(seconds, 1e-9):.1f} images/s; "
        + "; ".join(summary)
        + f" -> {out_dir}"
    )
    return {layout: out_dir / layout for layout in layouts}
