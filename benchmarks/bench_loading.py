"""Samples/s reading the prepared HDF5 (``PreparedSplit``) vs decoding the raw layout through the adapter, side by
side in one run, for a NYUDv2-layout (425×560) and a PASCAL-layout (longer side 500) dataset written with the real
layout writers, plus the prepared file size per compression.

    python benchmarks/bench_loading.py [--n 40]     # writes benchmarks/out/loading.json, prints a markdown table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mtcontrast.config import DataParams
from mtcontrast.data import PreparedSplit, prepare_dataset
from mtcontrast.data.adapters import build_adapter
from mtcontrast.data.layouts import (
    PascalObject,
    PascalPart,
    write_nyud_sample,
    write_nyud_splits,
    write_pascal_sample,
    write_pascal_splits,
)

OUT = Path(__file__).resolve().parent / "out"
CONTEXT_IDS = [440, 158, 68, 360, 187, 44, 420, 324, 72, 397, 65]  # wall floor ceiling sky grass ... (mixed set)


def _regions(rng: np.random.Generator, h: int, w: int, n: int) -> np.ndarray:
    """Piecewise-constant region ids from random rectangles: label-like maps with realistic compressibility."""
    ids = np.zeros((h, w), dtype=np.int32)
    for k in range(1, n + 1):
        r0, c0 = rng.integers(0, h - 8), rng.integers(0, w - 8)
        ids[r0 : r0 + rng.integers(8, h // 2), c0 : c0 + rng.integers(8, w // 2)] = k
    return ids


def _image(rng: np.random.Generator, regions: np.ndarray) -> np.ndarray:
    colours = rng.integers(0, 256, (regions.max() + 1, 3))
    noise = rng.normal(0, 6, regions.shape + (3,))
    return np.clip(colours[regions] + noise, 0, 255).astype(np.uint8)


def _normals(rng: np.random.Generator, regions: np.ndarray) -> np.ndarray:
    table = rng.normal(size=(regions.max() + 1, 3))
    table[:, 2] = np.abs(table[:, 2]) + 0.5
    table /= np.linalg.norm(table, axis=1, keepdims=True)
    return table[regions].astype(np.float32)


def _boundaries(regions: np.ndarray) -> np.ndarray:
    edge = np.zeros(regions.shape, dtype=np.uint8)
    edge[:-1] |= (regions[:-1] != regions[1:]).astype(np.uint8)
    edge[:, :-1] |= (regions[:, :-1] != regions[:, 1:]).astype(np.uint8)
    return edge


def write_nyud_bench(root: Path, n: int, size: tuple[int, int] = (425, 560), seed: int = 0) -> None:
    """``n`` train and ``n // 2`` val NYUDv2-layout samples at the package's size."""
    rng = np.random.default_rng(seed)
    h, w = size
    splits = {"train": [f"{i:04d}" for i in range(1, n + 1)], "val": [f"{i:04d}" for i in range(5001, 5001 + n // 2)]}
    yy = np.linspace(1.0, 6.0, h, dtype=np.float32)[:, None]
    for sid in splits["train"] + splits["val"]:
        regions = _regions(rng, h, w, 12)
        depth = np.broadcast_to(yy, (h, w)) + 0.3 * regions.astype(np.float32)
        depth = np.where(rng.random((h, w)) < 0.01, 0.0, depth).astype(np.float32)
        write_nyud_sample(
            root,
            "nyudv2",
            sid,
            image=_image(rng, regions),
            semseg=(regions % 40 + 1).astype(np.uint8),
            depth=depth,
            normals=_normals(rng, regions),
            edge=_boundaries(regions),
        )
    write_nyud_splits(root, splits)
    (root / "scenes_manifest.json").write_text(
        json.dumps({"layout": "nyudv2", "counts": {s: len(v) for s, v in splits.items()}, "image_size": [h, w]})
    )


def write_pascal_bench(root: Path, n: int, max_side: int = 500, seed: int = 0) -> None:
    """``n`` train and ``n // 2`` val PASCAL-layout samples with varied aspect ratios; half hold a person with
    parts (so the PASCAL-Part file is parsed and painted)."""
    rng = np.random.default_rng(seed)
    splits = {"train": [f"2008_{i:06d}" for i in range(n)], "val": [f"2009_{i:06d}" for i in range(n // 2)]}
    cache: dict[str, dict[str, list[int]]] = {"train": {}, "val": {}}
    for split in splits:
        for k, sid in enumerate(splits[split]):
            short = int(rng.integers(300, max_side + 1))
            h, w = (short, max_side) if k % 3 else (max_side, short)
            regions = _regions(rng, h, w, 10)
            labelmap = np.asarray(CONTEXT_IDS, dtype=np.uint16)[regions % len(CONTEXT_IDS)]
            semseg = np.where(np.isin(labelmap, (72, 397, 65)), 9, 0).astype(np.uint8)
            objects = []
            if k % 2 == 0:
                person = np.zeros((h, w), bool)
                person[h // 3 :, w // 4 : w // 2] = True
                labelmap[person], semseg[person] = 284, 15
                rows = np.array_split(np.flatnonzero(person.any(1)), 4)
                names = ["head", "torso", "luleg", "llleg"]
                parts = []
                for name, r in zip(names, rows, strict=True):
                    mask = np.zeros_like(person)
                    mask[r] = person[r]
                    parts.append(PascalPart(name, mask))
                objects.append(PascalObject("person", 15, person, parts))
            write_pascal_sample(
                root,
                sid,
                image=_image(rng, regions),
                labelmap=labelmap,
                semseg=semseg,
                objects=objects,
                normals=_normals(rng, regions),
                sal=(regions % 3 == 0).astype(np.float32),
            )
            cache[split][sid] = [15] if objects else []
    write_pascal_splits(root, splits, cache)
    manifest = {"layout": "pascal_context", "counts": {s: len(v) for s, v in splits.items()}, "max_side": max_side}
    (root / "scenes_manifest.json").write_text(json.dumps(manifest))


def _rate(fn: Any, n: int, repeats: int = 3) -> tuple[float, float]:
    """Best-of-``repeats`` samples/s of calling ``fn(i)`` for i < n, by process CPU time (robust on a shared
    machine) and by wall time. Files are in the page cache for both paths, so this compares decoding work."""
    cpu = wall = float("inf")
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        for i in range(n):
            fn(i)
        cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - w0)
    return n / cpu, n / wall


def _dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def bench(dataset: str, root: Path, work: Path, n: int) -> list[dict[str, Any]]:
    adapter = build_adapter(dataset, root)
    ids = adapter.split_ids("train")
    raw_cpu, raw_wall = _rate(lambda i: adapter.load("train", ids[i]), n)
    rows = []
    for compression in ("gzip", "lzf", "none"):
        params = DataParams(
            dataset=dataset, root=root, prepared_dir=work, name=f"{dataset}-{compression}", compression=compression
        )
        t0 = time.perf_counter()
        summary = prepare_dataset(params, progress=False, force=True)
        prep_s = time.perf_counter() - t0
        with PreparedSplit(summary.paths["train"]) as split:
            h5_cpu, h5_wall = _rate(lambda i: split[i], n)  # noqa: B023 (used immediately)
        rows.append(
            {
                "dataset": dataset,
                "compression": compression,
                "n": n,
                "raw_samples_per_s": raw_cpu,
                "prepared_samples_per_s": h5_cpu,
                "speedup": h5_cpu / raw_cpu,
                "raw_samples_per_s_wall": raw_wall,
                "prepared_samples_per_s_wall": h5_wall,
                "prepare_s": prep_s,
                "prepare_samples_per_s": (n + n // 2) / prep_s,
                "train_h5_mb": summary.paths["train"].stat().st_size / 2**20,
                "raw_dir_mb": _dir_bytes(root) / 2**20,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="train samples per dataset (val gets n/2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_loading_") as tmp:
        tmp_path = Path(tmp)
        write_nyud_bench(tmp_path / "nyudv2", args.n)
        write_pascal_bench(tmp_path / "pascal", args.n)
        rows = bench("nyudv2", tmp_path / "nyudv2", tmp_path / "prepared", args.n)
        rows += bench("pascal_context", tmp_path / "pascal", tmp_path / "prepared", args.n)
    result = {
        "benchmark": "loading",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rows": rows,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "loading.json").write_text(json.dumps(result, indent=2))
    print("\nsamples/s per CPU-second of one process (wall-clock in brackets), best of 3 passes over train")
    print(
        "| dataset | compression | raw adapter | PreparedSplit | speed-up | prepare (samples/s, wall) | "
        "train.h5 MB | raw folder MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['compression']} | "
            f"{r['raw_samples_per_s']:.1f} ({r['raw_samples_per_s_wall']:.1f}) "
            f"| {r['prepared_samples_per_s']:.1f} ({r['prepared_samples_per_s_wall']:.1f}) | {r['speedup']:.2f}× | "
            f"{r['prepare_samples_per_s']:.1f} | {r['train_h5_mb']:.1f} | {r['raw_dir_mb']:.1f} |"
        )


if __name__ == "__main__":
    main()
