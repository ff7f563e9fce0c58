"""Plain options of the regulariser: Python values with their defaults, checked once (docs/regulariser-api.md).

``ContrastOptions`` is what :class:`~mtcontrast.regularizer.CrossTaskContrast` reads. The project's pydantic
``loss.contrast`` section (``config.loss.ContrastParams``) is a thin adapter that fills it from params.yaml; the
defaults here equal that schema's (a test compares them), and the meaning of every option is in
docs/method.md §3.9.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

CHOICES: dict[str, tuple[str, ...]] = {
    "kind": ("triplet", "infonce", "supcon"),
    "source_mode": ("random", "fixed", "all", "random_with_self"),
    "projector": ("pair", "target", "shared", "none"),
    "align": ("grid", "full_res"),
    "pool": ("image", "batch"),
    "mining": ("random", "semihard", "hard"),
    "distance": ("euclid", "sq_euclid"),
    "depth_rule": ("log_abs", "rel", "quantile", "bins"),
    "normals_rule": ("angle", "clusters"),
}
_PAIRS = ("depth_tau", "depth_rel_tau", "normals_tau_deg", "depth_quantiles", "depth_bin_range")
_POSITIVE_INTS = ("proj_dim", "anchors_per_image", "candidates", "negatives")


@dataclass(frozen=True)
class ContrastOptions:
    """Every choice of the regulariser except the task set, the feature widths and the stride."""

    weight: float = 1.0  # λ on the mean over targets
    kind: str = "triplet"
    targets: str | tuple[str, ...] = "all"
    lambda_per_target: dict[str, float] = field(default_factory=dict)
    source_mode: str = "random"
    fixed_sources: dict[str, str] = field(default_factory=dict)
    require_target_label: bool = False  # partial labels: only images with the target's own label (an ablation)
    projector: str = "pair"
    proj_dim: int = 128
    proj_lr_mult: float = 1.0
    align: str = "grid"
    anchors_per_image: int = 128
    candidates: int = 64
    negatives: int = 32
    balance: bool = True
    pool: str = "image"
    mining: str = "random"
    distance: str = "euclid"
    margin: float = 0.5
    temperature: float = 0.1
    depth_rule: str = "log_abs"
    depth_tau: tuple[float, float] = (0.049, 0.223)
    depth_rel_tau: tuple[float, float] = (0.05, 0.25)
    depth_quantiles: tuple[float, float] = (0.1, 0.5)
    depth_bins: int = 40
    depth_bin_range: tuple[float, float] = (0.7, 10.0)
    normals_rule: str = "angle"
    normals_tau_deg: tuple[float, float] = (11.25, 30.0)
    normals_clusters: int = 40

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} = {getattr(self, name)!r}: expected one of {', '.join(allowed)}")
        if self.targets != "all":
            object.__setattr__(self, "targets", tuple(self.targets))
        for name in _PAIRS:
            lo, hi = (float(v) for v in getattr(self, name))
            if not 0 <= lo <= hi:
                raise ValueError(f"{name} = {[lo, hi]}: expected two values 0 <= first <= second")
            object.__setattr__(self, name, (lo, hi))
        if self.depth_quantiles[1] > 1:
            raise ValueError(f"depth_quantiles = {list(self.depth_quantiles)}: quantiles must lie in [0, 1]")
        if not 0 < self.depth_bin_range[0] < self.depth_bin_range[1]:
            raise ValueError(f"depth_bin_range = {list(self.depth_bin_range)}: expected depths 0 < near < far")
        for name in _POSITIVE_INTS:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: expected an integer >= 1")
        for name in ("depth_bins", "normals_clusters"):
            if int(getattr(self, name)) < 2:
                raise ValueError(f"{name} = {getattr(self, name)}: expected an integer >= 2")
        if self.weight < 0 or self.margin < 0 or self.proj_lr_mult <= 0 or self.temperature <= 0:
            raise ValueError("weight and margin must be >= 0, proj_lr_mult and temperature > 0")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> ContrastOptions:
        """Options from keyword values; an unknown name is an error listing the known ones."""
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise TypeError(f"unknown regulariser option(s) {unknown}; known: {', '.join(cls.names())}")
        return cls(**values)


__all__ = ["CHOICES", "ContrastOptions"]
