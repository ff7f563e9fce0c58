"""``loss``: task loss weights and the cross-task contrastive regulariser (docs/method.md §3.9)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from mtcontrast.config.base import Section


class ContrastParams(Section):
    """The ``loss.contrast`` section: a thin adapter that fills ``regularizer.options.ContrastOptions`` (plain
    values, same defaults) plus ``enabled`` and ``tap``, which the training path reads."""

    enabled: bool = True
    kind: Literal["triplet", "infonce", "supcon"] = "triplet"
    weight: float = Field(1.0, ge=0.0)  # lambda, on the mean over targets
    targets: Literal["all"] | list[str] = "all"
    lambda_per_target: dict[str, float] = Field(default_factory=dict)  # {target: factor}: lambda_t = weight * factor
    source_mode: Literal["random", "fixed", "all", "random_with_self"] = "random"
    fixed_sources: dict[str, str] = Field(default_factory=dict)  # {target: source} for source_mode=fixed
    require_target_label: bool = False  # partial labels: regularise a target only where its own label exists
    tap: Literal["final_feat", "early_feat"] = "final_feat"  # early_feat: an earlier decoder stage (method §3.2)
    projector: Literal["pair", "target", "shared", "none"] = "pair"
    proj_dim: int = Field(128, ge=1)
    proj_lr_mult: float = Field(1.0, gt=0.0)
    align: Literal["grid", "full_res"] = "grid"
    anchors_per_image: int = Field(128, ge=1)  # per image and target; paper profiles: 512 (larger grids)
    candidates: int = Field(64, ge=1)
    negatives: int = Field(32, ge=1)  # infonce negatives per anchor
    balance: bool = True  # class / bin balanced anchors
    pool: Literal["image", "batch"] = "image"
    mining: Literal["random", "semihard", "hard"] = "random"
    distance: Literal["euclid", "sq_euclid"] = "euclid"
    margin: float = Field(0.5, ge=0.0)
    temperature: float = Field(0.1, gt=0.0)
    depth_rule: Literal["log_abs", "rel", "quantile", "bins"] = "log_abs"
    depth_tau: tuple[float, float] = (0.049, 0.223)  # log_abs: |ln d_a - ln d_q| thresholds (ln 1.05, ln 1.25)
    depth_rel_tau: tuple[float, float] = (0.05, 0.25)  # rel: |d_q - d_a| / d_a thresholds
    depth_quantiles: tuple[float, float] = (0.1, 0.5)  # quantile: per-image quantiles of |ln d_a - ln d_q|
    depth_bins: int = Field(40, ge=2)  # bins: log-spaced bins (ATRC's auxiliary depth head)
    depth_bin_range: tuple[float, float] = (0.7, 10.0)  # bins: metres covered by the log-spaced bins
    normals_rule: Literal["angle", "clusters"] = "angle"
    normals_tau_deg: tuple[float, float] = (11.25, 30.0)
    normals_clusters: int = Field(40, ge=2)  # clusters: centroids on a Fibonacci sphere lattice

    @field_validator("depth_tau", "depth_rel_tau", "normals_tau_deg", "depth_quantiles", "depth_bin_range")
    @classmethod
    def _ordered_pair(cls, value: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
        """Thresholds are (positive, negative) with τ⁺ ≤ τ⁻; quantiles lie in [0, 1]; bin depths are > 0."""
        lo, hi = value
        where = f"loss.contrast.{info.field_name} = {[lo, hi]}"
        if not 0 <= lo <= hi:
            raise ValueError(f"{where}: expected two values 0 <= first <= second")
        if info.field_name == "depth_quantiles" and hi > 1:
            raise ValueError(f"{where}: quantiles must lie in [0, 1]")
        if info.field_name == "depth_bin_range" and not 0 < lo < hi:
            raise ValueError(f"{where}: expected depths 0 < near < far")
        return value


class LossParams(Section):
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "semseg": 1.0,  # NYUD: equal gradient on the shared trunk (benchmarks/loss_weights.py); the protocol's
            "depth": 0.76,  # 1 / 1 / 10 / 50 are in the paper profiles
            "normals": 2.2,
            "edge": 47.0,
            "human_parts": 2.0,
            "sal": 5.0,
        }
    )
    edge_pos_weight: float | None = Field(None, gt=0.0, lt=1.0)  # None: the dataset's protocol value
    deep_supervision_weight: float = Field(1.0, ge=0.0)  # on intermediate ("aux") predictions
    contrast: ContrastParams = Field(default_factory=ContrastParams)
