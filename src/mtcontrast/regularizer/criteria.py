"""Positive / negative criteria on source labels (docs/method.md §3.5, the paper's "generic criterion").

For an anchor label y_a and a candidate y_q, a label distance δ and thresholds τ⁺ ≤ τ⁻ give
q ∈ P(a) ⟺ δ ≤ τ⁺ and q ∈ N(a) ⟺ δ ≥ τ⁻ (and not positive, which only matters when τ⁺ = τ⁻). Depth ``bins`` and
normals ``clusters`` first encode the labels as discrete codes and then use the discrete rule. The normals
``angle`` rule works in cosines: δ = −cos θ, which orders pairs as θ does, with thresholds −cos τ (τ in degrees), so
each pair costs a dot product rather than an atan2.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from mtcontrast.regularizer.grid import GridLabels, LabelKind, check_kind, source_kind


def fibonacci_sphere(k: int) -> Tensor:
    """k nearly uniform unit vectors (k×3): data-free stand-ins for ATRC's k-means normal centroids."""
    i = torch.arange(k, dtype=torch.float64) + 0.5
    z = 1.0 - 2.0 * i / k
    r = torch.sqrt(1.0 - z * z)
    phi = math.pi * (1.0 + math.sqrt(5.0)) * i
    return torch.stack((r * torch.cos(phi), r * torch.sin(phi), z), dim=1).float()


class SourceCriterion:
    """The positive / negative rule for one source task. ``params``: anything with the option attributes of
    ``regularizer.options.ContrastOptions`` (that class, or the pydantic ``ContrastParams``)."""

    def __init__(self, task: str, params: Any, kind: LabelKind | None = None) -> None:
        self.task = task
        self.kind = source_kind(task) if kind is None else check_kind(task, kind)
        self.params = params
        if self.kind == "depth":
            rule = params.depth_rule
            self.rule = "discrete" if rule == "bins" else rule
            self.tau = {"log_abs": params.depth_tau, "rel": params.depth_rel_tau}.get(rule)
        elif self.kind == "normals":
            self.rule = "discrete" if params.normals_rule == "clusters" else "angle"
            self.tau = tuple(-math.cos(math.radians(t)) for t in params.normals_tau_deg)  # δ = −cos θ
        else:
            self.rule = "discrete"
            self.tau = (0.0, 1.0)
        self._centroids: Tensor | None = None

    @property
    def discrete(self) -> bool:
        """Whether encoded labels are class codes (exact same-class / other-class draws apply)."""
        return self.rule == "discrete"

    def encode(self, labels: GridLabels) -> GridLabels:
        """Depth → log-spaced bin codes (``bins``), normals → nearest centroid (``clusters``), else unchanged."""
        if self.kind == "depth" and self.rule == "discrete":
            lo, hi = (math.log(v) for v in self.params.depth_bin_range)
            n = self.params.depth_bins
            codes = torch.floor((labels.values - lo) / (hi - lo) * n).clamp(0, n - 1).long()
            return replace(labels, kind="discrete", values=torch.where(labels.valid, codes, 0))
        if self.kind == "normals" and self.rule == "discrete":
            if self._centroids is None or self._centroids.device != labels.values.device:
                self._centroids = fibonacci_sphere(self.params.normals_clusters).to(labels.values.device)
            codes = (labels.values.float() @ self._centroids.T).argmax(dim=-1)
            return replace(labels, kind="discrete", values=torch.where(labels.valid, codes, 0))
        return labels

    def distance(self, y_a: Tensor, y_q: Tensor) -> Tensor:
        """δ(y_a, y_q), broadcasting; depth values are ln d, normals unit vectors in the last dim (δ = −cos θ)."""
        if self.rule == "discrete":
            return (y_a != y_q).float()
        if self.rule in ("log_abs", "quantile"):
            return (y_a - y_q).abs()
        if self.rule == "rel":  # |d_q - d_a| / d_a from log depths
            return torch.expm1(y_q - y_a).abs()
        return -(y_a * y_q).sum(-1)

    def thresholds(self, delta: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """τ⁺, τ⁻ broadcastable to ``delta`` (R×A×Q); ``quantile`` takes them per row (an image, or the batch
        with ``pool: batch``) over the masked pairs."""
        if self.rule == "quantile":
            q = torch.tensor(self.params.depth_quantiles, device=delta.device, dtype=torch.float32)
            masked = torch.where(mask, delta.float(), torch.nan).reshape(delta.shape[0], -1)
            taus = torch.nanquantile(masked, q, dim=1)  # 2×R, NaN for a row without pairs
            shape = (delta.shape[0],) + (1,) * (delta.dim() - 1)
            return taus[0].reshape(shape), taus[1].reshape(shape)
        assert self.tau is not None
        lo, hi = self.tau
        return delta.new_tensor(lo), delta.new_tensor(hi)

    def relation(self, y_a: Tensor, y_q: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Boolean positive and negative masks of candidates ``y_q`` for anchors ``y_a`` (pairs outside ``mask``
        are neither). ``y_a``: R×A(×3), ``y_q``: R×A×Q(×3), ``mask``: R×A×Q."""
        delta = self.distance(y_a.unsqueeze(2), y_q)
        tau_pos, tau_neg = self.thresholds(delta, mask)
        pos = mask & (delta <= tau_pos)
        neg = mask & (delta >= tau_neg) & ~pos
        return pos, neg
