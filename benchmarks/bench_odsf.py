"""Per-image CPU time and ODS / OIS / AP of the Python odsF, old matcher against new, at 128×160 and NYUD size
(425×560), measured side by side in one run on the same synthetic, network-like edge maps (nms variant: NMS chain +
101 HED thresholds, maxDist 0.011).

* old: ``EdgeMeter(matcher="bsds")``, pyEdgeEval's build of BSDS's C++ ``correspondPixels`` per threshold,
  reseeded with ``MATCHER_SEED`` = 1 (the default); timed.
* new: ``EdgeMeter(matcher="fast")`` (the default; ``metrics/edges/matching.py``: the same assignment problem,
  random outlier graph included, built in NumPy and solved by SciPy), ``MATCHER_SEED`` = 1; timed.
* noise: both matchers again with the other ``--seeds`` (2, 3, …). The spread of ODS / OIS / AP over the BSDS
  seeds is the matcher's own run-to-run noise (its outlier graph is random); "unchanged results" means the two
  matchers' seed means differ by no more than that noise.
* plain: the "plain" variant (99 thresholds, no NMS) on the new matcher, at 425×560, for the nms / plain ratio.

The maps: GT = 1-px boundaries of a random Voronoi partition (NYUD-like density); prediction = a soft ridge around
each GT boundary, displaced by up to ~1 px, with per-boundary strength, weaker clutter ridges of another partition
and smooth background noise.

    taskset -c 1 python benchmarks/bench_odsf.py [--n-small 8] [--n-large 2] [--seeds 3] [--seed 0]
    # writes benchmarks/out/odsf.json, prints markdown tables
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

from mtcontrast.metrics.edges import EdgeMeter, bsds
from mtcontrast.tasks import dataset_spec

OUT = Path(__file__).resolve().parent / "out"
SIZES = ((128, 160), (425, 560))


def _partition(rng: np.random.Generator, n: int, shape: tuple[int, int]) -> np.ndarray:
    """Voronoi regions of ``n`` random seeds (a label map)."""
    H, W = shape
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


def synthetic_pair(rng: np.random.Generator, shape: tuple[int, int] = (425, 560)) -> tuple[np.ndarray, np.ndarray]:
    """(probability map, binary GT edges); the number of regions scales with the area (40 at 425×560)."""
    H, W = shape
    scale = float(np.sqrt(H * W / (425 * 560)))
    labels = _partition(rng, max(6, round(40 * scale**2)), shape)
    gt = _boundaries(labels)
    # displace the predicted boundaries by a smooth field of up to ~1 px
    sigma = 25 * scale
    dy, dx = (ndimage.gaussian_filter(rng.normal(size=(H, W)), sigma) * 60 * scale for _ in range(2))
    yy, xx = np.mgrid[0:H, 0:W]
    moved = ndimage.map_coordinates(labels, [yy + dy, xx + dx], order=0, mode="nearest")
    per_region = rng.uniform(0.35, 1.0, labels.max() + 1)  # some boundaries are weak
    pred = _ridge(_boundaries(moved), per_region[moved], 1.3)
    n_clutter = max(4, round(25 * scale**2))
    clutter = _partition(rng, n_clutter, shape)
    pred = np.maximum(pred, _ridge(_boundaries(clutter), rng.uniform(0.05, 0.35, n_clutter + 1)[clutter], 1.0))
    pred += 0.05 * ndimage.gaussian_filter(rng.random((H, W)), 3)
    return np.clip(pred, 0.0, 1.0), gt.astype(np.uint8)


def _score(
    pairs: list[tuple[np.ndarray, np.ndarray]], matcher: str, *, nms: bool = True, seed: int = 1
) -> dict[str, Any]:
    """One pass of EdgeMeter over ``pairs``: CPU seconds per image (process time) and the summary."""
    bsds.MATCHER_SEED = seed  # read by both matchers before each call
    meter = EdgeMeter(dataset_spec("nyudv2").edge_max_dist, nms=nms, matcher=matcher)
    t0, w0 = time.process_time(), time.perf_counter()
    for i, (pred, gt) in enumerate(pairs):
        meter.update(pred, gt, id=str(i))
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    bsds.MATCHER_SEED = 1
    out = meter.compute()
    return {
        "matcher": matcher,
        "variant": "nms" if nms else "plain",
        "seed": seed,
        "cpu_seconds_per_image": cpu / len(pairs),
        "wall_seconds_per_image": wall / len(pairs),
        **{key: out[key] for key in ("odsf", "oisf", "ap", "ods_threshold")},
        "sum_p_lowest_threshold": float(np.mean(meter.state()["image/sum_p"][:, 0])),
        "cnt_r": meter.state()["image/cnt_r"].sum(axis=0).tolist(),
    }


def _size_block(shape: tuple[int, int], n: int, seeds: int, rng: np.random.Generator) -> dict[str, Any]:
    pairs = [synthetic_pair(rng, shape) for _ in range(n)]
    runs = {matcher: [_score(pairs, matcher, seed=s) for s in range(1, seeds + 1)] for matcher in ("bsds", "fast")}
    metrics = ("odsf", "oisf", "ap")
    summary: dict[str, Any] = {}
    for matcher, rows in runs.items():
        values = {m: [r[m] for r in rows] for m in metrics}
        summary[matcher] = {
            "mean": {m: float(np.mean(v)) for m, v in values.items()},
            "sd": {m: float(np.std(v, ddof=1)) if seeds > 1 else 0.0 for m, v in values.items()},
            "range": {m: [min(v), max(v)] for m, v in values.items()},
        }
    cnt = {matcher: np.asarray([r["cnt_r"] for r in rows], dtype=np.float64) for matcher, rows in runs.items()}
    return {
        "image_size": list(shape),
        "images": n,
        "gt_edge_ratio": float(np.mean([gt.mean() for _, gt in pairs])),
        "runs": runs,
        "seeds": summary,
        "speedup_cpu": runs["bsds"][0]["cpu_seconds_per_image"] / runs["fast"][0]["cpu_seconds_per_image"],
        "fast_minus_bsds_seed_means": {m: summary["fast"]["mean"][m] - summary["bsds"]["mean"][m] for m in metrics},
        # matched GT pixels summed over images, per threshold: seed means of the two matchers, next to the spread
        "matched_mean_gap_max_over_thresholds": float(np.abs(cnt["fast"].mean(0) - cnt["bsds"].mean(0)).max()),
        "matched_bsds_seed_spread_max_over_thresholds": float((cnt["bsds"].max(0) - cnt["bsds"].min(0)).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-small", type=int, default=8, help="images at 128×160")
    parser.add_argument("--n-large", type=int, default=2, help="images at 425×560")
    parser.add_argument("--seeds", type=int, default=3, help="matcher seeds per matcher (seed 1 is the timed one)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic maps")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    blocks = [_size_block(shape, n, args.seeds, rng) for shape, n in zip(SIZES, (args.n_small, args.n_large))]
    large_pairs = [synthetic_pair(np.random.default_rng(args.seed + 1)) for _ in range(args.n_large)]
    plain = _score(large_pairs, "fast", nms=False)
    nms_new = _score(large_pairs, "fast")
    result = {
        "max_dist": dataset_spec("nyudv2").edge_max_dist,
        "sizes": blocks,
        "plain_variant_new_matcher_425x560": plain,
        "nms_over_plain_time_ratio_new_matcher": nms_new["cpu_seconds_per_image"] / plain["cpu_seconds_per_image"],
        "nyud_val_654_images_minutes_one_process": {
            "old": blocks[-1]["runs"]["bsds"][0]["cpu_seconds_per_image"] * 654 / 60,
            "new": blocks[-1]["runs"]["fast"][0]["cpu_seconds_per_image"] * 654 / 60,
        },
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "odsf.json").write_text(json.dumps(result, indent=2))
    print(f"odsF, nms variant (101 thresholds), maxDist 0.011, matcher seeds 1..{args.seeds}\n")
    print("| size | images | matcher | CPU s / image (seed 1) | odsF | oisF | AP |")
    print("|---|---|---|---|---|---|---|")
    for b in blocks:
        size = "×".join(map(str, b["image_size"]))
        for matcher, label in (("bsds", "bsds (C++)"), ("fast", "fast (default)")):
            stats = b["seeds"][matcher]
            cells = " | ".join(
                f"{stats['mean'][m]:.3f} ± {stats['sd'][m]:.3f} ({stats['range'][m][0]:.3f}–{stats['range'][m][1]:.3f})"
                for m in ("odsf", "oisf", "ap")
            )
            print(
                f"| {size} | {b['images']} | {label} | {b['runs'][matcher][0]['cpu_seconds_per_image']:.3f} | {cells} |"
            )
    print("\n(mean ± sd over seeds, range in brackets)\n")
    for b in blocks:
        size = "×".join(map(str, b["image_size"]))
        diff = ", ".join(f"{m} {v:+.3f}" for m, v in b["fast_minus_bsds_seed_means"].items())
        print(
            f"{size}: speed-up {b['speedup_cpu']:.1f}×; mean(fast) − mean(bsds): {diff}; matched-pixel gap of the "
            f"seed means ≤ {b['matched_mean_gap_max_over_thresholds']:.1f} vs BSDS seed spread ≤ "
            f"{b['matched_bsds_seed_spread_max_over_thresholds']:.0f}"
        )
    print(
        f"\nnms / plain CPU ratio (new matcher): {result['nms_over_plain_time_ratio_new_matcher']:.2f}; NYUD val "
        f"(654 images) in one process: old {result['nyud_val_654_images_minutes_one_process']['old']:.1f} min, "
        f"new {result['nyud_val_654_images_minutes_one_process']['new']:.1f} min"
    )
    print(f"written: {OUT / 'odsf.json'}")


if __name__ == "__main__":
    main()
