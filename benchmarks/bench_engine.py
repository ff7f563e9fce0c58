"""Engine throughput at the CPU default (params.yaml), measured in one run on procedural scenes:

- training images/s per host (mtl_baseline, padnet, mtinet; 4 NYUD tasks, regulariser on), median step time;
- evaluation images/s of a trained `mtl_contrast` (forward, crop to native size, all four meters incl. odsF with
  `eval.workers` processes) and the same without the edge task, so the odsF share is visible;
- odsF seconds per image alone (NMS variant, 101 thresholds) at the scenes size.

    .venv/bin/python benchmarks/bench_engine.py [--steps 20] [--threads 2]

Writes benchmarks/out/engine.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from mtcontrast.config import load_params, resolve_variant
from mtcontrast.data import PreparedSplit, prepare_dataset
from mtcontrast.data.dataset import build_dataset
from mtcontrast.engine.evaluator import evaluate_variant
from mtcontrast.engine.optim import build_optimizer
from mtcontrast.engine.trainer import _param_groups, build_training_model, train_variant
from mtcontrast.metrics import EdgeMeter
from mtcontrast.scenes import generate_scenes

OUT = Path(__file__).resolve().parent / "out" / "engine.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="measured training steps per host (after 3 warm-up)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (CI machines have 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out: dict[str, object] = {"threads": args.threads, "steps": args.steps}
    with tempfile.TemporaryDirectory() as tmp:
        base = load_params(
            "params.yaml",
            [
                f"scenes.out_dir={tmp}/raw",
                f"data.root={tmp}/raw/nyudv2",
                f"data.prepared_dir={tmp}/prepared",
                f"train.runs_dir={tmp}/runs",
            ],
        )
        generate_scenes(base.scenes, progress=False)
        prepare_dataset(base.data, progress=False)
        train_rows = []
        for host in ("mtl_baseline", "padnet", "mtinet"):
            p = resolve_variant(base, "mtl_contrast").model_copy(deep=True)
            p.model.host = host
            model = build_training_model(p)
            opt = build_optimizer(p.train, _param_groups(model))
            ds = build_dataset(p, "train", tasks=model.host.tasks, seed=0)
            times = []
            for step in range(3 + args.steps):
                t0 = time.perf_counter()  # data loading included, as in training (num_workers=0)
                batch = default_collate(
                    [ds[(step * p.train.batch_size + i) % len(ds)] for i in range(p.train.batch_size)]
                )
                _, loss = model(batch, step)
                opt.zero_grad(set_to_none=True)
                loss.total.backward()
                opt.step()
                if step >= 3:
                    times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            train_rows.append(
                {
                    "host": host,
                    "batch": p.train.batch_size,
                    "size": list(p.train.crop_size),
                    "step_s": round(med, 4),
                    "images_per_s": round(p.train.batch_size / med, 2),
                }
            )
        out["train"] = train_rows

        short = load_params(
            "params.yaml",
            [
                f"scenes.out_dir={tmp}/raw",
                f"data.root={tmp}/raw/nyudv2",
                f"data.prepared_dir={tmp}/prepared",
                f"train.runs_dir={tmp}/runs",
                "train.iterations=60",
            ],
        )
        train_variant(short, "mtl_contrast", progress=False)  # a briefly trained model: realistic edge maps
        ev = evaluate_variant(short, "mtl_contrast", progress=False)
        no_edge = short.model_copy(deep=True)
        no_edge.variants["mtl_contrast"].tasks = ["semseg", "depth", "normals"]
        train_variant(no_edge, "mtl_contrast", progress=False, resume=False)
        ev_ne = evaluate_variant(no_edge, "mtl_contrast", progress=False)
        out["eval"] = {
            "images": ev.images,
            "images_per_s": round(ev.images / ev.seconds, 2),
            "images_per_s_without_edge": round(ev_ne.images / ev_ne.seconds, 2),
            "workers": short.eval.workers,
        }

        with PreparedSplit(short.data.prepared_path("val")) as val:
            gts = [val[i]["edge"] for i in range(10)]
        rng = np.random.default_rng(0)
        per_image = []
        for gt in gts:  # a plausible network output: blurred GT plus noise
            import cv2

            pred = np.clip(
                cv2.GaussianBlur(gt.astype(np.float32), (5, 5), 1.5) * 0.8
                + 0.15 * rng.random(gt.shape, dtype=np.float32),
                0,
                1,
            )
            meter = EdgeMeter(0.011, nms=True)
            t0 = time.perf_counter()
            meter.update(pred, gt)
            per_image.append(time.perf_counter() - t0)
        out["odsf_s_per_image"] = {"size": list(gts[0].shape), "median": round(statistics.median(per_image), 3)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2))
    print("| host | batch × size | step (s) | train images/s |\n|---|---|---|---|")
    for r in train_rows:
        print(f"| {r['host']} | {r['batch']}×{r['size'][0]}×{r['size'][1]} | {r['step_s']} | {r['images_per_s']} |")
    e = out["eval"]
    print(f"\nevaluation: {e['images_per_s']} images/s with odsF, {e['images_per_s_without_edge']} without edge")
    print(f"odsF alone: {out['odsf_s_per_image']['median']} s/image at {out['odsf_s_per_image']['size']}")


if __name__ == "__main__":
    main()
