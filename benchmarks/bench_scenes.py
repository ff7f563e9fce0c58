"""Procedural-scenes throughput on one core: images/s of ``generate_scenes`` (render + all file writes) per layout at
128×160, next to the render-only rate, against the ≥ 20 images/s target.

Runs pinned to one CPU with OMP / MKL / OpenBLAS threads = 1 and without importing torch; each rate is the best of
``--repeats`` runs (the machine is shared, so the best run is the least disturbed one).

    python benchmarks/bench_scenes.py [--n 80] [--repeats 3]   # writes benchmarks/out/scenes.json, prints a table
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from mtcontrast.config import ScenesParams  # noqa: E402
from mtcontrast.scenes import generate_scenes, render_nyud, render_pascal, sample_rng  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
TARGET = 20.0  # images/s at 128×160 on one core, including the file writes


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "not pinned (no sched_setaffinity)"


def _best_rate(run: Any, n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return n / best


def bench(n: int, repeats: int) -> dict[str, Any]:
    val = max(1, n // 4)
    base = ScenesParams(image_size=(128, 160), pascal_max_side=160, train=n - val, val=val)
    render_rate = {}
    for family, render in (("nyud", render_nyud), ("pascal", render_pascal)):

        def render_only(family: Any = family, render: Any = render) -> None:
            for k in range(n):
                render(sample_rng(base.seed, family, "train", k), base)

        render_rate[family] = _best_rate(render_only, n, repeats)
    rows = []
    for layout in ("nyudv2", "nyud_mt", "pascal_context"):
        with tempfile.TemporaryDirectory() as tmp:
            params = base.model_copy(update={"out_dir": Path(tmp), "layouts": [layout]})

            def generate(p: ScenesParams = params) -> None:
                with contextlib.redirect_stdout(io.StringIO()):
                    generate_scenes(p, progress=False)

            total = _best_rate(generate, n, repeats)
            size = sum(f.stat().st_size for f in (Path(tmp) / layout).rglob("*") if f.is_file())
        rendered = render_rate["pascal" if layout == "pascal_context" else "nyud"]
        rows.append(
            {
                "layout": layout,
                "images": n,
                "images_per_s": round(total, 1),
                "render_only_per_s": round(rendered, 1),
                "ms_per_image": round(1000.0 / total, 1),
                "write_ms_per_image": round(max(1000.0 / total - 1000.0 / rendered, 0.0), 1),
                "kb_per_image": round(size / n / 1024, 1),
                "meets_target": total >= TARGET,
            }
        )
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=80, help="images per layout (train + val)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pinned = _pin_one_core()
    result = bench(args.n, args.repeats)
    result.update(
        {
            "image_size": [128, 160],
            "target_images_per_s": TARGET,
            "pinned": pinned,
            "threads": 1,
            "torch_imported": "torch" in sys.modules,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scenes.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"scenes throughput, 128×160, one core ({pinned}), best of {args.repeats}; target ≥ {TARGET:.0f} images/s")
    print()
    print("| layout | images/s (render + write) | render only | write ms/img | KB/img | ≥ target |")
    print("|---|---|---|---|---|---|")
    for r in result["rows"]:
        print(
            f"| {r['layout']} | {r['images_per_s']} | {r['render_only_per_s']} | {r['write_ms_per_image']} "
            f"| {r['kb_per_image']} | {'yes' if r['meets_target'] else 'NO'} |"
        )
    print(f"\ntorch imported: {result['torch_imported']}; 1-min load average: {result['load_average_1min']}")


if __name__ == "__main__":
    main()
