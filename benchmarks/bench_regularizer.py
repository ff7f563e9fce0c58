"""Cost of the cross-task contrastive regulariser, measured side by side in one run.

For each host (mtl_baseline, padnet) in two settings — the CPU default of params.yaml (train.crop_size,
train.batch_size, loss.contrast.anchors_per_image) and a paper-size input (448×576, batch 2, 512 anchors as in the
paper profiles; the regulariser's cost grows with the anchor count, the host's with the pixel count): median
training-step time with and without the regulariser (steps interleaved so machine drift hits
both alike), the ratio, the projector count and parameters, and the inference latency of the exported model vs the
same host built without the regulariser (expected ratio 1.00: it *is* the host).

    .venv/bin/python benchmarks/bench_regularizer.py [--steps 15] [--threads 2]

Writes benchmarks/out/regularizer.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

from mtcontrast.config import load_params, resolve_variant
from mtcontrast.data import prepare_dataset
from mtcontrast.data.dataset import build_dataset
from mtcontrast.engine.optim import build_optimizer
from mtcontrast.engine.trainer import _param_groups, build_training_model
from mtcontrast.models import count_parameters, export_inference
from mtcontrast.scenes import generate_scenes

OUT = Path(__file__).resolve().parent / "out" / "regularizer.json"


def _batch(params, tasks, pad_multiple: int, n: int) -> dict:
    ds = build_dataset(params, "train", tasks=tasks, pad_multiple=pad_multiple, seed=0)
    return default_collate([ds[i] for i in range(n)])


def base_overrides(tmp: str) -> list[str]:
    return [
        f"scenes.out_dir={tmp}/raw",
        "scenes.train=16",
        "scenes.val=2",
        f"data.root={tmp}/raw/nyudv2",
        f"data.prepared_dir={tmp}/prepared",
    ]


def _projector_count(criterion) -> int:
    contrast = getattr(criterion, "contrast", None)
    bank = getattr(contrast, "projectors", None)
    return len(bank.heads) if bank is not None else 0


def _step(model, optimizer, batch, step: int) -> float:
    t0 = time.perf_counter()
    _, out = model(batch, step)
    optimizer.zero_grad(set_to_none=True)
    out.total.backward()
    optimizer.step()
    return time.perf_counter() - t0


@torch.no_grad()
def _infer(host, image) -> float:
    t0 = time.perf_counter()
    host(image)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=15, help="measured steps per setting (after 3 warm-up steps)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (CI machines have 2 cores)")
    parser.add_argument("--skip-large", action="store_true", help="only the CPU default setting")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        settings = {"cpu_default": []}
        if not args.skip_large:
            settings["paper_size"] = [
                "scenes.image_size=[448, 576]",
                "train.crop_size=[448, 576]",
                "train.batch_size=2",
                "loss.contrast.anchors_per_image=512",
            ]
        for setting, overrides in settings.items():  # scenes at the setting's size, so crops are not padding
            sized = load_params("params.yaml", [*base_overrides(f"{tmp}/{setting}"), *overrides])
            generate_scenes(sized.scenes, progress=False)
            prepare_dataset(sized.data, progress=False)
        rows = []
        for (setting, overrides), host_name in itertools.product(settings.items(), ("mtl_baseline", "padnet")):
            sized = load_params("params.yaml", [*base_overrides(f"{tmp}/{setting}"), *overrides])
            p_on = resolve_variant(sized, "mtl_contrast").model_copy(deep=True)
            p_on.model.host = host_name
            p_off = p_on.model_copy(deep=True)
            p_off.loss.contrast.enabled = False
            on, off = build_training_model(p_on), build_training_model(p_off)
            opt_on = build_optimizer(p_on.train, _param_groups(on))
            opt_off = build_optimizer(p_off.train, _param_groups(off))
            batch = _batch(p_on, on.host.tasks, on.host.pad_multiple, p_on.train.batch_size)
            times: dict[str, list[float]] = {"on": [], "off": []}
            for i in range(3 + args.steps):  # interleaved; first 3 are warm-up
                t_on, t_off = _step(on, opt_on, batch, i), _step(off, opt_off, batch, i)
                if i >= 3:
                    times["on"].append(t_on)
                    times["off"].append(t_off)
            exported = export_inference(on)
            plain = export_inference(off)
            inf: dict[str, list[float]] = {"exported": [], "host": []}
            for i in range(3 + args.steps):
                t_e, t_h = _infer(exported, batch["image"]), _infer(plain, batch["image"])
                if i >= 3:
                    inf["exported"].append(t_e)
                    inf["host"].append(t_h)
            med = {k: statistics.median(v) for k, v in times.items()}
            imed = {k: statistics.median(v) for k, v in inf.items()}
            rows.append(
                {
                    "setting": setting,
                    "anchors": p_on.loss.contrast.anchors_per_image,
                    "host": host_name,
                    "encoder": p_on.model.encoder.name,
                    "batch": p_on.train.batch_size,
                    "size": list(p_on.train.crop_size),
                    "threads": args.threads,
                    "steps": args.steps,
                    "step_s_without": round(med["off"], 4),
                    "step_s_with": round(med["on"], 4),
                    "train_overhead_ratio": round(med["on"] / med["off"], 3),
                    "projectors": _projector_count(on.criterion),
                    "projector_params": count_parameters(on.criterion),
                    "host_params": count_parameters(on.host),
                    "exported_params": count_parameters(exported),
                    "plain_host_params": count_parameters(plain),
                    "infer_s_exported": round(imed["exported"], 4),
                    "infer_s_host": round(imed["host"], 4),
                    "inference_latency_ratio": round(imed["exported"] / imed["host"], 3),
                }
            )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2))
    print(
        "| setting | host | input | anchors | step without (s) | step with (s) | ratio | projectors | projector "
        "params | exported = host params | inference ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        same = r["exported_params"] == r["plain_host_params"]
        print(
            f"| {r['setting']} | {r['host']} | {r['batch']}×{r['size'][0]}×{r['size'][1]} | {r['anchors']} | "
            f"{r['step_s_without']} | {r['step_s_with']} | {r['train_overhead_ratio']} | {r['projectors']} | "
            f"{r['projector_params']:,} | {same} ({r['exported_params']:,}) | {r['inference_latency_ratio']} |"
        )


if __name__ == "__main__":
    main()
