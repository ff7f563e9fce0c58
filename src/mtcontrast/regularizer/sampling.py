"""Index sampling for the regulariser (docs/method.md §3.6): anchors, positives, negatives and candidate pools.

Every function works on all rows at once (a row is one image, or the whole batch for ``pool: batch``) with sorts,
gathers and top-k; nothing loops over pixels or classes. Indices are row-local positions in a flattened label grid.
Random numbers come from an explicit ``torch.Generator`` so a (seed, step) pair reproduces the draw; the rows of
several (target, source) pairs can be stacked, each block of rows with its own generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from mtcontrast.regularizer.criteria import SourceCriterion
from mtcontrast.regularizer.grid import GridLabels

DEPTH_STRATA = 8  # equal-frequency bins of ln d per image


Generators = torch.Generator | Sequence[torch.Generator]


def _rand(shape: tuple[int, ...], gen: Generators, device: torch.device) -> Tensor:
    """Uniforms in [0, 1). With one generator per pair of a group (pairs stacked along the rows, equal blocks),
    block k of the rows comes from ``gen[k]``: a pair draws the same numbers alone or in a group."""
    if isinstance(gen, torch.Generator):
        return torch.rand(shape, generator=gen, device=device)
    rows = shape[0] // len(gen)
    return torch.cat([torch.rand((rows, *shape[1:]), generator=g, device=device) for g in gen])


def _draw_below(n: Tensor, u: Tensor) -> Tensor:
    """Uniform integers in [0, n) (0 where n ≤ 0) from uniforms ``u`` broadcast against ``n``."""
    return torch.minimum(torch.floor(u * n).long(), (n - 1).clamp_min(0)).clamp_min(0)


def _group_bounds(sorted_keys: Tensor) -> tuple[Tensor, Tensor]:
    """First and last sorted position of the run of equal keys that each sorted position belongs to."""
    R, L = sorted_keys.shape
    pos = torch.arange(L, device=sorted_keys.device).expand(R, L)
    change = sorted_keys[:, 1:] != sorted_keys[:, :-1]
    is_start = torch.cat((torch.ones_like(change[:, :1]), change), dim=1)
    is_end = torch.cat((change, torch.ones_like(change[:, :1])), dim=1)
    start = torch.where(is_start, pos, 0).cummax(dim=1).values
    end = torch.where(is_end, pos, L).flip(1).cummin(dim=1).values.flip(1)
    return start, end


def _inverse(order: Tensor) -> Tensor:
    pos = torch.arange(order.shape[1], device=order.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, pos)


def strata(labels: GridLabels, balance: bool) -> Tensor:
    """Stratum id per position (B×P, −1 = invalid): the class for discrete labels, 8 equal-frequency ln-depth
    bins per image, or the 6 signed dominant normal axes; a single stratum when ``balance`` is off."""
    valid = labels.valid
    if not balance:
        ids = torch.zeros_like(valid, dtype=torch.long)
    elif labels.discrete:
        ids = labels.values.long()
    elif labels.kind == "depth":
        key = torch.where(valid, labels.values.float(), torch.inf)
        rank = _inverse(torch.argsort(key, dim=1, stable=True))
        n_valid = valid.sum(dim=1, keepdim=True).clamp_min(1)
        ids = torch.div(rank * DEPTH_STRATA, n_valid, rounding_mode="floor")
    else:
        axis = labels.values.abs().argmax(dim=-1)
        negative = labels.values.gather(-1, axis.unsqueeze(-1)).squeeze(-1) < 0
        ids = axis * 2 + negative.long()
    return torch.where(valid, ids, -1)


def draw_anchors(ids: Tensor, m: int, gen: Generators) -> tuple[Tensor, Tensor]:
    """Up to ``m`` distinct anchors per row, split evenly across strata (B×M indices, B×M ok).

    Round robin without replacement: each position gets its random rank inside its stratum and the m smallest
    ranks win, so every stratum present gets ⌊m/k⌋ or more anchors until it runs out of positions.
    """
    B, P = ids.shape
    valid = ids >= 0
    sentinel = torch.where(valid, ids, ids.max().clamp_min(0) + 1).double()
    u = _rand((B, P), gen, ids.device).double()
    order = torch.argsort(sentinel + u, dim=1)
    start, _ = _group_bounds(sentinel.gather(1, order))
    rank_sorted = torch.arange(P, device=ids.device).expand(B, P) - start
    rank = torch.empty_like(order).scatter_(1, order, rank_sorted)
    key = torch.where(valid, rank.double() + _rand((B, P), gen, ids.device).double(), torch.inf)
    k = min(m, P)
    top, idx = torch.topk(key, k, dim=1, largest=False)
    ok = torch.isfinite(top)
    if k < m:
        idx = torch.cat((idx, idx.new_zeros(B, m - k)), dim=1)
        ok = torch.cat((ok, ok.new_zeros(B, m - k)), dim=1)
    return idx, ok


@dataclass(frozen=True)
class Draws:
    """Sampled positions for a set of anchors: ``idx`` R×A×K row-local indices and ``ok`` R×A×K validity."""

    idx: Tensor
    ok: Tensor


def draw_same_and_other(
    values: Tensor, valid: Tensor, anchors: Tensor, n_pos: int, n_neg: int, gen: Generators
) -> tuple[Draws, Draws]:
    """Exact uniform draws (with replacement) from the anchor's class (anchor itself excluded) and from the
    other valid classes, for discrete codes ``values`` (R×L) and anchors (R×A)."""
    R, L = values.shape
    device = values.device
    big = values.max().clamp_min(0) + 1
    order = torch.argsort(torch.where(valid, values.long(), big), dim=1, stable=True)
    sorted_keys = torch.where(valid, values.long(), big).gather(1, order)
    start_all, end_all = _group_bounds(sorted_keys)
    at = _inverse(order).gather(1, anchors)  # sorted position of each anchor
    start, end = start_all.gather(1, at), end_all.gather(1, at)
    count = end - start + 1
    n_valid = valid.sum(dim=1, keepdim=True)
    # positives: the anchor's run minus the anchor
    j = _draw_below((count - 1).unsqueeze(-1), _rand((R, anchors.shape[1], n_pos), gen, device))
    j = j + (j >= (at - start).unsqueeze(-1)).long()
    pos_idx = order.gather(1, (start.unsqueeze(-1) + j).clamp(0, L - 1).flatten(1)).view_as(j)
    pos_ok = (count >= 2).unsqueeze(-1).expand_as(j)
    # negatives: valid positions [0, n_valid) outside the anchor's run
    n_other = (n_valid - count).clamp_min(0)
    j = _draw_below(n_other.unsqueeze(-1), _rand((R, anchors.shape[1], n_neg), gen, device))
    j = j + count.unsqueeze(-1) * (j >= start.unsqueeze(-1)).long()
    neg_idx = order.gather(1, j.clamp(0, L - 1).flatten(1)).view_as(j)
    neg_ok = (n_other >= 1).unsqueeze(-1).expand_as(j)
    return Draws(pos_idx, pos_ok), Draws(neg_idx, neg_ok)


def draw_candidates(valid: Tensor, anchors: Tensor, q: int, gen: Generators) -> Draws:
    """``q`` candidates per anchor, uniform with replacement over the row's valid positions; ``ok`` excludes
    the anchor itself and rows without valid positions."""
    R, L = valid.shape
    # valid positions first, in order (what a stable sort of ~valid gives, in O(L)): the k-th valid position goes
    # to column k; invalid ones to a spare column L that is never read
    rank = valid.long().cumsum(dim=1)
    n_valid = rank[:, -1:].view(R, 1, 1)
    pos = torch.arange(L, device=valid.device).expand(R, L)
    order = torch.zeros(R, L + 1, dtype=torch.long, device=valid.device)
    order.scatter_(1, torch.where(valid, rank - 1, L), pos)
    j = _draw_below(n_valid, _rand((R, anchors.shape[1], q), gen, valid.device))
    idx = order.gather(1, j.flatten(1)).view_as(j)
    ok = valid.gather(1, idx.flatten(1)).view_as(idx) & (idx != anchors.unsqueeze(-1))
    return Draws(idx, ok)


def pick(mask: Tensor, k: int, score: Tensor | None = None) -> Draws:
    """Up to ``k`` distinct entries of the last dim where ``mask`` holds: the first ``k`` (lowest positions), or the
    ``k`` highest ``score``s. Returns positions along that dim (…×k) and their validity.

    Used on candidate pools, whose entries are independent uniform draws: the first ``k`` qualifying ones are then
    ``k`` uniform draws from the qualifying set, exactly as a random choice among them would be (exchangeability),
    and the first positive and the first negative of a pool are independent (different draws). So no random
    numbers are needed here, which saves two R×A×Q uniform tensors per pair (docs/regulariser-api.md, "Cost").
    """
    k = min(k, mask.shape[-1])
    if score is None and k == 1:
        return Draws(mask.to(torch.uint8).argmax(dim=-1, keepdim=True), mask.any(dim=-1, keepdim=True))
    if score is None:
        score = -torch.arange(mask.shape[-1], device=mask.device, dtype=torch.float32).expand(mask.shape)
    top, idx = torch.topk(torch.where(mask, score.float(), -torch.inf), k, dim=-1)
    return Draws(idx, torch.isfinite(top))


def labels_at(values: Tensor, idx: Tensor) -> Tensor:
    """Labels at row-local indices: ``values`` R×L (or R×L×3 for normals), ``idx`` R×… → idx's shape (×3)."""
    flat = idx.reshape(idx.shape[0], -1)
    if values.dim() == 3:
        c = values.shape[-1]
        return values.gather(1, flat.unsqueeze(-1).expand(-1, -1, c)).view(*idx.shape, c)
    return values.gather(1, flat).view_as(idx)


def random_triplets(
    criterion: SourceCriterion,
    values: Tensor,
    valid: Tensor,
    anchors: Tensor,
    a_ok: Tensor,
    n_neg: int,
    candidates: int,
    gen: Generators,
) -> tuple[Tensor, Draws, Tensor]:
    """``mining: random``: one positive (R×A) and ``n_neg`` negatives (R×A×K) per anchor, and which triplets are
    valid (R×A). Discrete rules draw exactly from the anchor's class and from the other classes; continuous ones
    take the first qualifying cells among ``candidates`` uniform draws (:func:`pick`). ``values``/``valid``: the
    source's encoded labels, rows as for the anchors."""
    if criterion.discrete:
        pos_d, neg_d = draw_same_and_other(values, valid, anchors, 1, n_neg, gen)
        return pos_d.idx[..., 0], neg_d, a_ok & pos_d.ok[..., 0] & neg_d.ok[..., 0]
    cand = draw_candidates(valid, anchors, candidates, gen)
    mask = cand.ok & a_ok.unsqueeze(-1)
    pos_m, neg_m = criterion.relation(labels_at(values, anchors), labels_at(values, cand.idx), mask)
    pick_p, pick_n = pick(pos_m, 1), pick(neg_m, n_neg)
    ok = a_ok & pick_p.ok[..., 0] & pick_n.ok[..., 0]
    return cand.idx.gather(-1, pick_p.idx)[..., 0], Draws(cand.idx.gather(-1, pick_n.idx), pick_n.ok), ok


def mine(pos: Tensor, neg: Tensor, dist: Tensor, mining: str, margin: float) -> tuple[Draws, Draws]:
    """One positive and one negative per anchor among candidates (masks and distances R×A×Q).

    ``hard``: the farthest positive and the closest negative. ``semihard``: a uniform positive, then a uniform
    negative with d_ap < d_an < d_ap + margin (the first such candidates, see :func:`pick`), falling back to the
    closest negative when that band is empty.
    """
    if mining == "hard":
        return pick(pos, 1, score=dist), pick(neg, 1, score=-dist)
    if mining != "semihard":
        raise ValueError(f"loss.contrast.mining = {mining!r}: expected hard or semihard here")
    p = pick(pos, 1)
    d_ap = dist.gather(-1, p.idx)
    semi = pick(neg & (dist > d_ap) & (dist < d_ap + margin), 1)
    hardest = pick(neg, 1, score=-dist)
    return p, Draws(torch.where(semi.ok, semi.idx, hardest.idx), semi.ok | hardest.ok)
