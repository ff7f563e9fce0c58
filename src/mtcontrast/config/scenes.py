"""``scenes``: the built-in procedural dataset written in the real on-disk layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from mtcontrast.config.base import Section

Layout = Literal["nyudv2", "nyud_mt", "pascal_context"]


class ScenesParams(Section):
    out_dir: Path = Path("data/raw/scenes")  # one sub-folder per layout
    layouts: list[Layout] = Field(default_factory=lambda: ["nyudv2"])
    seed: int = 0
    image_size: tuple[int, int] = (128, 160)  # H, W of NYUD-layout scenes
    pascal_max_side: int = 160  # PASCAL-layout scenes get a random aspect with this longer side
    train: int = Field(120, ge=1)
    val: int = Field(60, ge=1)
    objects: tuple[int, int] = (4, 9)  # min, max objects per scene (object density)
    persons: tuple[int, int] = (0, 2)  # min, max person figures per PASCAL scene
    hole_fraction: float = Field(0.01, ge=0.0, le=0.5)  # target fraction of invalid (0) depth pixels
    noise: float = Field(0.02, ge=0.0)  # std of additive RGB noise in [0, 1] units
