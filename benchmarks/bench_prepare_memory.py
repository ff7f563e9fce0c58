"""Peak RSS of ``prepare`` at two dataset sizes, each in a fresh subprocess (``ru_maxrss``), to show that memory
is bounded by one sample, not by N. Datasets: NYUDv2 layout at 425×560 (n train + n/2 val) written with the real
layout writers (see bench_loading.py).

    python benchmarks/bench_prepare_memory.py [--sizes 40 160]   # writes benchmarks/out/prepare_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
BYTES_PER_SAMPLE = 425 * 560 * (3 + 1 + 4 + 12 + 1)  # decoded image, semseg, depth, normals (float32), edge


def _current_rss_kb() -> int:
    """Resident set now (Linux /proc); ``ru_maxrss`` alone cannot tell the import spike from prepare's own use."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(root: Path, prepared: Path) -> None:
    """Runs in the fresh subprocess: import, note the resident set, prepare, report the peak."""
    from mtcontrast.config import DataParams
    from mtcontrast.data import prepare_dataset

    base_kb = _current_rss_kb()
    t0 = time.perf_counter()
    summary = prepare_dataset(
        DataParams(dataset="nyudv2", root=root, prepared_dir=prepared, name="mem"), progress=False
    )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "images": sum(summary.counts.values()),
                "baseline_mb": base_kb / 1024,
                "peak_mb": peak_kb / 1024,
                "seconds": time.perf_counter() - t0,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[40, 160], help="train samples (val gets n/2)")
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "PREPARED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_loading import write_nyud_bench

    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench_mem_") as tmp:
            write_nyud_bench(Path(tmp) / "raw", n)
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(Path(tmp) / "raw"), str(Path(tmp) / "prepared")],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["all_in_memory_mb"] = row["images"] * BYTES_PER_SAMPLE / 2**20
            rows.append(row)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "prepare_memory.json").write_text(json.dumps({"benchmark": "prepare_memory", "rows": rows}, indent=2))
    print(
        "\n| images (train+val) | peak RSS MB | RSS after imports MB | peak − imports MB | prepare s | "
        "decoded set in RAM would be MB |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        growth = r["peak_mb"] - r["baseline_mb"]
        print(
            f"| {r['images']} | {r['peak_mb']:.0f} | {r['baseline_mb']:.0f} | {growth:.0f} | {r['seconds']:.1f} | "
            f"{r['all_in_memory_mb']:.0f} |"
        )
    if len(rows) > 1:
        print(
            f"\npeak RSS ratio largest/smallest: {rows[-1]['peak_mb'] / rows[0]['peak_mb']:.2f} "
            f"for {rows[-1]['images'] / rows[0]['images']:.0f}× the images"
        )


if __name__ == "__main__":
    main()
