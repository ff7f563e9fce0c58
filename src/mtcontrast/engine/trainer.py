"""The training loop: plain, linear, iteration-based (nanoGPT-style), identical on one device and under torchrun.

    mtc train --variant mtl_contrast                       # one device
    torchrun --nproc_per_node 2 -m mtcontrast.cli train --variant mtl_contrast   # DDP (gloo on CPU)

Resume rule: an *incomplete* checkpoint with the same recipe digest (``config.recipe_digest``: the params that change
the result, and the prepared train data) is continued exactly (model, projectors, optimiser, scheduler, RNG and data
order); anything else starts fresh. So a killed run picks up where it
stopped, while a changed recipe never silently reuses old weights.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mtcontrast.config import Params, RunPaths, recipe_changes, recipe_digest, resolve_variant
from mtcontrast.engine.checkpoint import (
    CheckpointFormatError,
    git_commit,
    load_checkpoint,
    remove_stale_temps,
    rng_state,
    run_lock,
    save_checkpoint,
    set_rng_state,
)
from mtcontrast.engine.distributed import DistEnv, barrier, init_distributed
from mtcontrast.engine.optim import build_optimizer, poly_schedule
from mtcontrast.engine.sampler import IterationSampler
from mtcontrast.tasks import DATASETS

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Raised after ``train.max_nonfinite`` consecutive steps with a NaN/inf loss."""


class TrainCallback(Protocol):
    """Observer of a run (e.g. the MLflow logger). Called on rank 0 only."""

    def on_start(self, params: Params, variant: str, run_dir: Path, start: int) -> None: ...
    def on_log(self, step: int, metrics: dict[str, float]) -> None: ...
    def on_checkpoint(self, step: int) -> None: ...  # called before the checkpoint of ``step`` is written
    def on_end(self, result: TrainResult) -> None: ...


@dataclass
class TrainResult:
    variant: str
    paths: RunPaths
    steps: int
    seconds: float
    skipped_steps: int
    resumed_from: int
    final: dict[str, float] = field(default_factory=dict)
    reused: bool = False  # a complete checkpoint of the same recipe: nothing was trained

    @property
    def run_dir(self) -> Path:
        return self.paths.dir

    @property
    def checkpoint(self) -> Path:
        return self.paths.checkpoint


def build_training_model(params: Params, *, load_weights: bool = True, ddp: bool = False) -> torch.nn.Module:
    """Host + criterion (which owns the projectors) for resolved params; deterministic in ``params.seed``.
    ``load_weights=False`` skips ``model.encoder.pretrained_file`` (weights will come from a checkpoint); ``ddp``
    keeps every projector in the graph with a zero gradient (DDP without ``find_unused_parameters``)."""
    from mtcontrast.losses import build_criterion
    from mtcontrast.models import TrainingModel, build_model

    spec = DATASETS[params.data.dataset]
    torch.manual_seed(params.seed)
    host = build_model(params.model, spec, load_weights=load_weights)
    channels = host.tap_channels(params.loss.contrast.tap)
    criterion = build_criterion(params.loss, spec, host.tasks, channels, params.seed, host.feat_stride, ddp)
    return TrainingModel(host, criterion)


class _EpochIndexed(torch.utils.data.Dataset):
    """Items are ``(epoch, index)`` so augmentation randomness follows the epoch, also inside workers."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]) -> dict[str, Any]:
        epoch, index = item
        self.dataset.set_epoch(epoch)
        return self.dataset[index]


def _batches(sampler: IterationSampler, start: int) -> Iterator[list[tuple[int, int]]]:
    for epoch, indices in sampler.batches(start):
        yield [(epoch, i) for i in indices]


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _param_groups(model: torch.nn.Module) -> list[dict[str, Any]]:
    groups = [{"params": list(model.host.parameters())}]
    crit = model.criterion
    if hasattr(crit, "param_groups"):
        groups += list(crit.param_groups())
    else:
        groups.append({"params": list(crit.parameters())})
    return groups


def _autocast(params: Params, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if params.train.amp == "none" or device.type != "cuda":
        if params.train.amp != "none":
            log.warning("train.amp=%s ignored: AMP runs on CUDA only", params.train.amp)
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if params.train.amp == "bf16" else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def check_can_train(p: Params, variant: str) -> None:
    """Refuse bad inputs before anything is created (no run folder, no MLflow run): a missing or unreadable train
    split, an encoder timm cannot build or whose weights file is missing, a run folder that cannot be written."""
    from mtcontrast.data.prepared import PreparedSplit
    from mtcontrast.models.encoders import check_encoder

    check_encoder(p.model.encoder)
    with PreparedSplit(p.data.prepared_path("train")) as split:
        if len(split) == 0:
            raise ValueError(f"{split.path}: the train split holds no samples")
    folder = p.train.run_paths(variant, p.seed).dir
    existing = next(d for d in (folder, *folder.parents) if d.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{existing}: not writable; train.runs_dir must be a writable folder")


def _read_checkpoint(ckpt_path: Path, move: bool) -> dict[str, Any] | None:
    """The run folder's checkpoint, or None when there is none or it has another format version (then moved aside
    by the process that ``move``s)."""
    if not ckpt_path.is_file():
        return None
    try:
        return load_checkpoint(ckpt_path)
    except CheckpointFormatError as err:
        if move:
            _move_aside(ckpt_path, {"step": "?"}, str(err).split(": ", 1)[1].split(" (")[0])
        return None


def _move_aside(ckpt_path: Path, ckpt: dict[str, Any], why: str) -> Path:
    """Keep a checkpoint that will not be continued (never overwrite work silently), and say why in one line."""
    aside = ckpt_path.with_name(f"checkpoint.previous-{time.strftime('%Y%m%d-%H%M%S')}.pt")
    ckpt_path.replace(aside)
    print(f"not resuming {ckpt_path} (step {ckpt.get('step')}): {why}; moved it to {aside.name}", flush=True)
    return aside


def _truncate_history(history: Path, step: int) -> None:
    """Drop the lines after ``step`` (logged by a process killed after its last checkpoint): no step twice."""
    if not history.is_file():
        return
    kept = [line for line in history.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    history.write_text("".join(f"{line}\n" for line in kept))


def write_history_table(history: Path, table: Path) -> Path | None:
    """``history.jsonl`` as one CSV (``step`` first, then every logged key in first-seen order; a key a step lacks
    is an empty cell): the format ``dvc plots show / diff`` reads (they reject JSON lines). Written to a temp name
    and renamed; None when there is no history yet."""
    import csv
    import io

    if not history.is_file():
        return None
    rows = [json.loads(line) for line in history.read_text().splitlines() if line]
    columns = list(dict.fromkeys(k for row in rows for k in ("step", *row)))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    tmp = table.with_name(f".{table.name}.tmp-{os.getpid()}")
    tmp.write_text(buf.getvalue())
    tmp.replace(table)
    return table


def train_variant(
    params: Params,
    variant: str,
    *,
    resume: bool = True,
    progress: bool = True,
    callbacks: Sequence[TrainCallback] = (),
) -> TrainResult:
    """Train one variant with the seed of ``params`` (:meth:`Params.at_seed`; default: the first of ``seeds``) to
    ``train.iterations`` and leave ``<runs_dir>/<variant>/s<seed>/checkpoint.pt``.

    Holds the run folder's lock for the whole training (rank 0). A checkpoint of the same recipe is continued, or
    reused as it is when complete; any other is moved aside with one line saying which keys changed."""
    p = resolve_variant(params, variant)
    check_can_train(p, variant)
    if int(os.environ.get("RANK", "0")) != 0:
        return _train(p, variant, resume=resume, progress=progress, callbacks=callbacks)
    with run_lock(p.train.run_paths(variant, p.seed).dir):
        return _train(p, variant, resume=resume, progress=progress, callbacks=callbacks)


def _train(p: Params, variant: str, *, resume: bool, progress: bool, callbacks: Sequence[TrainCallback]) -> TrainResult:
    from mtcontrast.data.dataset import build_dataset, worker_init_fn
    from mtcontrast.data.partial import write_mask_record

    env: DistEnv = init_distributed(p.train.device)
    if p.train.threads:
        torch.set_num_threads(p.train.threads)
    paths = p.train.run_paths(variant, p.seed)
    run_dir, ckpt_path = paths.dir, paths.checkpoint
    if env.is_main:
        remove_stale_temps(run_dir)
    model = build_training_model(p, ddp=env.enabled).to(env.device)
    host = model.host
    dataset = build_dataset(p, "train", tasks=host.tasks)
    digest = recipe_digest(p, dataset.fingerprint)
    if env.is_main and dataset.partial.active:
        write_mask_record(paths.label_mask, dataset.mask_record())
    optimizer = build_optimizer(p.train, _param_groups(model))
    scheduler = poly_schedule(optimizer, p.train.iterations, p.train.poly_power)
    scaler = torch.amp.GradScaler("cuda", enabled=p.train.amp == "fp16" and env.device.type == "cuda")

    start, skipped = 0, 0
    ckpt = _read_checkpoint(ckpt_path, move=env.is_main)
    if ckpt is not None:
        same = ckpt.get("recipe_digest") == digest
        if same and resume and ckpt["step"] >= p.train.iterations:
            if env.is_main and progress:
                print(f"{variant}: {ckpt_path} is complete for this recipe; nothing to train", flush=True)
            summary = json.loads(paths.summary.read_text()) if paths.summary.is_file() else {}
            if env.is_main:
                write_history_table(paths.history, paths.history_table)
            return TrainResult(
                variant,
                paths,
                int(ckpt["step"]),
                0.0,
                int(ckpt["skipped_steps"]),
                int(ckpt["step"]),
                summary.get("final", {}),
                reused=True,
            )
        if same and resume:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            scaler.load_state_dict(ckpt["scaler"])
            set_rng_state(ckpt["rng"][env.rank] if env.rank < len(ckpt["rng"]) else ckpt["rng"][0])
            start, skipped = int(ckpt["step"]), int(ckpt["skipped_steps"])
            if env.is_main:
                log.info("resuming %s from step %d (%s)", variant, start, ckpt_path)
        elif env.is_main:
            changed = recipe_changes(ckpt.get("params", {}), p)
            why = (
                "a fresh start was asked for (--fresh)"
                if same
                else f"the recipe changed: {', '.join(changed)}"
                if changed
                else "the prepared train data changed (fingerprint)"
            )
            _move_aside(ckpt_path, ckpt, why)
        del ckpt

    sampler = IterationSampler(len(dataset), p.train.batch_size, seed=p.seed, rank=env.rank, world_size=env.world_size)
    loader = DataLoader(
        _EpochIndexed(dataset),
        batch_sampler=_batches(sampler, start),
        num_workers=p.train.num_workers,
        worker_init_fn=worker_init_fn if p.train.num_workers > 0 else None,
        pin_memory=env.device.type == "cuda",
    )
    ddp_model = DistributedDataParallel(model) if env.enabled else model

    history = paths.history
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if start == 0:
            history.unlink(missing_ok=True)
        else:
            _truncate_history(history, start)
        for cb in callbacks:
            cb.on_start(p, variant, run_dir, start)

    def checkpoint(step: int) -> None:
        rngs = [rng_state()]
        if env.enabled:
            gathered: list[Any] = [None] * env.world_size
            torch.distributed.all_gather_object(gathered, rngs[0])
            rngs = gathered
        if env.is_main:
            for cb in callbacks:
                cb.on_checkpoint(step)
            save_checkpoint(
                ckpt_path,
                {
                    "params": p.model_dump(mode="json"),
                    "recipe_digest": digest,
                    "variant": variant,
                    "git_commit": git_commit(),
                    "step": step,
                    "skipped_steps": skipped,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng": rngs,
                    "tasks": list(host.tasks),
                    "dataset": p.data.dataset,
                },
            )
        barrier(env)

    model.train()
    t0 = time.perf_counter()
    consecutive, last_log, val_seconds = 0, {}, 0.0
    val_at = val_steps(p.train.iterations, p.train.val_evals)
    bar = tqdm(
        total=p.train.iterations,
        initial=start,
        desc=f"train {variant}",
        disable=not (progress and env.is_main),
        dynamic_ncols=True,
    )
    batches = iter(loader)
    for step in range(start, p.train.iterations):
        batch = _to_device(next(batches), env.device)
        with _autocast(p, env.device):
            _, out = ddp_model(batch, step)
        total = out.total.float()
        finite = torch.isfinite(total)
        if env.enabled:  # all ranks must agree to skip, or DDP deadlocks
            flag = finite.to(torch.float32).reshape(1)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
            finite = flag.bool()[0]
        optimizer.zero_grad(set_to_none=True)
        if bool(finite):
            consecutive = 0
            scaler.scale(total).backward()
            if hasattr(model.criterion, "drop_unselected_grads"):  # no decay / momentum on undrawn projectors
                model.criterion.drop_unselected_grads()
            if p.train.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), p.train.grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            skipped += 1
            consecutive += 1
            log.warning("step %d: non-finite loss (%s); step skipped", step, float(total.detach()))
            if consecutive >= p.train.max_nonfinite:
                raise NonFiniteLossError(
                    f"{variant}: {consecutive} consecutive non-finite losses at step {step} "
                    f"(train.max_nonfinite={p.train.max_nonfinite}); lower train.lr or check the data"
                )
        scheduler.step()
        done = step + 1
        if env.is_main and (done % p.train.log_every == 0 or done == p.train.iterations or done in val_at):
            last_log = {"train/loss": float(total.detach()), "train/lr": optimizer.param_groups[0]["lr"]}
            last_log |= {f"train/{k}": float(v.detach()) for k, v in out.components.items()}
            last_log |= {f"train/{k}": float(v) for k, v in out.stats.items()}
            if done in val_at:
                from mtcontrast.engine.evaluator import val_metrics

                tv = time.perf_counter()
                last_log |= val_metrics(model.host, p)
                val_seconds += time.perf_counter() - tv
            with history.open("a") as fh:
                fh.write(json.dumps({"step": done, **last_log}) + "\n")
            for cb in callbacks:
                cb.on_log(done, last_log)
            bar.set_postfix(loss=f"{float(total.detach()):.3f}", lr=f"{last_log['train/lr']:.2e}")
        bar.update(1)
        if done % p.train.checkpoint_every == 0 and done < p.train.iterations:
            checkpoint(done)
    bar.close()
    checkpoint(p.train.iterations)
    result = TrainResult(variant, paths, p.train.iterations, time.perf_counter() - t0, skipped, start, last_log)
    if env.is_main:
        write_history_table(history, paths.history_table)
        paths.summary.write_text(
            json.dumps(
                {
                    "variant": variant,
                    "steps": result.steps,
                    "resumed_from": start,
                    "seconds": round(result.seconds, 2),
                    "val_seconds": round(val_seconds, 2),  # of ``seconds``: the train.val_evals evaluations
                    "skipped_steps": skipped,
                    "final": last_log,
                    "tasks": list(host.tasks),
                    "host": p.model.host,
                    "encoder": p.model.encoder.name,
                    "contrast": p.loss.contrast.enabled,
                },
                indent=2,
            )
        )
        for cb in callbacks:
            cb.on_end(result)
        if progress:
            print(format_summary(result))
    return result


def val_steps(iterations: int, evals: int) -> frozenset[int]:
    """The steps after which ``train.val_evals`` evaluations run: evenly spaced, the last at the final step, so
    that with 5 the last two are 80 % and 100 % (the "last 20 % of steps" of the learning-curve check)."""
    return frozenset(max(1, round(k * iterations / evals)) for k in range(1, evals + 1)) if evals else frozenset()


def format_summary(result: TrainResult) -> str:
    """One screen: what ran, how long, the last losses, where the checkpoint is."""
    lines = [
        f"── {result.variant}: {result.steps} steps in {result.seconds:.1f} s"
        + (f" (resumed from step {result.resumed_from})" if result.resumed_from else ""),
    ]
    if result.skipped_steps:
        lines.append(f"   skipped non-finite steps: {result.skipped_steps}")
    losses = {k.removeprefix("train/"): v for k, v in result.final.items() if k.startswith("train/loss")}
    if losses:
        lines.append("   " + "  ".join(f"{k}={v:.4g}" for k, v in sorted(losses.items()) if math.isfinite(v)))
    lines.append(f"   checkpoint: {result.checkpoint}")
    return "\n".join(lines)
