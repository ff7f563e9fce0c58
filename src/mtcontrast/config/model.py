"""``model``: the timm encoder and the multi-task host framework around it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from mtcontrast.config.base import Section

HOST_NAMES: tuple[str, ...] = ("mtl_baseline", "padnet", "mtinet")
"""The values of ``model.host``: the one list of host names. The torch registry ``HOSTS``
(mtcontrast/models/hosts/__init__.py) checks at import that it registers exactly these, so the schema can name them
without importing torch."""
HostName = Literal[HOST_NAMES]  # built from the tuple, so the names live in one place


class EncoderParams(Section):
    name: str = "regnetx_002"  # any timm model that supports features_only=True (CPU profile: RegNetX-200MF)
    pretrained_file: Path | None = None  # local weights only; never a hub download
    out_indices: list[int] | None = None  # timm feature levels; None: timm's default levels with stride >= 4
    feature_location: str | None = None  # e.g. '' for HRNet's raw branches
    kwargs: dict[str, Any] = Field(default_factory=dict)  # extra timm.create_model kwargs


class ModelParams(Section):
    host: HostName = "mtl_baseline"
    encoder: EncoderParams = Field(default_factory=EncoderParams)
    tasks: list[str] | None = None  # subset of the dataset's tasks; None: all (one task = single-task baseline)
    head_channels: int = Field(32, ge=8)  # width of the task decoder features (the regulariser's tap)
    head_blocks: int = Field(1, ge=1)  # conv-BN-ReLU blocks per task head
    fuse_channels: int | None = Field(64, ge=8)  # width of the fused 1/4 feature; None: sum of encoder channels
