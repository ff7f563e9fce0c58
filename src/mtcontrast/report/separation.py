"""The paper's Fig. 1 analysis: do a task's decoder features separate pixel pairs that *another* task's labels call
similar (positives) from those it calls dissimilar (negatives)?

For a trained variant and every ordered (target t, source s) pair, anchors, positives and negatives are sampled on
the feature grid from the source task's ground truth with the regulariser's own rules (``labels_on_grid``,
``SourceCriterion``, the anchor / pair samplers of ``regularizer.sampling``, ``mining: random``), and the
Euclidean distances d_ap = ‖z_a − z_p‖ and d_an = ‖z_a − z_n‖ are measured between unit embeddings z of F^t:

* ``raw``: the L2-normalised decoder feature (comparable between the baseline and the regularised model);
* ``projected``: g_{t→s}(F^t), the regulariser's projector from the checkpoint (regularised variants only),
  applied in eval mode (BatchNorm running statistics) to the sampled feature vectors, as in training.

The separation score is the AUC of telling the two distributions apart, AUC = P(d_an > d_ap) (ties count ½;
0.5 = no separation, 1 = every negative farther than every positive). Triplets depend only on the source labels
and a seed per (image, source), so every variant and embedding is scored on the very same pixel triplets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from scipy.stats import rankdata
from torch import Tensor

from mtcontrast.config import Params
from mtcontrast.data.prepared import PreparedSplit
from mtcontrast.regularizer import GridLabels, SourceCriterion, sampling
from mtcontrast.report.figures import DPI, NEUTRAL_COLOR, TASK_COLORS, save_figure
from mtcontrast.tasks import ALL_TASKS

__all__ = [
    "COLUMNS",
    "PairDistances",
    "Triplets",
    "feature_separation",
    "image_indices",
    "multitask_variants",
    "sample_triplets",
    "separation_auc",
    "separation_heatmap",
    "separation_histograms",
    "summarize_distances",
    "triplet_accuracy",
    "triplet_distances",
    "variant_distances",
]

EMBEDDINGS = ("raw", "projected")
DEFAULT_IMAGES = 8
HIST_BINS = 41  # bin edges per histogram, over [0, the column's 99.5th percentile] (distances lie in [0, 2])
POS_COLOR, NEG_COLOR = "#2ca02c", "#d62728"
COLUMNS = ["variant", "embedding", "target", "source", "triplets", "d_ap_mean", "d_an_mean", "auc", "triplet_acc"]


# ------------------------------------------------------------------------------------------------ scores
def separation_auc(d_ap: npt.ArrayLike, d_an: npt.ArrayLike) -> float:
    """P(d_an > d_ap) + ½·P(d_an = d_ap) over all (positive, negative) distance pairs (Mann–Whitney U / n₁n₂);
    NaN when either set is empty."""
    a = np.asarray(d_ap, dtype=np.float64).ravel()
    b = np.asarray(d_an, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        return float("nan")
    ranks = rankdata(np.concatenate((a, b)))  # average ranks: ties count ½
    return float((ranks[a.size :].sum() - b.size * (b.size + 1) / 2.0) / (a.size * b.size))


def triplet_accuracy(d_ap: npt.ArrayLike, d_an: npt.ArrayLike) -> float:
    """Share of triplets whose negative is farther than its own positive (ties ½): the triplet loss's view."""
    a = np.asarray(d_ap, dtype=np.float64).ravel()
    b = np.asarray(d_an, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"triplet_accuracy: {a.size} positive vs {b.size} negative distances; expected pairs")
    if a.size == 0:
        return float("nan")
    return float(np.mean((b > a) + 0.5 * (b == a)))


# ------------------------------------------------------------------------------------------------ triplets
@dataclass(frozen=True)
class Triplets:
    """Valid (anchor, positive, negative) triplets as flat indices into the B·h·w cells of a feature grid."""

    anchor: Tensor
    positive: Tensor
    negative: Tensor

    def __len__(self) -> int:
        return int(self.anchor.numel())


def sample_triplets(
    labels: GridLabels,
    criterion: SourceCriterion,
    anchors_per_image: int,
    candidates: int,
    gen: torch.Generator,
    balance: bool = True,
) -> Triplets:
    """One positive and one negative per anchor, per image, exactly as the regulariser draws them with
    ``pool: image`` and ``mining: random``.

    ``labels``: the source's grid labels, already passed through ``criterion.encode``. Discrete labels draw from
    the anchor's class and its complement; continuous ones pick among ``candidates`` random cells by the
    criterion's thresholds. Anchors without a positive or a negative are dropped.
    """
    values, valid = labels.values, labels.valid
    B, P = valid.shape
    anchors, a_ok = sampling.draw_anchors(sampling.strata(labels, balance), anchors_per_image, gen)
    pos, negatives, ok = sampling.random_triplets(criterion, values, valid, anchors, a_ok, 1, candidates, gen)
    neg = negatives.idx[..., 0]
    offset = torch.arange(B, device=anchors.device).unsqueeze(1) * P
    return Triplets((anchors + offset)[ok], (pos + offset)[ok], (neg + offset)[ok])


def triplet_distances(
    feat: Tensor, triplets: Triplets, embed: Callable[[Tensor], Tensor] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """d_ap, d_an (float64 arrays) between embeddings of the B×C×h×w map ``feat`` at the triplets' cells.

    ``embed`` maps the gathered N×C feature vectors to unit N×D vectors (a projector head, in eval mode so each
    vector is embedded on its own); default: L2 normalisation of the raw feature.
    """
    from mtcontrast.regularizer.objectives import pair_distance

    if len(triplets) == 0:  # e.g. parts labels of an image without persons
        return np.zeros(0), np.zeros(0)
    table = feat.detach().float().flatten(2).transpose(1, 2).reshape(-1, feat.shape[1])  # (B·h·w)×C
    idx = torch.cat([i.to(table.device) for i in (triplets.anchor, triplets.positive, triplets.negative)])
    vectors = table[idx]
    z = (embed(vectors) if embed is not None else F.normalize(vectors, dim=-1, eps=1e-12)).float()
    z_a, z_p, z_n = z.split(len(triplets))
    d_ap = pair_distance(z_a, z_p, "euclid").cpu().double().numpy()
    d_an = pair_distance(z_a, z_n, "euclid").cpu().double().numpy()
    return d_ap, d_an


# ------------------------------------------------------------------------------------------------ one variant
@dataclass
class PairDistances:
    """All distances measured for one (variant, embedding, target, source)."""

    variant: str
    embedding: str
    target: str
    source: str
    d_ap: np.ndarray
    d_an: np.ndarray


def image_indices(count: int, images: int) -> list[int]:
    """``images`` indices spread evenly over a split of ``count`` samples (all when it has fewer)."""
    if images < 1:
        raise ValueError(f"images = {images}: expected at least 1")
    return sorted({int(round(x)) for x in np.linspace(0, count - 1, min(images, count))})


@torch.no_grad()
def variant_distances(
    params: Params,
    variant: str,
    *,
    images: int = DEFAULT_IMAGES,
    anchors_per_image: int | None = None,
    seed: int | None = None,
    device: str | torch.device | None = None,
) -> list[PairDistances]:
    """Distances of every (embedding, target, source) of a trained ``variant`` over ``images`` val images.

    The model, its data and its sampling settings (``loss.contrast``) come from the checkpoint
    ``<train.runs_dir>/<variant>/s<seed>/checkpoint.pt`` of ``params`` (one seed: :meth:`Params.at_seed`) (:func:`mtcontrast.engine.trained.load_trained`);
    ``anchors_per_image`` overrides the stored value; ``seed`` (default: the training's seed) fixes the triplets.
    """
    from mtcontrast.engine.distributed import resolve_device
    from mtcontrast.engine.predict import predict
    from mtcontrast.engine.trained import load_projectors, load_trained
    from mtcontrast.regularizer import labels_on_grid, step_seed

    checkpoint = params.train.run_paths(variant, params.seed).checkpoint
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint}: no checkpoint; run `mtc train --variant {variant}` first")
    dev = torch.device(device) if device is not None else resolve_device(params.train.device)
    trained = load_trained(checkpoint, dev)
    p, host = trained.params, trained.host
    cp = p.loss.contrast
    m = cp.anchors_per_image if anchors_per_image is None else anchors_per_image
    seed = p.seed if seed is None else seed
    tasks = tuple(host.tasks)
    if len(tasks) < 2:
        raise ValueError(f"variant {variant!r} has one task ({tasks[0]}); the separation needs a multi-task model")
    bank = load_projectors(trained)
    criteria = {s: SourceCriterion(s, cp) for s in tasks}

    pairs = [(t, s) for t in tasks for s in tasks if s != t]
    embeddings = {(t, s): ["raw"] for t, s in pairs}
    if bank is not None:
        for t, s in pairs:
            key = bank.key(t, s)
            if key is not None and key in bank.heads:  # `none` has no projector; `fixed` sources only some pairs
                embeddings[(t, s)].append("projected")
    found: dict[tuple[str, str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
    with PreparedSplit(p.data.prepared_path("val")) as split:
        count = len(split)
    for pr in predict(host, p, indices=image_indices(count, images), batch_size=1, features=True):
        assert pr.feat is not None
        for s in tasks:
            h, w = pr.feat[s].shape[-2:]
            labels = criteria[s].encode(labels_on_grid(s, pr.item[s][None], (h, w), host.feat_stride))
            # Labels stay on the CPU with a CPU generator: the same triplets on any device, for any variant.
            gen = torch.Generator().manual_seed(step_seed(seed, pr.index, 1 + ALL_TASKS.index(s)))
            triplets = sample_triplets(labels, criteria[s], m, cp.candidates, gen, cp.balance)
            for t in (t for t in tasks if t != s):
                for emb in embeddings[(t, s)]:
                    embed = None if emb == "raw" else partial(bank, target=t, source=s)
                    found.setdefault((emb, t, s), []).append(triplet_distances(pr.feat[t], triplets, embed))
    out = []
    for emb in EMBEDDINGS:
        for t, s in (pair for pair in pairs if emb in embeddings[pair]):
            parts = found.get((emb, t, s), [])
            d_ap = np.concatenate([a for a, _ in parts]) if parts else np.zeros(0)
            d_an = np.concatenate([b for _, b in parts]) if parts else np.zeros(0)
            out.append(PairDistances(variant, emb, t, s, d_ap, d_an))
    return out


def summarize_distances(distances: Sequence[PairDistances]) -> pd.DataFrame:
    """One tidy row per (variant, embedding, target, source): triplet count, mean distances, AUC, triplet acc."""
    rows = [
        {
            "variant": d.variant,
            "embedding": d.embedding,
            "target": d.target,
            "source": d.source,
            "triplets": int(d.d_ap.size),
            "d_ap_mean": float(d.d_ap.mean()) if d.d_ap.size else float("nan"),
            "d_an_mean": float(d.d_an.mean()) if d.d_an.size else float("nan"),
            "auc": separation_auc(d.d_ap, d.d_an),
            "triplet_acc": triplet_accuracy(d.d_ap, d.d_an),
        }
        for d in distances
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


# ------------------------------------------------------------------------------------------------ pictures
def _combos(distances: Sequence[PairDistances]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((d.variant, d.embedding) for d in distances))


def separation_histograms(distances: Sequence[PairDistances], out_png: str | Path) -> Path:
    """Grid of distance histograms, rows = (target ← source) pairs, columns = (variant, embedding); positives
    green, negatives red, the AUC in each title."""
    if not distances:
        raise ValueError("separation_histograms: no distances")
    combos = _combos(distances)
    pairs = list(dict.fromkeys((d.target, d.source) for d in distances))
    by_key = {(d.variant, d.embedding, d.target, d.source): d for d in distances}
    bins = {}  # per column: an untrained projector's distances may span a small part of [0, 2]
    for combo in combos:
        values = [np.concatenate((d.d_ap, d.d_an)) for d in distances if (d.variant, d.embedding) == combo]
        values = np.concatenate(values) if values else np.zeros(0)
        top = float(np.quantile(values, 0.995)) * 1.05 if values.size else 2.0
        bins[combo] = np.linspace(0.0, min(max(top, 1e-3), 2.0), HIST_BINS)
    # Fixed margins in inches (a constrained layout of ~60 axes costs seconds): rows 2.1 in apart, columns 3.2 in.
    rows, cols = len(pairs), len(combos)
    width, height = 3.2 * cols + 0.15, 2.1 * rows + 1.05
    fig = Figure(figsize=(width, height), dpi=DPI)
    grid = {
        "left": 0.6 / width,
        "right": 1 - 0.15 / width,
        "top": 1 - 0.75 / height,
        "bottom": 0.85 / height,
        "hspace": 0.55 / 1.55,
        "wspace": 0.6 / 2.6,
    }
    axes = fig.subplots(rows, cols, squeeze=False, gridspec_kw=grid)
    for r, (t, s) in enumerate(pairs):
        for c, (variant, emb) in enumerate(combos):
            ax = axes[r, c]
            d = by_key.get((variant, emb, t, s))
            if d is None:
                ax.set_axis_off()
                continue
            if d.d_ap.size:
                edges = bins[(variant, emb)]
                style = {"bins": edges, "density": True, "histtype": "stepfilled", "alpha": 0.55}  # one polygon: fast
                ax.hist(d.d_ap, color=POS_COLOR, label="anchor–positive", **style)
                ax.hist(d.d_an, color=NEG_COLOR, label="anchor–negative", **style)
                ax.set_xlim(edges[0], edges[-1])
            auc = separation_auc(d.d_ap, d.d_an)
            head = f"{variant} · {emb}\n" if r == 0 else ""
            ax.set_title(
                f"{head}{t} ← {s}: AUC {auc:.3f} (n={d.d_ap.size})", fontsize=8, color=TASK_COLORS.get(t, NEUTRAL_COLOR)
            )
            ax.tick_params(labelsize=7)
            if r == len(pairs) - 1:
                ax.set_xlabel("distance ‖z_a − z_q‖ (unit vectors)", fontsize=8)
            if c == 0:
                ax.set_ylabel("density", fontsize=8)
    handles, labels = next(
        ((h, lab) for ax in axes.ravel() for h, lab in [ax.get_legend_handles_labels()] if h), ([], [])
    )
    if handles:
        fig.legend(handles, labels, loc="lower center", ncols=2, fontsize=8, frameon=False)
    fig.suptitle(
        "Feature distances of pixel pairs defined by the source task's labels (target ← source)",
        y=1 - 0.12 / height,
        va="top",
    )
    return save_figure(fig, out_png)


def separation_heatmap(frame: pd.DataFrame, out_png: str | Path) -> Path:
    """One target × source AUC matrix per (variant, embedding), numbers printed in the cells."""
    missing = [c for c in ("variant", "embedding", "target", "source", "auc") if c not in frame.columns]
    if missing or frame.empty:
        raise ValueError(f"separation_heatmap: expected a non-empty separation table; missing columns {missing}")
    combos = list(dict.fromkeys(zip(frame["variant"], frame["embedding"])))
    tasks = [t for t in ALL_TASKS if t in set(frame["target"]) | set(frame["source"])]
    n = len(tasks)
    side = 0.75 * n + 1.6
    fig = Figure(figsize=(side * len(combos) + 1.0, side + 0.4), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(combos), squeeze=False)[0]
    im = None
    for ax, (variant, emb) in zip(axes, combos):
        part = frame[(frame["variant"] == variant) & (frame["embedding"] == emb)]
        grid = part.pivot_table(index="target", columns="source", values="auc", aggfunc="first")
        grid = grid.reindex(index=tasks, columns=tasks).to_numpy(dtype=np.float64)
        im = ax.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", vmin=0.0, vmax=1.0)
        for i, j in zip(*np.nonzero(np.isfinite(grid))):
            ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(n), labels=tasks, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), labels=tasks, fontsize=8)
        ax.set_xlabel("source (labels define pairs)")
        ax.set_ylabel("target (feature)")
        ax.set_title(f"{variant} · {emb}", fontsize=9)
    assert im is not None
    fig.colorbar(im, ax=list(axes), fraction=0.046, pad=0.02).set_label("AUC = P(d_an > d_ap)")
    fig.suptitle("Cross-task separation of decoder features")
    return save_figure(fig, out_png)


# ------------------------------------------------------------------------------------------------ entry point
def feature_separation(
    params: Params,
    variants: Sequence[str],
    out_dir: str | Path,
    *,
    images: int = DEFAULT_IMAGES,
    anchors_per_image: int | None = None,
    seed: int | None = None,
    device: str | torch.device | None = None,
) -> pd.DataFrame:
    """Fig. 1 for trained ``variants`` (e.g. ``["mtl", "mtl_contrast"]``): writes ``separation.csv``,
    ``separation.parquet``, ``separation_hist.png`` and ``separation_auc.png`` to ``out_dir`` and returns the
    table (columns :data:`COLUMNS`)."""
    if not variants:
        raise ValueError("feature_separation: no variants given")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    distances: list[PairDistances] = []
    for variant in variants:
        distances += variant_distances(
            params, variant, images=images, anchors_per_image=anchors_per_image, seed=seed, device=device
        )
    frame = summarize_distances(distances)
    for name, write in (("separation.csv", frame.to_csv), ("separation.parquet", frame.to_parquet)):
        tmp = out_dir / f".{name}.tmp"
        write(tmp, index=False)
        tmp.replace(out_dir / name)
    separation_histograms(distances, out_dir / "separation_hist.png")
    separation_heatmap(frame, out_dir / "separation_auc.png")
    return frame


def multitask_variants(params: Params) -> list[str]:
    """Variants with more than one task (the ones Fig. 1 compares), in params order."""
    out = []
    for name, v in params.variants.items():
        n = len(v.tasks) if isinstance(v.tasks, list) else math.inf
        if n > 1:
            out.append(name)
    return out
