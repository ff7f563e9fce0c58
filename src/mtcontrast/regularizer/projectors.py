"""Projectors g_{t→s} from a task feature to the contrastive embedding (docs/method.md §3.3).

They live in the loss module so the exported model is the host unchanged. ``pair`` keeps one head per ordered
(target, source) pair, ``target`` one per target, ``shared`` a single head (equal channels required) and ``none``
only L2-normalises the feature.

A head is the per-pixel MLP of docs/method.md §3.3 (a 1×1 conv is a linear map per pixel), applied only to the
N sampled feature vectors (anchors, positives, negatives) rather than to the whole map: the loss reads nothing
else, and this keeps the regulariser's training cost to a few percent (benchmarks/bench_regularizer.py). The one
difference from projecting the full map is that BatchNorm statistics come from the sampled pixels.
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

    def forward(self, x: Tensor) -> Tensor:
        w1, bn, _, w2 = self
        # BatchNorm over the N samples in C×N layout: CPU batch norm on N×C is ~2× slower (strided statistics)
        h = bn(F.linear(x, w1.weight).t().unsqueeze(0)).squeeze(0).t()
        z = F.linear(torch.relu(h), w2.weight, w2.bias)
        return z * torch.rsqrt(z.pow(2).sum(-1, keepdim=True).clamp_min(1e-24))  # = F.normalize, eps 1e-12


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

    def forward(self, vectors: Tensor, target: str, source: str) -> Tensor:
        """Embed N×C sampled feature vectors of ``target`` to unit N×D vectors (one call per pair and step, so
        BatchNorm sees all of the pair's samples at once)."""
        key = self.key(target, source)
        if key is None:
            return F.normalize(vectors, dim=-1, eps=1e-12)
        return self.heads[key](vectors)
