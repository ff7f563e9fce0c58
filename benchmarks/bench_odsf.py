"""Time per image of the Python odsF at NYUD size (425×560): the default "nms" variant (NMS chain + 101 HED
thresholds, one BSDS correspondence each) against the "plain" variant (99 thresholds, no NMS), measured side by
side in one run on the same synthetic, network-like edge maps.

The maps: GT = 1-px boundaries of a random Voronoi partition (NYUD-like density); prediction = a soft ridge around
each GT boundary, displaced by up to ~1 px, with per-boundary strength, weaker clutter ridges of another partition
and smooth background noise.

    python benchmarks/bench_odsf.py [--n 3] [--seed 0]   # writes benchmarks/out/odsf.json, prints a markdown table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from mtcontrast.metrics.edges import EdgeMeter, seism_nms
from mtcontrast.tasks import dataset_spec

OUT = Path(__file__).resolve().parent / "out"
H, W = 425, 560


def _partition(rng: np.random.Generator, n: int) -> np.ndarray:
    """Voronoi regions of ``n`` random seeds (a label map)."""
    seeds = np.zeros((H, W), np.int32)
    seeds[rng.integers(0, H, n), rng.integers(0, W, n)] = np.arange(1, n + 1)
    _, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    return seeds[iy, ix]


def _boundaries(labels: np.ndarray) -> np.ndarray:
    """1-px boundary map (BSDS ``seg2bmap`` style: a pixel whose right / lower neighbour differs)."""
    b = np.zeros(labels.shape, bool)
    b[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    b[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return b


def _ridge(edges: np.ndarray, strength: np.ndarray, sigma: float) -> np.ndarray:
    """A soft ridge of height ``strength`` (per pixel of ``edges``) and width ``sigma`` around ``edges``."""
    dist, (iy, ix) = ndimage.distance_transform_edt(~edges, return_indices=True)
    return strength[iy, ix] * np.exp(-(dist**2) / (2 * sigma**2))


def synthetic_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = _partition(rng, 40)
    gt = _boundaries(labels)
    # displace the predicted boundaries by a smooth field of up to ~1 px
    dy, dx = (ndimage.gaussian_filter(rng.normal(size=(H, W)), 25) * 60 for _ in range(2))
    yy, xx = np.mgrid[0:H, 0:W]
    moved = ndimage.map_coordinates(labels, [yy + dy, xx + dx], order=0, mode="nearest")
    per_region = rng.uniform(0.35, 1.0, labels.max() + 1)  # some boundaries are weak
    pred = _ridge(_boundaries(moved), per_region[moved], 1.3)
    clutter = _partition(rng, 25)
    pred = np.maximum(pred, _ridge(_boundaries(clutter), rng.uniform(0.05, 0.35, 26)[clutter], 1.0))
    pred += 0.05 * ndimage.gaussian_filter(rng.random((H, W)), 3)
    return np.clip(pred, 0.0, 1.0), gt.astype(np.uint8)


def _time_variant(nms: bool, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    max_dist = dataset_spec("nyudv2").edge_max_dist
    meter = EdgeMeter(max_dist, nms=nms)
    nms_seconds = []
    t0 = time.perf_counter()
    for i, (pred, gt) in enumerate(pairs):
        if nms:
            t = time.perf_counter()
            seism_nms(pred.astype(np.float32))
            nms_seconds.append(time.perf_counter() - t)
        meter.update(pred, gt, id=str(i))
    total = time.perf_counter() - t0 - sum(nms_seconds)  # the NMS timing pass is not part of the meter's time
    out = meter.compute()
    return {
        "variant": "nms" if nms else "plain",
        "thresholds": int(meter.thresholds.size),
        "seconds_per_image": total / len(pairs),
        "nms_seconds_per_image": float(np.mean(nms_seconds)) if nms else 0.0,
        "odsf": out["odsf"],
        "oisf": out["oisf"],
        "ap": out["ap"],
        "predicted_pixels_at_lowest_threshold": float(np.mean(meter.state()["image/sum_p"][:, 0])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3, help="images per variant")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    pairs = [synthetic_pair(rng) for _ in range(args.n)]
    gt_ratio = float(np.mean([gt.mean() for _, gt in pairs]))
    rows = [_time_variant(True, pairs), _time_variant(False, pairs)]
    ratio = rows[0]["seconds_per_image"] / rows[1]["seconds_per_image"]
    result = {
        "image_size": [H, W],
        "images": args.n,
        "gt_edge_ratio": gt_ratio,
        "max_dist": dataset_spec("nyudv2").edge_max_dist,
        "variants": rows,
        "nms_over_plain_time_ratio": ratio,
        "nyud_val_654_images_minutes_one_process": rows[0]["seconds_per_image"] * 654 / 60,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "odsf.json").write_text(json.dumps(result, indent=2))
    print(f"odsF timing, {args.n} synthetic {H}×{W} images, GT edge ratio {gt_ratio:.3f}, maxDist 0.011\n")
    print("| variant | thresholds | s / image | of which NMS | odsF | oisF | AP | pred px at lowest t |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['thresholds']} | {r['seconds_per_image']:.2f} | {r['nms_seconds_per_image']:.3f} "
            f"| {r['odsf']:.2f} | {r['oisf']:.2f} | {r['ap']:.2f} | {r['predicted_pixels_at_lowest_threshold']:.0f} |"
        )
    print(
        f"\nnms / plain time ratio: {ratio:.2f}; NYUD val (654 images) in one process: "
        f"{result['nyud_val_654_images_minutes_one_process']:.1f} min"
    )
    print(f"written: {OUT / 'odsf.json'}")


if __name__ == "__main__":
    main()
