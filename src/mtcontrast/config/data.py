"""``data``: which dataset folder to prepare, where the HDF5 goes, and the train/eval transforms."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from mtcontrast.config.base import Section


class AugmentParams(Section):
    """Training augmentation of docs/benchmark-protocol.md §3.1 (ATRC / InvPT)."""

    scale: tuple[float, float] = (0.5, 2.0)  # random rescale range; depth is divided by the scale
    cat_max_ratio: float = Field(0.75, gt=0.0, le=1.0)  # crop redraw rule on semseg
    flip: bool = True  # horizontal flip, p = 0.5, negates normals x
    photometric: bool = True  # brightness / contrast / saturation / hue, each p = 0.5


class DataParams(Section):
    """Which raw folder ``prepare`` decodes (adapter = layout), where the HDF5 goes, and the transforms."""

    dataset: Literal["nyudv2", "nyud_mt", "pascal_context"] = "nyudv2"  # adapter = expected raw layout
    root: Path = Path("data/raw/scenes/nyudv2")  # raw dataset folder in that layout
    name: str = "scenes_nyudv2"  # prepared output: <prepared_dir>/<name>/{train,val}.h5
    prepared_dir: Path = Path("data/prepared")
    limit: int | None = Field(None, ge=1)  # keep the first N ids of each split (quick subsets)
    compression: Literal["gzip", "lzf", "none"] = "gzip"  # HDF5 filter; none reads ~3-6x faster at ~5x the disk
    train_size: tuple[int, int] = (128, 160)  # H, W of training crops
    eval_size: tuple[int, int] | None = None  # centre-pad target at eval; None: pad to the encoder stride
    augment: AugmentParams = Field(default_factory=AugmentParams)
    num_workers: int = Field(0, ge=0)

    def prepared_path(self, split: str) -> Path:
        return self.prepared_dir / self.name / f"{split}.h5"
