"""Cost of the cross-task contrastive regulariser, measured side by side in one run.

For each host (mtl_baseline, padnet, mtinet) in two settings — the CPU default of params.yaml (train.crop_size,
train.batch_size, loss.contrast.anchors_per_image) and a paper-size input (448×576, batch 2, 512 anchors as in the
paper profiles; the regulariser's cost grows with the anchor count, the host's with the pixel count):

- median training-step time (forward, losses, backward, optimiser step) with and without the regulariser, steps
  interleaved so machine drift hits both alike, and their ratio with a 95 % bootstrap interval over the step pairs
  (one step with, one without, adjacent in time; the same resample for both);
- the regulariser alone (forward + backward on the host's features of that batch, median), and its floor: the same
  module on one image with 2 anchors and 4 candidates, i.e. the per-step cost of its ATen calls and Python that
  does not scale with the data. Both are set against 5 % of the host's step (the issue's ≤ 1.05 budget);
- peak memory of one training step with and without it, and the ratio: on CUDA ``max_memory_allocated``; on CPU
  (Linux) the peak RSS of the first step above the RSS before it, each in a fresh process;
- the projector count and parameters, and the inference latency of the exported model vs the same host built
  without the regulariser (expected ratio 1.00: it *is* the host).

    .venv/bin/python benchmarks/bench_regularizer.py [--steps 10] [--threads 2] [--skip-large] [--no-memory] [--clock cpu]

Run it on an otherwise idle machine. Writes benchmarks/out/regularizer.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from mtcontrast.config import load_params, resolve_variant
from mtcontrast.data import prepare_dataset
from mtcontrast.data.dataset import build_dataset
from mtcontrast.engine.optim import build_optimizer
from mtcontrast.engine.trainer import _param_groups, build_training_model
from mtcontrast.losses import tapped_features
from mtcontrast.models import count_parameters, export_inference
from mtcontrast.regularizer import CrossTaskContrast
from mtcontrast.report.effects import bootstrap_interval
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


HOSTS = ("mtl_baseline", "padnet", "mtinet")
PAPER = [
    "scenes.image_size=[448, 576]",
    "train.crop_size=[448, 576]",
    "train.batch_size=2",
    "loss.contrast.anchors_per_image=512",
]


CLOCK = time.perf_counter  # --clock cpu: time.process_time (CPU seconds of this process; for a shared machine)


def _timed(work: Callable[[], object], cuda: bool) -> float:
    """CLOCK seconds of ``work()``, the device synchronised before and after on CUDA."""
    if cuda:
        torch.cuda.synchronize()
    t0 = CLOCK()
    work()
    if cuda:
        torch.cuda.synchronize()
    return CLOCK() - t0


def _step(model, optimizer, batch, step: int) -> float:
    def work() -> None:
        _, out = model(batch, step)
        optimizer.zero_grad(set_to_none=True)
        out.total.backward()
        model.criterion.drop_unselected_grads()
        optimizer.step()

    return _timed(work, batch["image"].is_cuda)


def ratio_interval(with_: list[float], without: list[float], seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of the step-time ratio from paired step times (pair i: adjacent steps with and
    without): the percentile interval of median(log with) − median(log without) over resampled pairs, exponentiated."""
    lo, hi = bootstrap_interval([(np.log(with_), np.log(without))], np.median, seed=seed)
    return float(np.exp(lo)), float(np.exp(hi))


def _contrast_alone(model, batch: dict, steps: int) -> dict[str, float]:
    """Median forward + backward time (s) of the regulariser alone on this batch's features, and of its floor (the
    same module on one image, 2 anchors, 4 candidates), interleaved."""
    crit = model.criterion.contrast
    with torch.no_grad():
        feats = {k: v.detach() for k, v in tapped_features(model.host(batch["image"]), model.criterion.tap).items()}
    tiny = CrossTaskContrast(
        crit.kinds,
        crit.feat_channels,
        crit.feat_stride,
        seed=crit.seed,
        options=dataclasses.replace(crit.options, anchors_per_image=2, candidates=4, negatives=2),
    ).to(batch["image"].device)
    one = {k: v[:1] if torch.is_tensor(v) else v for k, v in batch.items()}

    def run(module, features: dict, labels: dict, step: int) -> float:
        f = {k: v.clone().requires_grad_(True) for k, v in features.items()}
        return _timed(lambda: module(f, labels, step).loss.backward(), labels["image"].is_cuda)

    times: dict[str, list[float]] = {"alone": [], "floor": []}
    for i in range(3 + steps):
        t_a, t_f = run(crit, feats, batch, i), run(tiny, {k: v[:1] for k, v in feats.items()}, one, i)
        if i >= 3:
            times["alone"].append(t_a)
            times["floor"].append(t_f)
    crit.zero_grad(set_to_none=True)
    return {k: statistics.median(v) for k, v in times.items()}


def _variant_params(tmp: str, setting: str, host: str, contrast: bool):
    overrides = [*base_overrides(f"{tmp}/{setting}"), *(PAPER if setting == "paper_size" else [])]
    p = resolve_variant(load_params("params.yaml", overrides), "mtl_contrast").model_copy(deep=True)
    p.model.host = host
    p.loss.contrast.enabled = contrast
    return p


def _cuda_peak(model, optimizer, batch, step: int) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    _step(model, optimizer, batch, step)
    return torch.cuda.max_memory_allocated()


def _proc_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _rss_step_child(tmp: str, setting: str, host: str, contrast: bool, threads: int) -> tuple[int, int]:
    """CPU memory of one training step in a fresh process (Linux): the model is built and the batch loaded, the
    peak-RSS mark is reset (``/proc/self/clear_refs`` 5), one step runs; returns (RSS before, peak RSS) in bytes."""
    code = (
        "import sys, torch; sys.path.insert(0, 'benchmarks');"
        "import bench_regularizer as b;"
        f"torch.set_num_threads({threads});"
        f"p = b._variant_params({tmp!r}, {setting!r}, {host!r}, {contrast!r});"
        "m = b.build_training_model(p).train(); o = b.build_optimizer(p.train, b._param_groups(m));"
        "x = b._batch(p, m.host.tasks, m.host.pad_multiple, p.train.batch_size);"
        "before = b._proc_kb('VmRSS'); open('/proc/self/clear_refs', 'w').write('5');"
        "b._step(m, o, x, 0);"
        "print(before * 1024, b._proc_kb('VmHWM') * 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=OUT.parents[2])
    if out.returncode:
        raise RuntimeError(f"memory child for {setting}/{host} (contrast={contrast}) failed:\n{out.stderr[-2000:]}")
    before, peak = out.stdout.strip().splitlines()[-1].split()
    return int(before), int(peak)


@torch.no_grad()
def _infer(host, image) -> float:
    if image.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    host(image)
    if image.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="measured steps per setting (after 3 warm-up steps)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (CI machines have 2 cores)")
    parser.add_argument("--skip-large", action="store_true", help="only the CPU default setting")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--hosts", nargs="*", default=list(HOSTS), choices=HOSTS)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="cpu: CPU time of the process (shared machines)"
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as tmp:
        settings = ["cpu_default"] + ([] if args.skip_large else ["paper_size"])
        for setting in settings:  # scenes at the setting's size, so crops are not padding
            sized = _variant_params(tmp, setting, "mtl_baseline", True)
            generate_scenes(sized.scenes, progress=False)
            prepare_dataset(sized.data, progress=False)
        rows = []
        for setting, host_name in itertools.product(settings, args.hosts):
            p_on = _variant_params(tmp, setting, host_name, True)
            p_off = _variant_params(tmp, setting, host_name, False)
            torch.manual_seed(0)
            on = build_training_model(p_on).to(device).train()
            torch.manual_seed(0)
            off = build_training_model(p_off).to(device).train()
            opt_on = build_optimizer(p_on.train, _param_groups(on))
            opt_off = build_optimizer(p_off.train, _param_groups(off))
            batch = _batch(p_on, on.host.tasks, on.host.pad_multiple, p_on.train.batch_size)
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            times: dict[str, list[float]] = {"on": [], "off": []}
            for i in range(3 + args.steps):  # interleaved, alternating which goes first; first 3 are warm-up
                if i % 2:
                    t_off, t_on = _step(off, opt_off, batch, i), _step(on, opt_on, batch, i)
                else:
                    t_on, t_off = _step(on, opt_on, batch, i), _step(off, opt_off, batch, i)
                if i >= 3:
                    times["on"].append(t_on)
                    times["off"].append(t_off)
            memory: dict[str, int | None] = {"on": None, "off": None}  # what one training step adds at its peak
            if not args.no_memory:
                if device.type == "cuda":
                    memory = {"on": _cuda_peak(on, opt_on, batch, 99), "off": _cuda_peak(off, opt_off, batch, 99)}
                else:
                    for key in memory:
                        before, peak = _rss_step_child(tmp, setting, host_name, key == "on", args.threads)
                        memory[key] = peak - before
            exported = export_inference(on)
            plain = export_inference(off)
            inf: dict[str, list[float]] = {"exported": [], "host": []}
            with torch.no_grad():
                for i in range(3 + args.steps):
                    t_e, t_h = _infer(exported, batch["image"]), _infer(plain, batch["image"])
                    if i >= 3:
                        inf["exported"].append(t_e)
                        inf["host"].append(t_h)
            med = {k: statistics.median(v) for k, v in times.items()}
            low, high = ratio_interval(times["on"], times["off"])
            alone = _contrast_alone(on, batch, args.steps)
            imed = {k: statistics.median(v) for k, v in inf.items()}
            rows.append(
                {
                    "setting": setting,
                    "device": str(device),
                    "anchors": p_on.loss.contrast.anchors_per_image,
                    "host": host_name,
                    "encoder": p_on.model.encoder.name,
                    "batch": p_on.train.batch_size,
                    "size": list(p_on.train.crop_size),
                    "threads": args.threads,
                    "clock": args.clock,
                    "steps": args.steps,
                    "step_s_without": round(med["off"], 4),
                    "step_s_with": round(med["on"], 4),
                    "train_overhead_ratio": round(med["on"] / med["off"], 3),
                    "train_overhead_ratio_ci95": [round(low, 3), round(high, 3)],
                    "budget_s": round(0.05 * med["off"], 4),  # 5 % of the host's step
                    "contrast_alone_s": round(alone["alone"], 4),
                    "contrast_floor_s": round(alone["floor"], 4),
                    "peak_memory": "cuda max_memory_allocated of one step"
                    if device.type == "cuda"
                    else "peak RSS of the first step above the RSS before it (fresh process)",
                    "peak_mb_without": None if memory["off"] is None else round(memory["off"] / 2**20, 1),
                    "peak_mb_with": None if memory["on"] is None else round(memory["on"] / 2**20, 1),
                    "peak_memory_ratio": None if memory["off"] is None else round(memory["on"] / memory["off"], 3),
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
            print(json.dumps(rows[-1]), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2))
    print(
        "| setting | host | input | anchors | step without (s) | step with (s) | ratio | 95 % interval "
        "| 5 % budget (ms) | regulariser alone (ms) | its floor (ms) | peak memory ratio "
        "| projectors | projector params | exported params = host's | inference latency ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        same = "yes" if r["exported_params"] == r["plain_host_params"] else "NO"
        low, high = r["train_overhead_ratio_ci95"]
        mem = "–" if r["peak_memory_ratio"] is None else f"{r['peak_memory_ratio']} ({r['peak_mb_with']} MB)"
        print(
            f"| {r['setting']} | {r['host']} | {r['batch']}×{r['size'][0]}×{r['size'][1]} | {r['anchors']} | "
            f"{r['step_s_without']:.3f} | {r['step_s_with']:.3f} | {r['train_overhead_ratio']:.3f} | "
            f"[{low:.3f}, {high:.3f}] | {1000 * r['budget_s']:.1f} | {1000 * r['contrast_alone_s']:.1f} | "
            f"{1000 * r['contrast_floor_s']:.1f} | {mem} | "
            f"{r['projectors']} | {r['projector_params']:,} | {same} ({r['exported_params']:,}) | "
            f"{r['inference_latency_ratio']:.3f} |"
        )


if __name__ == "__main__":
    main()
