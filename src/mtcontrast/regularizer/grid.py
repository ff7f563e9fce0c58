"""Source labels brought to the grid where the regulariser samples pixels (docs/method.md §3.4).

``labels_on_grid`` reduces a full-resolution label map to the task feature grid without mixing valid and invalid
pixels; ``labels_full_res`` keeps every pixel (for ``align: full_res``, where features are read bilinearly at label
coordinates instead). Both return :class:`GridLabels`, flattened per image so samplers index one axis.

Geometry: feature cell (i, j) covers label pixels [i·s, (i+1)·s) × [j·s, (j+1)·s) for the feature stride s, i.e.
the host pads bottom/right; labels are padded (invalid) or cropped to h·s × w·s to match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from mtcontrast.tasks import IGNORE_INDEX

LabelKind = Literal["discrete", "binary", "boundary", "depth", "normals"]
LABEL_KINDS: tuple[LabelKind, ...] = ("discrete", "binary", "boundary", "depth", "normals")

# This project's task names → label kinds. Users of the plain API name their own tasks and pass the kinds.
SOURCE_KINDS: dict[str, LabelKind] = {
    "semseg": "discrete",
    "human_parts": "discrete",
    "edge": "boundary",
    "sal": "binary",
    "depth": "depth",
    "normals": "normals",
}

MIN_VALID_FRACTION = 0.5  # a depth / normals cell needs at least this share of valid pixels
_EPS = 1e-6


@dataclass(frozen=True)
class GridLabels:
    """One source task's labels on a sampling grid, flattened to P = h·w positions per image.

    ``values``: B×P int64 class / binary codes, B×P float32 ln d (depth) or B×P×3 unit vectors (normals);
    ``valid``: B×P bool; ``size``: (h, w) of the grid; ``stride``: label pixels per grid step (1 at full res).
    ``kind`` is ``discrete``, ``binary`` (boundary labels become binary codes on the grid), ``depth`` or ``normals``.
    """

    kind: LabelKind
    values: Tensor
    valid: Tensor
    size: tuple[int, int]
    stride: int

    @property
    def discrete(self) -> bool:
        return self.kind in ("discrete", "binary")


def source_kind(task: str) -> LabelKind:
    """The label kind of one of this project's task names."""
    try:
        return SOURCE_KINDS[task]
    except KeyError:
        raise ValueError(f"no regulariser label rule for task {task!r}; known: {', '.join(SOURCE_KINDS)}") from None


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def infer_stride(label_hw: tuple[int, int], grid_hw: tuple[int, int], stride: int | None = None) -> int:
    """The feature stride: ``stride`` when given, else the integer s with h = ⌈H/s⌉ and w = ⌈W/s⌉ (the host's
    grid over its bottom/right-padded input), taking the exact divisor when several s fit."""
    if stride is not None:
        if stride < 1:
            raise ValueError(f"feature stride must be >= 1, got {stride}")
        return stride
    (H, W), (h, w) = label_hw, grid_hw
    if h > 0 and w > 0:
        lo = max(_ceil_div(H, h), _ceil_div(W, w))  # ⌈H/s⌉ = h  ⟺  H/h ≤ s < H/(h − 1)
        hi = min(_ceil_div(H, h - 1) - 1 if h > 1 else H, _ceil_div(W, w - 1) - 1 if w > 1 else W)
        if lo == hi or (lo < hi and H == h * lo and W == w * lo):
            return lo
    raise ValueError(
        f"cannot infer the feature stride from labels {H}x{W} and features {h}x{w}; pass feat_stride "
        "(the host's `feat_stride`) to build_criterion"
    )


def check_kind(task: str, kind: str) -> LabelKind:
    if kind not in LABEL_KINDS:
        raise ValueError(f"task {task!r}: label kind {kind!r} is not one of {', '.join(LABEL_KINDS)}")
    return kind  # type: ignore[return-value]


def check_grid(target: str, source: str, label_hw: tuple[int, int], grid_hw: tuple[int, int], stride: int) -> None:
    """Features of ``target`` must be the stride-``stride`` grid over the labels of ``source``: h = ⌈H/s⌉, w = ⌈W/s⌉
    (the host pads bottom/right to whole cells). Anything else is an error, never a silent crop or pad."""
    (H, W), (h, w) = label_hw, grid_hw
    if (h, w) != (_ceil_div(H, stride), _ceil_div(W, stride)):
        raise ValueError(
            f"features[{target!r}] are {h}x{w} but labels[{source!r}] are {H}x{W}: with stride {stride} the features "
            f"must be {_ceil_div(H, stride)}x{_ceil_div(W, stride)} (ceil(H/stride) x ceil(W/stride)); "
            "check the stride and that labels and images have the same size"
        )


def _check_label(task: str, label: Tensor, kind: LabelKind) -> Tensor:
    """The label in its canonical layout: B×H×W for class / binary maps (B×1×H×W accepted), B×1×H×W for depth
    (B×H×W accepted), B×3×H×W for normals."""
    channels = {"depth": 1, "normals": 3}.get(kind)
    if channels is None and label.dim() == 4 and label.shape[1] == 1:
        label = label[:, 0]
    elif kind == "depth" and label.dim() == 3:
        label = label.unsqueeze(1)
    want = 3 if channels is None else 4
    if label.dim() != want or (channels is not None and label.shape[1] != channels):
        shape = "B×H×W or B×1×H×W" if channels is None else f"B×{channels}×H×W"
        raise ValueError(f"labels[{task!r}] ({kind}): expected a {shape} tensor, got shape {tuple(label.shape)}")
    return label


def _fit(label: Tensor, height: int, width: int, fill: float) -> Tensor:
    """Pad bottom/right with ``fill`` or crop so the last two dims are height × width."""
    H, W = label.shape[-2:]
    label = label[..., : min(H, height), : min(W, width)]
    pad_h, pad_w = height - label.shape[-2], width - label.shape[-1]
    if pad_h or pad_w:
        label = F.pad(label, (0, pad_w, 0, pad_h), value=fill)
    return label


def _flat(values: Tensor, valid: Tensor, kind: LabelKind, size: tuple[int, int], stride: int) -> GridLabels:
    B = valid.shape[0]
    if kind == "normals":  # B×3×h×w → B×P×3
        values = values.flatten(2).transpose(1, 2).contiguous()
    else:
        values = values.reshape(B, -1)
    return GridLabels(kind, values, valid.reshape(B, -1), size, stride)


def _binarise(label: Tensor) -> tuple[Tensor, Tensor]:
    """{0, 1} codes (threshold 0.5) and validity of a binary map with 255 padding."""
    valid = label != IGNORE_INDEX
    return ((label.float() > 0.5) & valid).long(), valid


def labels_on_grid(
    task: str, label: Tensor, grid_hw: tuple[int, int], stride: int, kind: LabelKind | None = None
) -> GridLabels:
    """Reduce a label map of ``task`` (of ``kind``, default: the project's kind for that name) to the h×w feature
    grid (docs/method.md §3.4)."""
    kind = source_kind(task) if kind is None else check_kind(task, kind)
    label = _check_label(task, label, kind).detach()
    h, w = grid_hw
    s = stride
    off = s // 2  # nearest = the label at the cell centre
    if kind == "discrete":
        lab = _fit(label, h * s, w * s, IGNORE_INDEX)[:, off::s, off::s].long()
        return _flat(lab, lab != IGNORE_INDEX, kind, grid_hw, s)
    if kind == "binary":  # regions (saliency): nearest, like classes
        lab = _fit(label, h * s, w * s, IGNORE_INDEX)[:, off::s, off::s]
        codes, valid = _binarise(lab)
        return _flat(codes, valid, "binary", grid_hw, s)
    if kind == "boundary":  # edges: max-pool over valid pixels so one-pixel-thin edges survive
        lab = _fit(label, h * s, w * s, IGNORE_INDEX)
        codes, valid = _binarise(lab)
        pooled = F.max_pool2d(torch.stack((codes, valid), dim=1).float(), s)
        return _flat(pooled[:, 0].long(), pooled[:, 1] > 0, "binary", grid_hw, s)
    lab = _fit(label.float(), h * s, w * s, 0.0)
    if kind == "depth":
        valid = lab > 0
        log_d = torch.log(torch.where(valid, lab, torch.ones_like(lab)))  # 0 where invalid
        pooled = F.avg_pool2d(torch.cat((log_d, valid.float()), dim=1), s)
        frac = pooled[:, 1:]
        mean = pooled[:, :1] / frac.clamp_min(_EPS)
        cell_valid = frac >= MIN_VALID_FRACTION
        return _flat(torch.where(cell_valid, mean, 0.0).squeeze(1), cell_valid.squeeze(1), kind, grid_hw, s)
    # normals: an invalid pixel is the zero vector, so the plain cell mean already skips it. One pooling over the
    # three components and a validity channel; norms as explicit sums (vector_norm over a strided dim is ~20× slower
    # on CPU, and this runs on the full-resolution map every step).
    valid = (lab != 0).any(dim=1, keepdim=True)
    pooled = F.avg_pool2d(torch.cat((lab, valid.float()), dim=1), s)
    mean, frac = pooled[:, :3], pooled[:, 3:]
    norm = _norm3(mean)
    cell_valid = (frac >= MIN_VALID_FRACTION) & (norm > _EPS)
    unit = torch.where(cell_valid, mean / norm.clamp_min(_EPS), 0.0)
    return _flat(unit, cell_valid.squeeze(1), kind, grid_hw, s)


def _norm3(v: Tensor, dim: int = 1) -> Tensor:
    """Euclidean norm over a 3-long ``dim`` (kept), as explicit products: fast on CPU for a strided dim."""
    x, y, z = v.unbind(dim)
    return (x * x + y * y + z * z).sqrt().unsqueeze(dim)


def labels_full_res(task: str, label: Tensor, kind: LabelKind | None = None) -> GridLabels:
    """Every label pixel as a sampling position (``align: full_res``), with the same validity rules."""
    kind = source_kind(task) if kind is None else check_kind(task, kind)
    label = _check_label(task, label, kind).detach()
    size = (int(label.shape[-2]), int(label.shape[-1]))
    if kind == "discrete":
        lab = label.long()
        return _flat(lab, lab != IGNORE_INDEX, kind, size, 1)
    if kind in ("binary", "boundary"):
        codes, valid = _binarise(label)
        return _flat(codes, valid, "binary", size, 1)
    lab = label.float()
    if kind == "depth":
        valid = lab > 0
        log_d = torch.log(torch.where(valid, lab, torch.ones_like(lab)))
        return _flat(torch.where(valid, log_d, 0.0).squeeze(1), valid.squeeze(1), kind, size, 1)
    norm = _norm3(lab)
    valid = norm > 0
    unit = torch.where(valid, lab / norm.clamp_min(_EPS), 0.0)
    return _flat(unit, valid.squeeze(1), kind, size, 1)
