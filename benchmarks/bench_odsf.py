"""Per-image CPU time and ODS / OIS / AP of the Python odsF, old matcher against new, at 128×160 and NYUD size
(425×560), measured side by side in one run on the same synthetic, network-like edge maps (nms variant: NMS chain +
101 HED thresholds, maxDist 0.011).

* old: ``EdgeMeter(matcher="bsds")`` (the default), pyEdgeEval's BSDS ``correspondPixels`` per threshold, reseeded with
  ``MATCHER_SEED`` = 1 (the default); timed.
* noise: the same BSDS matcher reseeded with the other ``--seeds`` (2, 3, …): the matcher's own run-to-run noise of
  ODS / OIS / AP (its outlier graph is random), reported as the spread over all BSDS seeds.
* new: ``EdgeMeter(matcher="exact")`` (``metrics/edges/matching.py``), deterministic; timed.
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
    bsds.MATCHER_SEED = seed  # read by the BSDS matcher's reseed before each call
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
        "seed": seed if matcher == "bsds" else None,
        "cpu_seconds_per_image": cpu / len(pairs),
        "wall_seconds_per_image": wall / len(pairs),
        **{key: out[key] for key in ("odsf", "oisf", "ap", "ods_threshold")},
        "sum_p_lowest_threshold": float(np.mean(meter.state()["image/sum_p"][:, 0])),
        "cnt_r": meter.state()["image/cnt_r"].sum(axis=0).tolist(),
    }


def _size_block(shape: tuple[int, int], n: int, seeds: int, rng: np.random.Generator) -> dict[str, Any]:
    pairs = [synthetic_pair(rng, shape) for _ in range(n)]
    old = [_score(pairs, "bsds", seed=s) for s in range(1, seeds + 1)]
    new = _score(pairs, "exact")
    metrics = ("odsf", "oisf", "ap")
    spread = {m: [min(r[m] for r in old), max(r[m] for r in old)] for m in metrics}
    noise_sd = {m: float(np.std([r[m] for r in old], ddof=1)) if seeds > 1 else 0.0 for m in metrics}
    cnt_old = np.asarray([r["cnt_r"] for r in old], dtype=np.float64)
    cnt_new = np.asarray(new["cnt_r"], dtype=np.float64)
    return {
        "image_size": list(shape),
        "images": n,
        "gt_edge_ratio": float(np.mean([gt.mean() for _, gt in pairs])),
        "old_seed1": old[0],
        "old_other_seeds": old[1:],
        "new": new,
        "speedup_cpu": old[0]["cpu_seconds_per_image"] / new["cpu_seconds_per_image"],
        "bsds_seed_range": spread,
        "bsds_seed_sd": noise_sd,
        "new_minus_old_seed1": {m: new[m] - old[0][m] for m in metrics},
        "new_minus_bsds_seed_mean": {m: new[m] - float(np.mean([r[m] for r in old])) for m in metrics},
        # matched GT pixels summed over images, per threshold: new ≥ BSDS; the gap next to the seeds' spread
        "matched_gap_max_over_thresholds": float((cnt_new - cnt_old.mean(axis=0)).max()),
        "matched_seed_spread_max_over_thresholds": float((cnt_old.max(axis=0) - cnt_old.min(axis=0)).max()),
        "new_below_any_bsds_seed": bool((cnt_new < cnt_old).any()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-small", type=int, default=8, help="images at 128×160")
    parser.add_argument("--n-large", type=int, default=2, help="images at 425×560")
    parser.add_argument("--seeds", type=int, default=3, help="BSDS matcher seeds (1 = the timed old path)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic maps")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    blocks = [_size_block(shape, n, args.seeds, rng) for shape, n in zip(SIZES, (args.n_small, args.n_large))]
    large_pairs = [synthetic_pair(np.random.default_rng(args.seed + 1)) for _ in range(args.n_large)]
    plain = _score(large_pairs, "exact", nms=False)
    nms_new = _score(large_pairs, "exact")
    result = {
        "max_dist": dataset_spec("nyudv2").edge_max_dist,
        "sizes": blocks,
        "plain_variant_new_matcher_425x560": plain,
        "nms_over_plain_time_ratio_new_matcher": nms_new["cpu_seconds_per_image"] / plain["cpu_seconds_per_image"],
        "nyud_val_654_images_minutes_one_process": {
            "old": blocks[-1]["old_seed1"]["cpu_seconds_per_image"] * 654 / 60,
            "new": blocks[-1]["new"]["cpu_seconds_per_image"] * 654 / 60,
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
    print(f"odsF, nms variant (101 thresholds), maxDist 0.011, BSDS seeds 1..{args.seeds}\n")
    print("| size | images | matcher | CPU s / image | odsF | oisF | AP |")
    print("|---|---|---|---|---|---|---|")
    for b in blocks:
        size = "×".join(map(str, b["image_size"]))
        for label, r in (("old: bsds, seed 1", b["old_seed1"]), ("new: exact", b["new"])):
            print(
                f"| {size} | {b['images']} | {label} | {r['cpu_seconds_per_image']:.3f} "
                f"| {r['odsf']:.3f} | {r['oisf']:.3f} | {r['ap']:.3f} |"
            )
        rng_txt = " | ".join(f"{lo:.3f}–{hi:.3f}" for lo, hi in b["bsds_seed_range"].values())
        print(f"| {size} | {b['images']} | bsds, range over seeds | – | {rng_txt} |")
    print()
    for b in blocks:
        size = "×".join(map(str, b["image_size"]))
        diff = ", ".join(f"{m} {v:+.3f}" for m, v in b["new_minus_bsds_seed_mean"].items())
        sd = ", ".join(f"{m} {v:.3f}" for m, v in b["bsds_seed_sd"].items())
        print(
            f"{size}: speed-up {b['speedup_cpu']:.1f}×; new − mean(bsds seeds): {diff}; bsds seed sd: {sd}; "
            f"matched-pixel gap ≤ {b['matched_gap_max_over_thresholds']:.1f} vs seed spread ≤ "
            f"{b['matched_seed_spread_max_over_thresholds']:.0f}"
        )
    print(
        f"\nnms / plain CPU ratio (new matcher): {result['nms_over_plain_time_ratio_new_matcher']:.2f}; NYUD val "
        f"(654 images) in one process: old {result['nyud_val_654_images_minutes_one_process']['old']:.1f} min, "
        f"new {result['nyud_val_654_images_minutes_one_process']['new']:.1f} min"
    )
    print(f"written: {OUT / 'odsf.json'}")


if __name__ == "__main__":
    main()
