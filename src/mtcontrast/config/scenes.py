"""``scenes``: the built-in procedural dataset written in the real on-disk layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from mtcontrast.config.base import Section

Layout = Literal["nyudv2", "nyud_mt", "pascal_context"]


class ScenesParams(Section):
    out_dir: Path = Path("data/raw/scenes")  # one sub-folder per layout
    layouts: list[Layout] = Field(default_factory=lambda: ["nyudv2"])
    seed: int = 0
    image_size: tuple[int, int] = (64, 80)  # H, W of NYUD-layout scenes
    pascal_max_side: int = Field(160, ge=16)  # PASCAL-layout scenes get a random aspect with this longer side
    train: int = Field(120, ge=1)
    val: int = Field(60, ge=1)
    objects: tuple[int, int] = (10, 16)  # min, max objects per NYUD room (object density)
    class_mix: float = Field(0.8, ge=0.0, le=1.0)  # share of NYUD object draws uniform over the classes, not by room
    item_scale: float = Field(2.5, ge=0.5, le=3.0)  # size factor of small NYUD items (books, paper, props, soft items)
    class_tint: float = Field(1.0, ge=0.0, le=1.0)  # strength of each NYU class's own colour signature (0 = none)
    pascal_objects: tuple[int, int] = (1, 3)  # min, max non-person VOC objects per PASCAL scene
    persons: tuple[int, int] = (0, 2)  # min, max person figures per PASCAL scene
    unannotated_person_rate: float = Field(0.25, ge=0.0, le=1.0)  # persons without PASCAL-Part annotation
    hole_fraction: float = Field(0.01, ge=0.0, le=0.5)  # target fraction of invalid (0) depth pixels
    noise: float = Field(0.02, ge=0.0)  # std of additive RGB noise in [0, 1] units

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 16:
            raise ValueError(f"scenes.image_size = {list(value)}: expected [H, W] with both sides >= 16")
        return value

    @field_validator("objects", "pascal_objects", "persons")
    @classmethod
    def _ordered_range(cls, value: tuple[int, int], info: ValidationInfo) -> tuple[int, int]:
        if not 0 <= value[0] <= value[1]:
            raise ValueError(f"scenes.{info.field_name} = {list(value)}: expected [min, max] with 0 <= min <= max")
        return value
