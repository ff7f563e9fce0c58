"""Floors: what trivial predictors score, so a reader sees every model is far from trivial.

Each predictor is fitted on the *train* split only and scored on val with the same meters as the models:
majority class (semseg, human parts), train-mean depth, mean normal, all-background edge and saliency.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mtcontrast.data import PreparedSplit
from mtcontrast.metrics import score
from mtcontrast.tasks import IGNORE_INDEX


def fit_trivial(train: PreparedSplit, tasks: tuple[str, ...], progress: bool = False) -> dict[str, np.ndarray]:
    """The constant each trivial predictor outputs, from pooled train statistics."""
    counts: dict[str, np.ndarray] = {}
    depth_sum, depth_n = 0.0, 0
    normal_sum = np.zeros(3)
    for i in tqdm(range(len(train)), desc="floors: train statistics", disable=not progress):
        s = train[i]
        for t in ("semseg", "human_parts"):
            if t in tasks:
                v = s[t][s[t] != IGNORE_INDEX]
                counts[t] = counts.get(t, np.zeros(256, np.int64)) + np.bincount(v, minlength=256)
        if "depth" in tasks:
            d = s["depth"][s["depth"] > 0]
            depth_sum, depth_n = depth_sum + float(d.sum(dtype=np.float64)), depth_n + d.size
        if "normals" in tasks:
            n = s["normals"].reshape(-1, 3)
            normal_sum += n[np.abs(n).sum(1) > 0].sum(0, dtype=np.float64)
    out: dict[str, np.ndarray] = {t: np.asarray(int(np.argmax(c))) for t, c in counts.items()}
    if "depth" in tasks:
        out["depth"] = np.asarray(depth_sum / max(depth_n, 1), np.float32)
    if "normals" in tasks:
        out["normals"] = (normal_sum / max(np.linalg.norm(normal_sum), 1e-12)).astype(np.float32)
    for t in ("edge", "sal"):
        if t in tasks:
            out[t] = np.asarray(0.0, np.float32)
    return out


def _constant_map(task: str, value: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    if task == "normals":
        return np.broadcast_to(value, (*hw, 3)).copy()
    dtype = np.uint8 if task in ("semseg", "human_parts") else np.float32
    return np.full(hw, value, dtype=dtype)


def compute_floors(
    train_path: Path, val_path: Path, *, sal_protocol: str = "invpt", progress: bool = False
) -> dict[str, dict[str, float]]:
    """``{task: metrics}`` of the trivial predictors on the val split."""
    with PreparedSplit(train_path) as train, PreparedSplit(val_path) as val:
        dataset = val.info.dataset
        tasks = tuple(val.info.tasks)
        consts = fit_trivial(train, tasks, progress)
        gts: dict[str, list[np.ndarray]] = {t: [] for t in tasks}
        for i in tqdm(range(len(val)), desc="floors: val", disable=not progress):
            s = val[i]
            for t in tasks:
                gts[t].append(s[t])
    out = {}
    for t in tasks:
        preds = [_constant_map(t, consts[t], g.shape[:2]) for g in gts[t]]
        out[t] = score(t, preds, gts[t], dataset=dataset, protocol=sal_protocol if t == "sal" else None)
    return out
