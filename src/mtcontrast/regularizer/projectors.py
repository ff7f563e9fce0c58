"""Projectors g_{t→s} from a task feature to the contrastive embedding (docs/method.md §3.3).

They live in the loss module so the exported model is the host unchanged. ``pair`` keeps one head per ordered
(target, source) pair, ``target`` one per target, ``shared`` a single head (equal channels required) and ``none``
only L2-normalises the feature.

A head is the per-pixel MLP of docs/method.md §3.3 (a 1×1 conv is a linear map per pixel), applied only to the
N sampled feature vectors (anchors, positives, negatives) rather than to the whole map: the loss reads nothing
else, and this keeps the regulariser's training cost to a few percent (benchmarks/bench_regularizer.py). The one
difference from projecting the full map is that BatchNorm statistics come from the sampled pixels, and only from
the samples of valid triplets: a masked anchor, positive or negative (a placeholder index) is normalised with the
statistics of the others but does not enter them (docs/regulariser-api.md).

Projection and normalisation run in float32 even under autocast: the embedding is small (N×D), and half precision
would let large features overflow and turn the unit-norm division of a zero vector into NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ProjectorMode = Literal["pair", "target", "shared", "none"]


class ProjectionHead(nn.Sequential):
    """Per-pixel W₁ (C→C) → BN → ReLU → W₂ (C→D) on N×C sampled feature vectors, L2-normalised: N×D."""

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__(
            nn.Linear(channels, channels, bias=False),
            nn.BatchNorm1d(channels),
            nn.ReLU(inplace=True),
            nn.Linear(channels, dim),
        )

    def forward(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        """``x``: N×C; ``valid``: N bools, the rows whose statistics BatchNorm uses (all rows when None)."""
        w1, bn, _, w2 = self
        with torch.autocast(x.device.type, enabled=False):
            h = F.linear(x.float(), w1.weight.float())
            if valid is None or not (self.training and bn.training):
                # BatchNorm over the N samples in C×N layout: CPU batch norm on N×C is ~2× slower
                h = bn(h.t().unsqueeze(0)).squeeze(0).t()
            else:
                h = _masked_batch_norm(h, valid, bn)
            z = F.linear(torch.relu(h), w2.weight.float(), w2.bias.float())
            return unit(z)


def unit(z: Tensor) -> Tensor:
    """z / max(‖z‖, 1e-12) in float32 (= F.normalize); a zero vector stays zero, never NaN."""
    z = z.float()
    return z * torch.rsqrt(z.pow(2).sum(-1, keepdim=True).clamp_min(1e-24))


def _masked_batch_norm(h: Tensor, valid: Tensor, bn: nn.BatchNorm1d) -> Tensor:
    """Training-mode BatchNorm of N×C rows with mean and variance over the ``valid`` rows only; every row is
    normalised with them. Running statistics are updated as nn.BatchNorm1d would from the valid rows alone.
    Sums over rows are matrix-vector products (fast on CPU for N×C rows), and the affine map is one fused op."""
    w = valid.to(h.dtype)  # N
    n = w.sum()
    n1 = n.clamp_min(1.0)
    mean = (w @ h) / n1
    centred = h - mean
    var = (w @ centred.square()) / n1  # biased, as BatchNorm normalises
    if bn.track_running_stats and bn.running_mean is not None and bn.running_var is not None:
        with torch.no_grad():
            m = bn.momentum if bn.momentum is not None else 0.1
            unbiased = var.detach() * n / (n - 1).clamp_min(1.0)
            has = (n > 1).to(h.dtype)  # no update from fewer than two valid rows
            bn.running_mean.lerp_(mean.detach(), m * has)
            bn.running_var.lerp_(unbiased, m * has)
            bn.num_batches_tracked.add_(1)
    scale = torch.rsqrt(var + bn.eps)
    if bn.affine:
        scale = scale * bn.weight.float()
        return torch.addcmul(bn.bias.float(), centred, scale)
    return centred * scale


def pair_key(target: str, source: str) -> str:
    return f"{target}_from_{source}"


class ProjectorBank(nn.Module):
    """All projectors of one criterion, looked up by (target, source)."""

    def __init__(
        self,
        mode: ProjectorMode,
        pairs: Iterable[tuple[str, str]],
        feat_channels: Mapping[str, int],
        dim: int,
    ) -> None:
        super().__init__()
        self.mode = mode
        pairs = list(pairs)
        targets = sorted({t for t, _ in pairs})
        missing = [t for t in targets if t not in feat_channels]
        if missing:
            raise ValueError(f"feat_channels has no entry for target task(s) {missing}; got {dict(feat_channels)}")
        self.heads = nn.ModuleDict()
        if mode == "pair":
            for t, s in pairs:
                self.heads[pair_key(t, s)] = ProjectionHead(feat_channels[t], dim)
        elif mode == "target":
            for t in targets:
                self.heads[t] = ProjectionHead(feat_channels[t], dim)
        elif mode == "shared":
            widths = {feat_channels[t] for t in targets}
            if len(widths) != 1:
                raise ValueError(
                    "loss.contrast.projector=shared needs equal feature channels for all targets, got "
                    f"{ {t: feat_channels[t] for t in targets} }"
                )
            self.heads["shared"] = ProjectionHead(widths.pop(), dim)
        elif mode != "none":
            raise ValueError(f"loss.contrast.projector={mode!r}; allowed: pair, target, shared, none")

    def key(self, target: str, source: str) -> str | None:
        """Name of the head used for (target, source), or None for ``none``."""
        return {"pair": pair_key(target, source), "target": target, "shared": "shared"}.get(self.mode)

    def forward(self, vectors: Tensor, target: str, source: str, valid: Tensor | None = None) -> Tensor:
        """Embed N×C sampled feature vectors of ``target`` to unit float32 N×D vectors (one call per pair and
        step, so BatchNorm sees all of the pair's valid samples at once)."""
        key = self.key(target, source)
        if key is None:
            return unit(vectors)
        return self.heads[key](vectors, valid)
