"""Pictures for people who would rather look than read: learning curves, qualitative panels, confusion matrices
the ablation chart and the forest plot of the regulariser's paired effects.

Every function draws on its own ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot, no global state, so
it is safe in DVC stages, Prefect threads and tests), writes one PNG atomically (temp file + rename, so a reader
never sees half a file) and returns its path. Figure sizes are fixed by the layout (no tight bounding box), so the
same inputs give the same pixels.

Colour conventions, shared by every figure: one colour per task (:data:`TASK_COLORS`); class maps use the VOC
palette shipped in ``data/db_info/pascal_map.npy`` with class 0 drawn dark grey, because black is reserved for
ignore / invalid pixels in every map; depth uses viridis with a colourbar in metres; normals are shown as RGB
(n + 1)/2; edges and saliency as grey levels.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from mtcontrast.tasks import ALL_TASKS, IGNORE_INDEX, DatasetSpec, dataset_spec

__all__ = [
    "DPI",
    "TASK_COLORS",
    "ablation_chart",
    "class_palette",
    "confusion_matrix_png",
    "depth_range",
    "forest_plot",
    "learning_curves",
    "qualitative_panel",
    "read_history",
    "render_map",
    "save_figure",
    "task_color",
]

DPI = 100
TASK_COLORS: dict[str, str] = {
    "semseg": "#1f77b4",
    "depth": "#ff7f0e",
    "normals": "#2ca02c",
    "edge": "#d62728",
    "human_parts": "#9467bd",
    "sal": "#8c564b",
    "contrast": "#e377c2",
    "total": "#222222",
}
NEUTRAL_COLOR = "#7f7f7f"
BACKGROUND_RGB = (72, 72, 72)  # class 0: distinct from black (ignore) and from every VOC palette colour
INVALID_RGB = (0, 0, 0)
DEPTH_CMAP = "viridis"
_VOC_PALETTE_FILE = Path(__file__).resolve().parents[1] / "data" / "db_info" / "pascal_map.npy"
_VARIANT_COLORS = matplotlib.colormaps["tab10"].colors


# ------------------------------------------------------------------------------------------------ plumbing
def save_figure(fig: Figure, out_png: str | Path) -> Path:
    """Write ``fig`` as a PNG at :data:`DPI` via a temp file in the same folder, then rename (atomic)."""
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_png.with_name(f".{out_png.name}.tmp-{os.getpid()}")
    try:
        FigureCanvasAgg(fig)
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
        os.replace(tmp, out_png)
    finally:
        tmp.unlink(missing_ok=True)
    return out_png


def task_color(name: str) -> str:
    """Colour of a task, or of a metric / loss name that starts with one (``semseg/miou``, ``loss_depth``)."""
    key = name.removeprefix("train/").removeprefix("val/").removeprefix("loss_")
    for task in sorted(TASK_COLORS, key=len, reverse=True):  # the longest matching name wins
        if key == task or key.startswith((f"{task}/", f"{task}.", f"{task}_")):
            return TASK_COLORS[task]
    return NEUTRAL_COLOR


def _spec(dataset: str | DatasetSpec) -> DatasetSpec:
    return dataset if isinstance(dataset, DatasetSpec) else dataset_spec(dataset)


# ------------------------------------------------------------------------------------------------ map rendering
@functools.cache
def class_palette() -> np.ndarray:
    """256×3 uint8 colours by class index (read-only): the VOC palette, class 0 dark grey, 255 (ignore) black."""
    voc = np.load(_VOC_PALETTE_FILE)
    if voc.ndim != 2 or voc.shape[0] < 256 or voc.shape[1] < 3:
        raise ValueError(f"{_VOC_PALETTE_FILE}: expected a 256×3(+) colour table, got shape {voc.shape}")
    palette = voc[:256, :3].astype(np.uint8).copy()
    palette[0] = BACKGROUND_RGB
    palette[IGNORE_INDEX] = INVALID_RGB
    palette.flags.writeable = False
    return palette


def _squeeze(task: str, array: Any, what: str) -> np.ndarray:
    arr = np.asarray(array)
    if task == "normals":
        if arr.ndim == 3 and arr.shape[-1] != 3 and arr.shape[0] == 3:
            arr = np.moveaxis(arr, 0, -1)
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise ValueError(f"{what} normals: expected an H×W×3 array, got shape {arr.shape}")
        return arr
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        hint = " (a class map: take the argmax of the logits)" if task in ("semseg", "human_parts") else ""
        raise ValueError(f"{what} {task}: expected an H×W map{hint}, got shape {arr.shape}")
    return arr


def depth_range(depths: Sequence[np.ndarray]) -> tuple[float, float]:
    """Colour range (m) over the valid (> 0, finite) pixels of ``depths``: the 1st-99th percentile span."""
    vals = np.concatenate([d[np.isfinite(d) & (d > 0)].ravel() for d in (np.asarray(x, np.float64) for x in depths)])
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(vals, [1.0, 99.0])
    return float(lo), float(max(hi, lo + 1e-3))


def render_map(task: str, array: Any, *, vrange: tuple[float, float] | None = None, what: str = "map") -> np.ndarray:
    """One task map (PreparedSplit GT or :func:`mtcontrast.engine.predict.postprocess` prediction, cropped to
    native size) as H×W×3 uint8, invalid / ignore pixels black. ``vrange``: depth colour range in metres."""
    arr = _squeeze(task, array, what)
    if task in ("semseg", "human_parts"):
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            raise ValueError(f"{what} {task}: expected an integer class map, got dtype {arr.dtype}")
        return class_palette()[np.clip(arr.astype(np.int64), 0, 255)]
    if task == "depth":
        d = arr.astype(np.float64)
        valid = np.isfinite(d) & (d > 0)
        lo, hi = vrange if vrange is not None else depth_range([d])
        rgb = matplotlib.colormaps[DEPTH_CMAP](Normalize(lo, hi, clip=True)(np.where(valid, d, lo)))[..., :3]
        out = np.round(rgb * 255).astype(np.uint8)
        out[~valid] = INVALID_RGB
        return out
    if task == "normals":
        n = arr.astype(np.float64)
        norm = np.linalg.norm(n, axis=-1, keepdims=True)
        valid = np.isfinite(norm[..., 0]) & (norm[..., 0] > 0)
        unit = np.where(valid[..., None], n / np.where(valid[..., None], norm, 1.0), 0.0)
        out = np.round((unit + 1.0) / 2.0 * 255).astype(np.uint8)
        out[~valid] = INVALID_RGB
        return out
    if task in ("edge", "sal"):
        v = arr.astype(np.float64)
        valid = np.isfinite(v) & ~(np.issubdtype(arr.dtype, np.integer) & (arr == IGNORE_INDEX))
        grey = np.round(np.clip(np.where(valid, v, 0.0), 0.0, 1.0) * 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    raise ValueError(f"{what}: no rendering for task {task!r}; known: {', '.join(ALL_TASKS)}")


# ------------------------------------------------------------------------------------------------ learning curves
def read_history(path: str | Path) -> pd.DataFrame:
    """The trainer's ``history.jsonl`` (one JSON object per log step, with ``step``) as a DataFrame by step."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training history (expected the trainer's history.jsonl)")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{lineno}: not a JSON object ({err.msg})") from None
        if not isinstance(row, dict) or "step" not in row:
            raise ValueError(f"{path}:{lineno}: expected a JSON object with a 'step' key")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: empty history; expected at least one logged step")
    return pd.DataFrame(rows).sort_values("step", kind="stable").reset_index(drop=True)


def _loss_panels(columns: Sequence[str]) -> dict[str, list[tuple[str, bool]]]:
    """Subplot name → [(history column, is_aux)] for total, each task (final + deep supervision), contrast."""
    panels: dict[str, list[tuple[str, bool]]] = {}
    if "train/loss" in columns:
        panels["total"] = [("train/loss", False)]
    for task in ALL_TASKS:
        named = ((f"train/loss_{task}", False), (f"train/loss_{task}_aux", True))
        cols = [(c, aux) for c, aux in named if c in columns]
        if cols:
            panels[task] = cols
    if "train/loss_contrast" in columns:
        panels["contrast"] = [("train/loss_contrast", False)]
    return panels


def learning_curves(history_jsonl_paths: Mapping[str, str | Path], out_png: str | Path) -> Path:
    """One subplot per loss component (total, each task, contrast), x = iteration, one line per variant
    (dashed: the task's deep-supervision loss)."""
    if not history_jsonl_paths:
        raise ValueError("learning_curves: no history files given")
    histories = {name: read_history(path) for name, path in history_jsonl_paths.items()}
    all_columns = sorted({c for h in histories.values() for c in h.columns})
    panels = _loss_panels(all_columns)
    if not panels:
        files = ", ".join(str(p) for p in history_jsonl_paths.values())
        raise ValueError(f"{files}: no train/loss* columns to plot")
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows), dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, cols) in zip(axes, panels.items()):
        for vi, (variant, hist) in enumerate(histories.items()):
            color = _VARIANT_COLORS[vi % len(_VARIANT_COLORS)]
            for col, aux in cols:
                if col in hist.columns:
                    series = pd.to_numeric(hist[col], errors="coerce")
                    label = f"{variant} (deep sup.)" if aux else variant
                    ax.plot(hist["step"], series, color=color, ls="--" if aux else "-", lw=1.4, label=label)
        title = {"total": "total loss (weighted sum)", "contrast": "contrastive regulariser"}.get(name, f"{name} loss")
        ax.set_title(title, color=TASK_COLORS.get(name, NEUTRAL_COLOR), fontweight="bold")
        ax.set_xlabel("iteration")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss (unweighted)" if name != "total" else "loss")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    # one legend for all panels, below them: inside an axes it covered the curves
    entries: dict[str, Any] = {}
    for ax in axes[: len(panels)]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    fig.legend(
        list(entries.values()), list(entries), loc="outside lower center", ncols=min(len(entries), 4), fontsize=8
    )
    fig.suptitle("Training losses")
    return save_figure(fig, out_png)


# ------------------------------------------------------------------------------------------------ qualitative panel
PANEL_CELL_IN = 2.0  # inches per image column
PANEL_TITLE_IN = 0.35  # per row, for the column titles
PANEL_LEGEND_IN = 0.25  # per row of class legend entries
LEGEND_COLS = 8
LEGEND_MAX_CLASSES = 16  # per discrete task, most frequent first


def _rows(value: Any, n: int | None, what: str) -> list[np.ndarray]:
    """Images: one H×W×3 array or a sequence / N×H×W×3 stack. Maps (``n`` given): a sequence of ``n`` maps, or
    one bare map when ``n`` is 1."""
    if n is None and isinstance(value, np.ndarray) and value.ndim == 3:
        rows = [value]
    elif n == 1 and isinstance(value, np.ndarray):
        rows = [value]
    else:
        rows = [np.asarray(v) for v in value]
    if n is not None and len(rows) != n:
        raise ValueError(f"qualitative_panel: {what} has {len(rows)} row(s), expected {n} (one per image)")
    return rows


def _legend_classes(maps: Sequence[np.ndarray], limit: int) -> list[int]:
    """Classes present in ``maps`` (ignore excluded), most frequent first, at most ``limit``."""
    counts = np.zeros(256, dtype=np.int64)
    for m in maps:
        counts += np.bincount(np.clip(np.asarray(m, np.int64).ravel(), 0, 255), minlength=256)
    counts[IGNORE_INDEX] = 0
    order = np.argsort(-counts, kind="stable")
    return [int(c) for c in order[:limit] if counts[c] > 0]


def qualitative_panel(
    image_u8: np.ndarray | Sequence[np.ndarray],
    gts: Mapping[str, Any],
    preds: Mapping[str, Any],
    out_png: str | Path,
    dataset: str | DatasetSpec,
    *,
    ids: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Rows = images, columns = input | GT | prediction per task.

    ``image_u8``: one H×W×3 uint8 image or a sequence of them (sizes may differ); ``gts[t]`` / ``preds[t]``: one map
    or a sequence, one per image, in PreparedSplit / ``postprocess`` conventions (class maps, depth in metres,
    H×W×3 normals, edge / saliency in [0, 1]). Depth GT and prediction share a colour range per row.
    """
    spec = _spec(dataset)
    images = _rows(image_u8, None, "image_u8")
    for i, img in enumerate(images):
        if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
            raise ValueError(f"qualitative_panel: image {i} must be H×W×3 uint8, got {img.shape} {img.dtype}")
    tasks = [t for t in spec.tasks if t in gts or t in preds]
    unknown = sorted((set(gts) | set(preds)) - set(spec.tasks))
    missing = sorted(set(gts) ^ set(preds))
    if unknown or missing or not tasks:
        raise ValueError(
            f"qualitative_panel: gts and preds need the same tasks of {spec.name} {list(spec.tasks)}; "
            f"got gts {sorted(gts)}, preds {sorted(preds)}"
        )
    n = len(images)
    gt_rows = {t: _rows(gts[t], n, f"gts[{t!r}]") for t in tasks}
    pred_rows = {t: _rows(preds[t], n, f"preds[{t!r}]") for t in tasks}
    discrete = [t for t in tasks if t in spec.class_names]
    legend = {t: _legend_classes(gt_rows[t] + pred_rows[t], LEGEND_MAX_CLASSES) for t in discrete}
    legend_rows = math.ceil((sum(len(c) for c in legend.values()) + 1) / LEGEND_COLS)  # + the ignore entry

    ncols = 1 + 2 * len(tasks)
    aspect = min(max(images[0].shape[0] / images[0].shape[1], 0.4), 2.0)
    height = n * (PANEL_CELL_IN * aspect + PANEL_TITLE_IN) + legend_rows * PANEL_LEGEND_IN + (0.4 if title else 0)
    fig = Figure(figsize=(PANEL_CELL_IN * ncols, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(n, ncols, squeeze=False)
    for r in range(n):
        hw = images[r].shape[:2]
        axes[r, 0].imshow(images[r], interpolation="nearest")
        axes[r, 0].set_title("input" if ids is None else f"input {ids[r]}", fontsize=9)
        for k, task in enumerate(tasks):
            gt = _squeeze(task, gt_rows[task][r], f"gts[{task!r}][{r}]")
            pred = _squeeze(task, pred_rows[task][r], f"preds[{task!r}][{r}]")
            for arr, what in ((gt, "GT"), (pred, "pred")):
                if arr.shape[:2] != hw:
                    raise ValueError(
                        f"qualitative_panel: {what} {task} of row {r} is {arr.shape[:2]}, image is {hw} (crop the "
                        "padding first)"
                    )
            vrange = depth_range([gt]) if task == "depth" else None
            for j, (arr, what) in enumerate(((gt, "GT"), (pred, "pred"))):
                ax = axes[r, 1 + 2 * k + j]
                ax.imshow(render_map(task, arr, vrange=vrange, what=what), interpolation="nearest")
                ax.set_title(f"{task} {what}", fontsize=9, color=TASK_COLORS.get(task, NEUTRAL_COLOR))
            if task == "depth":
                mappable = ScalarMappable(Normalize(*vrange), matplotlib.colormaps[DEPTH_CMAP])
                cbar = fig.colorbar(mappable, ax=axes[r, 1 + 2 * k + 1], fraction=0.046, pad=0.02)
                cbar.set_label("depth (m)", fontsize=8)
                cbar.ax.tick_params(labelsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    palette = class_palette() / 255.0
    handles = [
        Patch(facecolor=palette[c], edgecolor="none", label=f"{t}: {spec.class_names[t][c]}")
        for t in discrete
        for c in legend[t]
        if c < len(spec.class_names[t])
    ]
    handles.append(Patch(facecolor="black", edgecolor="grey", label="ignore / invalid"))
    fig.legend(handles=handles, loc="outside lower center", ncols=LEGEND_COLS, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title)
    return save_figure(fig, out_png)


# ------------------------------------------------------------------------------------------------ confusion matrix
def confusion_matrix_png(
    conf: np.ndarray, class_names: Sequence[str], out_png: str | Path, *, title: str | None = None
) -> Path:
    """Row-normalised confusion (rows: ground truth, columns: prediction, as ``ConfusionMeter``); classes
    absent from the ground truth are hatched grey. Cell values are printed for up to 25 classes."""
    conf = np.asarray(conf)
    k = len(class_names)
    if conf.ndim != 2 or conf.shape != (k, k):
        raise ValueError(f"confusion_matrix_png: confusion of shape {conf.shape} does not match {k} class names")
    if (conf < 0).any():
        raise ValueError("confusion_matrix_png: confusion counts must be non-negative")
    rows = conf.sum(axis=1, keepdims=True).astype(np.float64)
    frac = np.divide(conf, rows, out=np.full(conf.shape, np.nan), where=rows > 0)
    side = max(4.5, 0.26 * k + 2.6)
    fig = Figure(figsize=(side + 1.0, side), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(100 * frac), cmap=cmap, vmin=0.0, vmax=100.0, interpolation="nearest")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    cbar.set_label("% of the ground-truth class's pixels")  # the same unit as the title and the cell values
    fs = 8 if k <= 25 else 6
    ax.set_xticks(range(k), labels=list(class_names), rotation=90, fontsize=fs)
    ax.set_yticks(range(k), labels=list(class_names), fontsize=fs)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("ground-truth class")
    if k <= 25:
        for i, j in zip(*np.nonzero(np.isfinite(frac) & (frac >= 0.005))):
            ax.text(
                j,
                i,
                f"{100 * frac[i, j]:.0f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if frac[i, j] > 0.5 else "black",
            )
    acc = np.trace(conf) / conf.sum() if conf.sum() else float("nan")
    ax.set_title((title + "\n" if title else "") + f"confusion, row-normalised (%); pixel acc. {100 * acc:.1f}%")
    return save_figure(fig, out_png)


# ------------------------------------------------------------------------------------------------ ablation chart
ABLATION_COLUMNS = ("setting", "metric", "mean", "std", "n")


def value_limits(
    low: np.ndarray, high: np.ndarray, *, include_zero: bool = False, pad: float = 0.15
) -> tuple[float, float]:
    """y-limits around the finite values in ``[low, high]`` (mean ± std), padded by ``pad`` of their span (of the
    value's size when they are all equal); 0 included only when asked (Δm, whose reference is 0). Why not from 0: a
    3.75 vs 3.97 mIoU difference is invisible on a 0-based axis."""
    values = np.concatenate([np.asarray(low, float), np.asarray(high, float)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (-1.0, 1.0)
    lo, hi = float(values.min()), float(values.max())
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    span = hi - lo or max(abs(hi), 1e-6) * 0.1
    return lo - pad * span, hi + pad * span


def ablation_chart(summary: pd.DataFrame, out_png: str | Path, title: str = "Ablation") -> Path:
    """One subplot per metric (Δm included), one point per setting at the mean with ±std error bars over seeds
    (settings in first-appearance order), coloured by the metric's task and labelled mean ± std (n). The y-axis
    spans the data (:func:`value_limits`), not 0..max, so points, not bars (a bar's length would mislead); Δm axes
    include 0, drawn as a line."""
    missing = [c for c in ABLATION_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"ablation_chart: summary lacks column(s) {missing}; expected {list(ABLATION_COLUMNS)}")
    if summary.empty:
        raise ValueError("ablation_chart: empty summary")
    dup = summary.duplicated(["setting", "metric"])
    if dup.any():
        first = summary.loc[dup, ["setting", "metric"]].iloc[0].tolist()
        raise ValueError(f"ablation_chart: (setting, metric) {first} appears more than once")
    settings = list(dict.fromkeys(summary["setting"].astype(str)))
    metrics = list(dict.fromkeys(summary["metric"].astype(str)))
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    width = max(3.6, 0.6 * len(settings) + 1.4)
    fig = Figure(figsize=(width * ncols, 3.6 * nrows), dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    table = summary.assign(setting=summary["setting"].astype(str), metric=summary["metric"].astype(str))
    for ax, metric in zip(axes, metrics):
        part = table[table["metric"] == metric].set_index("setting").reindex(settings)
        mean = part["mean"].astype(float).to_numpy()
        raw_std = part["std"].astype(float).to_numpy()
        std = np.nan_to_num(raw_std, nan=0.0)  # one seed: no spread to show
        x = np.arange(len(settings))
        delta = "delta" in metric.lower()
        color = "#222222" if delta else task_color(metric)
        ax.errorbar(x, mean, yerr=std, fmt="o", ms=7, color=color, ecolor="black", elinewidth=1.2, capsize=5)
        lo, hi = value_limits(mean - std, mean + std, include_zero=delta, pad=0.35)
        ax.set_ylim(lo, hi)
        for xi, m, s, rs, n in zip(x, mean, std, raw_std, part["n"].to_numpy()):
            if not np.isfinite(m):
                continue
            label = f"{m:.4g}" + (f"±{rs:.2g}" if np.isfinite(rs) else "") + (f" (n={int(n)})" if pd.notna(n) else "")
            ax.annotate(
                label, (xi, m + s), xytext=(0, 4), textcoords="offset points", ha="center", va="bottom", fontsize=7
            )
        if delta:
            ax.axhline(0.0, color="black", lw=0.8)
        slanted = max(map(len, settings)) > 6
        ax.set_xticks(x, labels=settings, rotation=30 if slanted else 0, ha="right" if slanted else "center")
        ax.set_xlim(-0.6, len(settings) - 0.4)
        ax.tick_params(axis="x", labelsize=8)
        shown = {"delta_m_vs_host": "Δm vs host (%)", "delta_m": "Δm (%)"}.get(metric, metric)
        ax.set_title(shown, color=color, fontweight="bold")
        ax.set_ylabel(shown)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(metrics) :]:
        ax.set_axis_off()
    fig.suptitle(f"{title} (points: mean over seeds, error bars: ±1 std; axes span the data, not from 0)")
    return save_figure(fig, out_png)


_METRIC_LABELS = {"miou": "mIoU", "rmse": "RMSE", "mean": "mErr", "maxf": "maxF", "odsf": "odsF"}


def forest_plot(results: Mapping[str, Any], out_png: str | Path) -> Path | None:
    """The regulariser's paired effects of ``reports/metrics.json`` (``contrast_minus_host``) as a forest plot: one
    row per task metric and Δm vs host, each on its own axis (the units differ), with the per-seed differences
    (dots), their mean (diamond), the 95 % t interval over seeds (thick bar) and the bootstrap interval over val
    images (thin bar), against a zero line; the verdict of each row beside it. None when there is no pair."""
    pairs = results.get("contrast_minus_host") or {}
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for pair, entry in pairs.items():
        for key, effect in entry.get("effects", {}).items():
            rows.append((pair, key, effect))
    if not rows:
        return None
    n_seeds = max(e["n"] for _, _, e in rows)
    fig = Figure(figsize=(10.0, 0.95 * len(rows) + 1.3), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    fig.subplots_adjust(
        left=0.25,
        right=0.97,
        top=1 - 0.75 / (0.95 * len(rows) + 1.3),
        bottom=0.5 / (0.95 * len(rows) + 1.3),
        hspace=1.1,
    )
    for ax, (_, key, e) in zip(axes, rows, strict=True):
        task = key.split(".")[0]
        color = task_color(task) if task in TASK_COLORS else "#333333"
        values = [v for v in (*e["diffs"], e["low"], e["high"], *(e["bootstrap"] or ())) if v is not None]
        span = max(abs(v) for v in [*values, 0.0]) or 1.0  # all zero: a unit axis, not one of 1e-12
        ax.set_xlim(-1.15 * span, 1.15 * span)
        ax.axvline(0.0, color="#888888", lw=1, zorder=1)
        diffs = [d for d in e["diffs"] if d is not None]
        ax.scatter(diffs, [0.18] * len(diffs), s=18, color=color, alpha=0.55, zorder=3, label="per seed")
        if e["low"] is not None:
            ax.plot([e["low"], e["high"]], [0, 0], color=color, lw=4, solid_capstyle="butt", zorder=2)
        if e["bootstrap"]:
            ax.plot(e["bootstrap"], [-0.22, -0.22], color=color, lw=1.5, alpha=0.8, zorder=2)
        if e["mean"] is not None:
            ax.scatter([e["mean"]], [0], marker="D", s=48, color="black", zorder=4)
        ax.set_ylim(-0.5, 0.5)
        ax.set_yticks([])
        better = "higher is better" if e["higher_is_better"] else "lower is better"
        metric = key.split(".")[-1]
        label = "Δm vs host (%)" if key == "delta_m" else f"{task} {_METRIC_LABELS.get(metric, metric)}"
        ax.set_ylabel(f"{label}\n({better})", rotation=0, ha="right", va="center", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_title(e["verdict"], fontsize=8, loc="left", pad=3)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    pair_names = ", ".join(pairs)
    ci = "no interval (one seed)" if n_seeds < 2 else "thick bar: 95 % t interval over seeds"
    boot = " · thin bar: bootstrap over val images" if any(e["bootstrap"] for _, _, e in rows) else ""
    fig.suptitle(
        f"Regulariser effect, {pair_names} (with − without, paired by seed, {n_seeds} seed"
        f"{'s' if n_seeds != 1 else ''})\n◆ mean · dots: seeds · {ci}{boot}",
        fontsize=10,
    )
    return save_figure(fig, out_png)


def study_plot(rows: Sequence[tuple[str, Mapping[str, Any]]], out_png: str | Path, title: str) -> Path | None:
    """Δm vs host of each (regime, arm) of a study on one shared axis (the same unit everywhere, so rows compare
    at a glance): per-seed differences (dots), their mean (diamond), the 95 % t interval over seeds (bar), a zero
    line, and each row's verdict beside it. ``rows``: ``(label, effect)`` with an effect as in
    ``report.results.effect_entry``. None when there is no row."""
    if not rows:
        return None
    values = [v for _, e in rows for v in (*e["diffs"], e["low"], e["high"]) if v is not None]
    span = max(abs(v) for v in [*values, 0.0]) or 1.0
    height = 0.75 * len(rows) + 1.6
    fig = Figure(figsize=(11.0, height), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.3, 0.9 / height, 0.4, 1 - 1.7 / height))
    ax.axvline(0.0, color="#888888", lw=1, zorder=1)
    for y, (_, e) in enumerate(reversed(rows)):
        diffs = [d for d in e["diffs"] if d is not None]
        ax.scatter(diffs, [y + 0.2] * len(diffs), s=18, color="#444444", alpha=0.55, zorder=3)
        if e["low"] is not None:
            ax.plot([e["low"], e["high"]], [y, y], color="#222222", lw=4, solid_capstyle="butt", zorder=2)
        if e["mean"] is not None:
            ax.scatter([e["mean"]], [y], marker="D", s=48, color="black", zorder=4)
        verdict, _, numbers = e["verdict"].partition(": ")
        ax.text(1.2 * span, y, f"{verdict}\n{numbers}", fontsize=7.5, va="center", ha="left")
    ax.set_xlim(-1.15 * span, 1.15 * span)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticks(range(len(rows)), [label for label, _ in reversed(rows)], fontsize=9)
    ax.set_xlabel("Δm vs host (%), arm − host of the same seed (higher is better)", fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.suptitle(f"{title}\n◆ mean · dots: seeds · bar: 95 % t interval over seeds", fontsize=10)
    return save_figure(fig, out_png)


def val_curves(histories: Mapping[tuple[str, int], str | Path], out_png: str | Path) -> Path | None:
    """The convergence evidence: one subplot per task's primary val metric (the points logged during training,
    ``train.val_evals``), one line per run, coloured by variant, one line style per seed. None when no history holds
    a val point."""
    from mtcontrast.metrics.delta_m import DELTA_M_METRICS
    from mtcontrast.report.convergence import val_points

    points = {run: val_points(Path(path)) for run, path in histories.items()}
    tasks = [t for t in DELTA_M_METRICS if any(t in p for p in points.values())]
    if not tasks:
        return None
    variants = list(dict.fromkeys(v for v, _ in points))
    seeds = sorted({s for _, s in points})
    styles = ("-", "--", ":", "-.")
    ncols = min(4, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    fig = Figure(figsize=(3.8 * ncols, 3.2 * nrows + 0.8), dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, task in zip(axes, tasks):
        metric, lower = DELTA_M_METRICS[task]
        for (variant, seed), by_task in points.items():
            if task in by_task:
                steps, values = zip(*by_task[task])
                color = _VARIANT_COLORS[variants.index(variant) % len(_VARIANT_COLORS)]
                ls = styles[seeds.index(seed) % len(styles)]
                ax.plot(steps, values, color=color, ls=ls, marker="o", ms=3, lw=1.2, label=f"{variant} s{seed}")
        ax.set_title(
            f"{task} {_METRIC_LABELS.get(metric, metric)} ({'lower' if lower else 'higher'} is better)",
            color=TASK_COLORS.get(task, NEUTRAL_COLOR),
            fontsize=10,
        )
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    for ax in axes[len(tasks) :]:
        ax.set_axis_off()
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1 : len(tasks)]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="outside lower center", ncol=min(6, len(labels)), fontsize=8)
    fig.suptitle("Val metrics during training (last iterate reported; nothing selected on val)", fontsize=11)
    return save_figure(fig, out_png)
