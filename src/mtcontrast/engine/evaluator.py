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
from tqdm.auto import tqdm

from mtcontrast.config import EvalParams, Params, RunPaths
from mtcontrast.data.edge_gt import resolve_edge_gt
from mtcontrast.data.prepared import PreparedSplit
from mtcontrast.engine.distributed import DistEnv, all_gather_objects, init_distributed
from mtcontrast.engine.predict import predict
from mtcontrast.engine.trained import Trained, load_trained
from mtcontrast.metrics import Meter, build_meter
from mtcontrast.metrics.score import feed
from mtcontrast.tasks import dataset_spec

log = logging.getLogger(__name__)

PANEL_IMAGES = 4  # val images kept for the qualitative panel (input | GT | prediction per task)


@dataclass
class EvalResult:
    variant: str
    metrics: dict[str, dict[str, float]]
    images: int
    seconds: float
    out_dir: Path
    protocols: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""
    step: int = 0  # training step of the evaluated checkpoint
    panels: list[tuple[str, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]] = field(default_factory=list)
    confusion: dict[str, np.ndarray] = field(default_factory=dict)


def protocol_of(cfg: EvalParams) -> dict[str, str]:
    """The protocol variants the ``eval`` params select (logged with every result)."""
    return {"sal": cfg.sal_protocol, "edge": "nms" if cfg.edge_nms else "plain"}


def edge_options(cfg: EvalParams, export_dir: Path, gt_kind: str = "binary") -> dict[str, Any]:
    """EdgeMeter options from ``eval``: 1-px thinning of the thresholded maps (docs/seism.md §1), the GT kind
    (``binary`` edges or a ``labels`` image, from ``eval.edge_gt``), a reduced threshold set (CPU profile) and the
    SEISM PNG export."""
    from mtcontrast.metrics.edges import HED_THRESHOLDS, PLAIN_THRESHOLDS

    options: dict[str, Any] = {"thin": cfg.edge_thin, "gt_kind": gt_kind, "matcher": cfg.edge_matcher}
    if cfg.export_edges:
        options["export_dir"] = export_dir
    if cfg.edge_threshold_step > 1:
        full = HED_THRESHOLDS if cfg.edge_nms else PLAIN_THRESHOLDS
        options["thresholds"] = np.unique(np.append(full[:: cfg.edge_threshold_step], full[-1]))
    return options


def evaluate_variant(
    params: Params, variant: str, *, trained: Trained | None = None, progress: bool = True
) -> EvalResult:
    """Score the checkpoint of ``variant`` with the seed of ``params`` (``<train.runs_dir>/<variant>/s<seed>/
    checkpoint.pt``) on val with the current
    ``eval`` params; writes ``<run>/eval/metrics.json``, ``per_image.parquet`` and ``confusion.npz`` (rank 0).
    The model and its data come from the checkpoint's stored params (``trained``, when already loaded)."""
    params = params.at_seed()  # the params of one run (default: the first of `seeds`, as `train_variant`)
    paths = params.train.run_paths(variant, params.seed)
    env: DistEnv = init_distributed(params.train.device)
    if trained is None:
        trained = load_trained(paths.checkpoint, env.device)
    host = trained.host.to(env.device).eval()
    p = trained.params.model_copy(update={"eval": params.eval})  # the training's data and model, today's protocol
    spec = dataset_spec(p.data.dataset)
    tasks = tuple(host.tasks)
    gt_split = PreparedSplit(p.data.prepared_path("val"))  # also the edge GT's reader when it is the LabelMap
    n = len(gt_split) if p.eval.limit is None else min(len(gt_split), p.eval.limit)
    choice = p.eval.edge_gt if "edge" in tasks else "prepared_edges"
    edge_gt = resolve_edge_gt(choice, gt_split, gt_split.ids[:n])  # docs/seism.md §3: which GT, on which ids
    indices = list(range(env.rank, n, env.world_size))
    edge_kw = edge_options(p.eval, paths.seism_dir, edge_gt.gt_kind)
    t0 = time.perf_counter()
    meters, panels = _score(
        host, p, indices, gt_split, edge_gt, edge_kw, desc=f"eval {variant}", progress=progress and env.is_main
    )
    gt_split.close()

    states = all_gather_objects({t: m.state() for t, m in meters.items()}, env)
    gathered_panels = all_gather_objects(panels, env)
    merged = {t: type(meters[t]).from_states([s[t] for s in states], **meters[t].config()) for t in tasks}
    metrics = {t: m.compute() for t, m in merged.items()}
    protocols = {
        "sal_protocol": p.eval.sal_protocol,
        "edge": "nms" if p.eval.edge_nms else "plain",
        "edge_thin": p.eval.edge_thin,
        "edge_matcher": p.eval.edge_matcher,  # edgesEvalImg's thin on the thresholded maps; GT: thin(seg2bmap(G))
        "edge_thresholds": int(meters["edge"].thresholds.size) if "edge" in meters else None,
        "edge_gt": edge_gt.kind if "edge" in meters else None,  # labelmap_test_new | prepared_edges (eval.edge_gt)
        "edge_images": len(merged["edge"]) if "edge" in merged else None,
        "edge_max_dist": spec.edge_max_dist,
        "resolution": "native (centre-pad, padding cropped)",
    }
    seconds = time.perf_counter() - t0
    result = EvalResult(variant, metrics, n, seconds, paths.eval_dir, protocols, p.data.dataset, trained.step)
    result.panels = sorted((x for part in gathered_panels for x in part), key=lambda x: x[0])[:PANEL_IMAGES]
    result.confusion = {t: m.state()["confusion"] for t, m in merged.items() if "confusion" in m.state()}
    if env.is_main:
        write_eval_outputs(result, merged, paths)
        if progress:
            print(format_eval_summary(result))
    return result


def _score(
    host: Any,
    p: Params,
    indices: list[int],
    gt_split: PreparedSplit,
    edge_gt: Any,
    edge_kw: dict[str, Any],
    *,
    desc: str,
    progress: bool,
) -> tuple[dict[str, Meter], list[tuple[str, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]]]:
    """The one scoring pass: predict ``indices`` of val, feed every task's meter (edge odsF last, in
    ``eval.workers`` processes) and keep the first :data:`PANEL_IMAGES` images for the qualitative panel."""
    spec = dataset_spec(p.data.dataset)
    tasks = tuple(host.tasks)
    meters = {t: build_meter(t, spec, protocol_of(p.eval), **(edge_kw if t == "edge" else {})) for t in tasks}
    edge_items: list[tuple[str, np.ndarray, np.ndarray]] = []  # the slow meter: fed in parallel at the end
    panels = []
    bar = tqdm(total=len(indices), desc=desc, disable=not progress, dynamic_ncols=True)
    for pr in predict(host, p, indices=indices):
        for t in tasks:
            if t != "edge":
                meters[t].update(pr.pred[t], pr.gt[t], id=pr.id)
            elif edge_gt.selects(pr.id):  # labelmap_test_new: the test_new ids only, GT = their LabelMap
                edge_items.append((pr.id, pr.pred[t], edge_gt.target(gt_split, pr.index, pr.gt[t])))
        if pr.index < PANEL_IMAGES:
            panels.append((pr.id, pr.gt["image"], {t: pr.gt[t] for t in tasks}, pr.pred))
        bar.update(1)
    bar.close()
    if edge_items:
        workers = p.eval.workers or os.cpu_count() or 1
        if progress:
            print(f"{desc}: edge odsF ({len(edge_items)} images, {workers} worker processes)...", flush=True)
        feed(meters["edge"], edge_items, workers=workers)
    return meters, panels


def val_metrics(host: Any, params: Params) -> dict[str, float]:
    """The primary metric of each task of ``host`` on val (all images, or the first ``eval.limit``), scored with the
    ``eval`` protocol as :func:`evaluate_variant` scores it, except that odsF (the costly meter) uses every k-th
    threshold, k = the larger of ``train.val_edge_threshold_step`` and ``eval.edge_threshold_step``; returned as
    ``{"val/<task>_<metric>": value}``, the learning-curve points of ``train.val_evals``. Nothing is written; the
    host is put in eval mode and returned to the mode it was in."""
    from mtcontrast.metrics.delta_m import DELTA_M_METRICS

    step = max(params.eval.edge_threshold_step, params.train.val_edge_threshold_step)
    p = params.model_copy(
        update={"eval": params.eval.model_copy(update={"export_edges": False, "edge_threshold_step": step})}
    )
    was_training = host.training
    host.eval()
    try:
        with PreparedSplit(p.data.prepared_path("val")) as gt_split:
            n = len(gt_split) if p.eval.limit is None else min(len(gt_split), p.eval.limit)
            choice = p.eval.edge_gt if "edge" in host.tasks else "prepared_edges"
            edge_gt = resolve_edge_gt(choice, gt_split, gt_split.ids[:n])
            edge_kw = edge_options(p.eval, Path("."), edge_gt.gt_kind)
            meters, _ = _score(host, p, list(range(n)), gt_split, edge_gt, edge_kw, desc="val", progress=False)
    finally:
        host.train(was_training)
    out = {}
    for task, meter in meters.items():
        metric = DELTA_M_METRICS[task][0]
        out[f"val/{task}_{metric}"] = float(meter.compute()[metric])
    return out


def _write_atomic(path: Path, write: Any) -> None:
    """``write(tmp)`` to a hidden temp name beside ``path``, then rename: never a half-written file."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    write(tmp)
    tmp.replace(path)


def write_eval_outputs(result: EvalResult, meters: dict[str, Meter], paths: RunPaths) -> None:
    """``metrics.json`` (split-level, with protocols), ``per_image.parquet`` (scalar per-image metrics) and
    ``confusion.npz`` (pooled confusion matrices of the discrete tasks)."""
    paths.eval_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "variant": result.variant,
        "images": result.images,
        "seconds": round(result.seconds, 2),
        "protocols": result.protocols,
        "tasks": result.metrics,
    }
    _write_atomic(paths.metrics, lambda tmp: tmp.write_text(json.dumps(payload, indent=2)))
    rows = []
    for task, meter in meters.items():
        for rec in meter.records():
            rows.append({"task": task, **{k: v for k, v in rec.items() if np.ndim(v) == 0}})
    if result.confusion:
        _write_atomic(paths.confusion, lambda tmp: np.savez(tmp, **result.confusion))
    _write_atomic(paths.per_image, lambda tmp: pd.DataFrame(rows).to_parquet(tmp, index=False))


def format_eval_summary(result: EvalResult) -> str:
    lines = [f"── {result.variant}: {result.images} val images in {result.seconds:.1f} s"]
    for task, metrics in result.metrics.items():
        shown = "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        lines.append(f"   {task:<12} {shown}")
    lines.append(f"   written: {result.out_dir}/")
    return "\n".join(lines)
