"""Contrastive objectives on L2-normalised embeddings (docs/method.md §3.7 and §4).

Each returns per-anchor terms so the caller decides the reduction (mean over all triplets of a pair) and can log
distances. Masked entries use a large finite negative logit instead of −inf so no NaN reaches the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Distance = Literal["euclid", "sq_euclid"]
_MASKED_LOGIT = -1e9


def pair_distance(u: Tensor, v: Tensor, distance: Distance = "euclid") -> Tensor:
    """‖u − v‖₂ (= √(2 − 2uᵀv) on unit vectors, in [0, 2]) or its square, over the last dim."""
    diff = u - v
    if distance == "sq_euclid":
        return diff.pow(2).sum(dim=-1)
    return torch.linalg.vector_norm(diff, dim=-1)  # backward is 0, not NaN, at u = v


@dataclass(frozen=True)
class Terms:
    """Per-anchor losses and the distances behind them (``d_an`` averaged over an anchor's negatives)."""

    loss: Tensor
    d_ap: Tensor
    d_an: Tensor


def triplet(z_a: Tensor, z_p: Tensor, z_n: Tensor, margin: float, distance: Distance = "euclid") -> Terms:
    """max(0, d(a, p) − d(a, n) + m) per triplet; inputs N×D."""
    d_ap = pair_distance(z_a, z_p, distance)
    d_an = pair_distance(z_a, z_n, distance)
    return Terms(torch.relu(d_ap - d_an + margin), d_ap, d_an)


def info_nce(z_a: Tensor, z_p: Tensor, z_n: Tensor, neg_ok: Tensor, temperature: float) -> Terms:
    """−log softmax of the positive against K negatives (N×K×D, ``neg_ok`` N×K masks missing ones)."""
    s_ap = (z_a * z_p).sum(dim=-1, keepdim=True) / temperature
    s_an = torch.einsum("nd,nkd->nk", z_a, z_n) / temperature
    logits = torch.cat((s_ap, torch.where(neg_ok, s_an, _MASKED_LOGIT)), dim=1)
    loss = -torch.log_softmax(logits, dim=1)[:, 0]
    with torch.no_grad():
        d_an = (pair_distance(z_a.unsqueeze(1), z_n) * neg_ok).sum(1) / neg_ok.sum(1).clamp_min(1)
    return Terms(loss, pair_distance(z_a, z_p).detach(), d_an)


def sup_con(z: Tensor, pos: Tensor, neg: Tensor, temperature: float) -> tuple[Terms, Tensor]:
    """Supervised contrastive loss over each row's sampled set (Khosla et al. 2020), gap-band pairs excluded.

    ``z``: R×A×D, ``pos``/``neg``: R×A×A pair masks (self pairs must be excluded by the caller). Returns the
    per-anchor terms (R×A) and which anchors have both a positive and a negative.
    """
    logits = torch.einsum("rad,rbd->rab", z, z) / temperature
    used = pos | neg
    lse = torch.where(used, logits, _MASKED_LOGIT).logsumexp(dim=-1, keepdim=True)
    n_pos = pos.sum(-1)
    ok = (n_pos > 0) & neg.any(-1)
    log_prob = torch.where(pos, logits - lse, 0.0)
    loss = torch.where(ok, -log_prob.sum(-1) / n_pos.clamp_min(1), 0.0)
    with torch.no_grad():  # unit vectors: ‖u − v‖ = √(2 − 2uᵀv), without an R×A×A×D difference tensor
        dist = (2.0 - 2.0 * logits * temperature).clamp_min(0.0).sqrt()
        d_ap = (dist * pos).sum(-1) / n_pos.clamp_min(1)
        d_an = (dist * neg).sum(-1) / neg.sum(-1).clamp_min(1)
    return Terms(loss, d_ap, d_an), ok
