"""Evaluation at native resolution: normalise → centre-pad → predict → crop the padding → pooled meters.

The same entry point runs on one device or under torchrun: each rank scores a strided shard of the val split and
rank 0 merges the meters' sum-reducible states, which gives exactly the single-process numbers.

    mtc evaluate --variant mtl_contrast
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mtcontrast.config import EvalParams, Params, resolve_variant
from mtcontrast.engine.checkpoint import load_checkpoint
from mtcontrast.engine.distributed import DistEnv, all_gather_objects, init_distributed
from mtcontrast.engine.trainer import build_training_model, run_dir_of
from mtcontrast.metrics import Meter, build_meter
from mtcontrast.metrics.score import feed
from mtcontrast.tasks import dataset_spec

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    variant: str
    metrics: dict[str, dict[str, float]]
    images: int
    seconds: float
    out_dir: Path
    protocols: dict[str, Any] = field(default_factory=dict)


def protocol_of(cfg: EvalParams) -> dict[str, str]:
    """The protocol variants the ``eval`` params select (logged with every result)."""
    return {"sal": cfg.sal_protocol, "edge": "nms" if cfg.edge_nms else "plain"}


def edge_options(cfg: EvalParams, export_dir: Path) -> dict[str, Any]:
    """EdgeMeter options from ``eval``: a thinned threshold set (CPU profile) and the SEISM PNG export."""
    from mtcontrast.metrics.edges import HED_THRESHOLDS, PLAIN_THRESHOLDS

    options: dict[str, Any] = {"export_dir": export_dir} if cfg.export_edges else {}
    if cfg.edge_threshold_step > 1:
        full = HED_THRESHOLDS if cfg.edge_nms else PLAIN_THRESHOLDS
        options["thresholds"] = np.unique(np.append(full[:: cfg.edge_threshold_step], full[-1]))
    return options


def postprocess(task: str, pred: torch.Tensor) -> torch.Tensor:
    """Network output (B×C×H×W) → the score()-convention prediction (B×H×W or B×H×W×3)."""
    pred = pred.float()
    if task in ("semseg", "human_parts"):
        return pred.argmax(1).to(torch.uint8)
    if task == "depth":
        return pred[:, 0].clamp_min(0.0)
    if task == "normals":
        return torch.nn.functional.normalize(pred, dim=1).permute(0, 2, 3, 1)
    if task == "edge":
        return torch.sigmoid(pred[:, 0])
    if task == "sal":
        return torch.softmax(pred, 1)[:, 1]
    raise KeyError(task)


def _same_shape_batches(dataset: Any, indices: list[int], batch_size: int) -> Any:
    """Consecutive items grouped while their padded shape agrees (PASCAL sizes vary unless eval_size is set)."""
    from torch.utils.data import default_collate

    pending: list[dict[str, Any]] = []
    for i in indices:
        item = dataset[i]
        if pending and (len(pending) == batch_size or item["image"].shape != pending[0]["image"].shape):
            yield default_collate(pending)
            pending = []
        pending.append(item)
    if pending:
        yield default_collate(pending)


def load_inference_host(params: Params, variant: str, device: torch.device) -> torch.nn.Module:
    """The exported host of a trained variant (projectors dropped), in eval mode."""
    from mtcontrast.models import export_inference

    ckpt_path = run_dir_of(params, variant) / "checkpoint.pt"
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"{ckpt_path}: no checkpoint; run `mtc train --variant {variant}` first")
    ckpt = load_checkpoint(ckpt_path)
    model = build_training_model(params, load_weights=False)
    model.load_state_dict(ckpt["model"])
    return export_inference(model).to(device)


@torch.no_grad()
def evaluate_variant(params: Params, variant: str, *, progress: bool = True) -> EvalResult:
    """Score ``variant`` on val; writes ``<run>/eval/metrics.json`` and ``per_image.parquet`` (rank 0)."""
    from mtcontrast.data.dataset import MultiTaskDataset
    from mtcontrast.data.prepared import PreparedSplit
    from mtcontrast.data.transforms import crop_to_native, item_meta

    p = resolve_variant(params, variant)
    env: DistEnv = init_distributed(p.train.device)
    spec = dataset_spec(p.data.dataset)
    host = load_inference_host(p, variant, env.device)
    tasks = tuple(host.tasks)
    val_path = p.data.prepared_path("val")
    dataset = MultiTaskDataset(val_path, "eval", p.data, tasks=tasks, seed=p.seed, pad_multiple=host.pad_multiple)
    n = len(dataset) if p.eval.limit is None else min(len(dataset), p.eval.limit)
    indices = list(range(env.rank, n, env.world_size))
    edge_kw = edge_options(p.eval, run_dir_of(p, variant) / "eval" / "seism")
    meters = {t: build_meter(t, spec, protocol_of(p.eval), **(edge_kw if t == "edge" else {})) for t in tasks}
    edge_items: list[tuple[str, np.ndarray, np.ndarray]] = []  # the slow meter: fed in parallel at the end

    t0 = time.perf_counter()
    bar = tqdm(total=len(indices), desc=f"eval {variant}", disable=not (progress and env.is_main), dynamic_ncols=True)
    with PreparedSplit(val_path) as gt_split:
        for batch in _same_shape_batches(dataset, indices, p.eval.batch_size):
            out = host(batch["image"].to(env.device))["final"]
            preds = {t: postprocess(t, out[t]).cpu().numpy() for t in tasks}
            for j in range(batch["image"].shape[0]):
                meta = item_meta(batch["meta"], j)
                gt = gt_split[int(meta["index"])]
                for t in tasks:
                    pred = crop_to_native(preds[t][j], meta) if preds[t].ndim == 3 else _crop_hwc(preds[t][j], meta)
                    if t == "edge":
                        edge_items.append((gt["meta"]["id"], np.ascontiguousarray(pred), gt[t]))
                    else:
                        meters[t].update(pred, gt[t], id=gt["meta"]["id"])
            bar.update(batch["image"].shape[0])
    bar.close()
    if edge_items:
        workers = p.eval.workers or os.cpu_count() or 1
        if progress and env.is_main:
            print(f"eval {variant}: edge odsF ({len(edge_items)} images, {workers} worker processes)...", flush=True)
        feed(meters["edge"], edge_items, workers=workers)

    states = all_gather_objects({t: m.state() for t, m in meters.items()}, env)
    merged = {t: type(meters[t]).from_states([s[t] for s in states], **meters[t].config()) for t in tasks}
    metrics = {t: m.compute() for t, m in merged.items()}
    protocols = {
        "sal_protocol": p.eval.sal_protocol,
        "edge": "nms" if p.eval.edge_nms else "plain",
        "edge_thresholds": int(meters["edge"].thresholds.size) if "edge" in meters else None,
        "edge_max_dist": spec.edge_max_dist,
        "resolution": "native (centre-pad, padding cropped)",
    }
    out_dir = run_dir_of(p, variant) / "eval"
    result = EvalResult(variant, metrics, n, time.perf_counter() - t0, out_dir, protocols)
    if env.is_main:
        write_eval_outputs(result, merged)
        if progress:
            print(format_eval_summary(result))
    return result


def _crop_hwc(array: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    from mtcontrast.data.transforms import crop_to_native

    return np.moveaxis(crop_to_native(np.moveaxis(array, -1, 0), meta), 0, -1)


def write_eval_outputs(result: EvalResult, meters: dict[str, Meter]) -> None:
    """``metrics.json`` (split-level, with protocols) and ``per_image.parquet`` (scalar per-image metrics)."""
    result.out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "variant": result.variant,
        "images": result.images,
        "seconds": round(result.seconds, 2),
        "protocols": result.protocols,
        "tasks": result.metrics,
    }
    tmp = result.out_dir / ".metrics.json.tmp"
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(result.out_dir / "metrics.json")
    rows = []
    for task, meter in meters.items():
        for rec in meter.records():
            rows.append({"task": task, **{k: v for k, v in rec.items() if np.ndim(v) == 0}})
    confusions = {t: m.state()["confusion"] for t, m in meters.items() if "confusion" in m.state()}
    if confusions:  # pooled confusion matrices, for the confusion-matrix figures
        tmp = result.out_dir / ".confusion.npz.tmp.npz"
        np.savez(tmp, **confusions)
        tmp.replace(result.out_dir / "confusion.npz")
    frame = pd.DataFrame(rows)
    tmp = result.out_dir / ".per_image.parquet.tmp"
    frame.to_parquet(tmp, index=False)
    tmp.replace(result.out_dir / "per_image.parquet")


def format_eval_summary(result: EvalResult) -> str:
    lines = [f"── {result.variant}: {result.images} val images in {result.seconds:.1f} s"]
    for task, metrics in result.metrics.items():
        shown = "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        lines.append(f"   {task:<12} {shown}")
    lines.append(f"   written: {result.out_dir / 'metrics.json'}")
    return "\n".join(lines)
