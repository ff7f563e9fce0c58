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

The loss reads the embeddings only through their dot products (cosines, distances between unit vectors). When
D > C + 1, the regulariser therefore uses :meth:`ProjectionHead.compact`, an isometric copy of the embedding in C + 1
dimensions: with W̃ = [W₂ | b₂] = QR (reduced QR, Q with orthonormal columns), W₂r + b₂ = Q·R[r; 1], so R[r; 1] has
the same norms and dot products as the D-dim output, hence the same loss and (exact arithmetic) the same gradients,
at (C + 1)/D of the element-wise work (docs/regulariser-api.md, "Cost").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import torch
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
        return project([self], x.unsqueeze(0), None if valid is None else valid.unsqueeze(0), compact=False)[0]

    def compact(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        """Unit N×min(D, C + 1) vectors with the same pairwise dot products as :meth:`forward`'s N×D ones."""
        return project([self], x.unsqueeze(0), None if valid is None else valid.unsqueeze(0), compact=True)[0]


def project(heads: Sequence[ProjectionHead], x: Tensor, valid: Tensor | None, compact: bool) -> Tensor:
    """Head g embeds x[g] (G×N×C) to unit float32 G×N×D vectors (or their compact copy), with BatchNorm statistics
    per g: several pairs in one batched call, each normalised as if alone. A head may appear more than once."""
    with torch.autocast(x.device.type, enabled=False):
        w1 = torch.stack([h[0].weight for h in heads]).float()  # G×C×C
        h = _batch_norm(torch.bmm(x.float(), w1.transpose(1, 2)), valid, [h[1] for h in heads])
        w2 = torch.stack([h[3].weight for h in heads]).float()  # G×D×C
        b2 = torch.stack([h[3].bias for h in heads]).float()  # G×D
        if compact and w2.shape[1] > w2.shape[2] + 1:
            _, r = torch.linalg.qr(torch.cat((w2, b2.unsqueeze(2)), dim=2))  # G×(C+1)×(C+1)
            w2, b2 = r[..., :-1], r[..., -1]
        return unit(torch.baddbmm(b2.unsqueeze(1), torch.relu(h), w2.transpose(1, 2)))


def unit(z: Tensor) -> Tensor:
    """z / max(‖z‖, 1e-12) in float32 (= F.normalize); a zero vector stays zero, never NaN."""
    z = z.float()
    return z * torch.rsqrt(z.pow(2).sum(-1, keepdim=True).clamp_min(1e-24))


def _batch_norm(h: Tensor, valid: Tensor | None, bns: Sequence[nn.BatchNorm1d]) -> Tensor:
    """BatchNorm of G×N×C rows, ``bns[g]`` for h[g]. In training mode the mean and variance of h[g] come from its
    ``valid`` rows only (all rows when None) and every row is normalised with them; running statistics are updated
    as nn.BatchNorm1d would from those rows, head by head in order. In eval mode the running statistics apply.
    Sums over rows are batched matrix-vector products (fast on CPU), and the affine map is one fused op."""
    bn = bns[0]
    if bn.training or not bn.track_running_stats:
        w = torch.ones_like(h[..., 0]) if valid is None else valid.to(h.dtype)  # G×N
        n = w.sum(1, keepdim=True)  # G×1
        n1 = n.clamp_min(1.0)
        mean = torch.bmm(w.unsqueeze(1), h).squeeze(1) / n1  # G×C
        centred = h - mean.unsqueeze(1)
        var = torch.bmm(w.unsqueeze(1), centred.square()).squeeze(1) / n1  # biased, as BatchNorm normalises
        if bn.training and bn.track_running_stats:
            with torch.no_grad():
                unbiased = var.detach() * n / (n - 1).clamp_min(1.0)
                has = (n > 1).to(h.dtype)  # no update from fewer than two valid rows
                for g, norm in enumerate(bns):
                    m = has[g] * (norm.momentum if norm.momentum is not None else 0.1)
                    norm.running_mean.lerp_(mean[g].detach(), m)
                    norm.running_var.lerp_(unbiased[g], m)
                    norm.num_batches_tracked.add_(1)
    else:
        mean = torch.stack([b.running_mean for b in bns]).float()
        var = torch.stack([b.running_var for b in bns]).float()
        centred = h - mean.unsqueeze(1)
    scale = torch.rsqrt(var + bn.eps)
    if bn.affine:
        scale = scale * torch.stack([b.weight for b in bns]).float()
        return torch.addcmul(torch.stack([b.bias for b in bns]).float().unsqueeze(1), centred, scale.unsqueeze(1))
    return centred * scale.unsqueeze(1)


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
        """Embed N×C sampled feature vectors of one pair (see :meth:`embed`)."""
        return self.embed([vectors], [(target, source)], None if valid is None else [valid])[0]

    def embed(
        self, vectors: Sequence[Tensor], pairs: Sequence[tuple[str, str]], valid: Sequence[Tensor] | None = None
    ) -> list[Tensor]:
        """Embed each pair's N×C sampled feature vectors to unit float32 vectors, in the heads' isometric
        ``compact`` form (the N×D embedding's dot products). BatchNorm sees each pair's valid samples (``valid``,
        N bools each) at once and alone; pairs of equal shape share one batched call."""
        out: dict[int, Tensor] = {}
        buckets: dict[tuple[int, ...], list[int]] = {}
        for i, v in enumerate(vectors):
            buckets.setdefault(tuple(v.shape), []).append(i)
        for idx in buckets.values():
            x = vectors[idx[0]].unsqueeze(0) if len(idx) == 1 else torch.stack([vectors[i] for i in idx])
            if self.mode == "none":
                z = unit(x)
            else:
                heads = [self.heads[self.key(*pairs[i])] for i in idx]  # type: ignore[index]
                ok = None if valid is None else torch.stack([valid[i] for i in idx])
                z = project(heads, x, ok, compact=True)
            out.update(zip(idx, z.unbind()))
        return [out[i] for i in range(len(vectors))]
