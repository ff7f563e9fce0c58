"""A tiny NYUDv2-layout dataset written through the real layout writers, shared by the integration tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mtcontrast.data.layouts import write_nyud_sample, write_nyud_splits


def write_tiny_nyud(
    raw: Path,
    train_ids: Sequence[str],
    val_ids: Sequence[str],
    size: tuple[int, int],
    semseg: Callable[[np.ndarray, int], np.ndarray],
) -> None:
    """Random images / depth / normals, a grid of edges and ``semseg(pixel_index_map, k)`` labels for image k;
    plus split files and the scenes manifest that tells the adapter the expected counts and size."""
    h, w = size
    rng = np.random.default_rng(0)
    idx = np.arange(h * w).reshape(h, w)
    for k, sid in enumerate([*train_ids, *val_ids]):
        normals = rng.normal(size=(h, w, 3)).astype(np.float32)
        write_nyud_sample(
            raw,
            "nyudv2",
            sid,
            image=rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8),
            semseg=semseg(idx, k).astype(np.uint8),
            depth=rng.uniform(0.5, 9.5, size=(h, w)).astype(np.float32),
            normals=normals / np.linalg.norm(normals, axis=-1, keepdims=True),
            edge=(idx % 11 == 0).astype(np.uint8),
        )
    write_nyud_splits(raw, {"train": list(train_ids), "val": list(val_ids)})
    manifest = {
        "layout": "nyudv2",
        "counts": {"train": len(train_ids), "val": len(val_ids)},
        "image_size": [h, w],
        "max_side": w,
    }
    (raw / "scenes_manifest.json").write_text(json.dumps(manifest))
