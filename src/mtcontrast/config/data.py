"""``data``: which raw dataset folder ``prepare`` decodes and where the HDF5 goes (every key but ``partial`` is a
``prepare`` input; the transforms live in ``train`` and ``eval``, so changing them never re-prepares the data), and
which training labels are kept (``partial``: read by training only, derived from the image ids)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mtcontrast.config.base import Section
from mtcontrast.tasks import DATASETS

DatasetName = Literal[tuple(DATASETS)]  # the registry's keys: dataset names live in tasks.py only


class PartialLabelsParams(Section):
    """Which training images keep which task labels (docs/partial-labels.md); val and test always keep all.

    ``one_per_image``: each training image keeps exactly one task, drawn uniformly (MTPSL's protocol);
    ``fraction``: each task is kept on ``fractions[task]`` of the training images (1 for a task not listed), drawn
    independently per task. ``images``: the share of the training images used at all (the rest are left out of
    training, as if never collected; e.g. 0.25 for the low-data regime of the study). The draw of an image depends
    only on (``seed``, its id, the task), never on the training seed or the order of the files.
    """

    mode: Literal["none", "one_per_image", "fraction"] = "none"
    fractions: dict[str, float] = Field(default_factory=dict)
    images: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0

    @field_validator("fractions")
    @classmethod
    def _in_unit_interval(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {task: f for task, f in value.items() if not 0.0 < f <= 1.0}
        if bad:
            raise ValueError(f"each fraction must lie in (0, 1]; got {bad}")
        return value

    @property
    def active(self) -> bool:
        """Does training see less than every label of every training image (then the run records its mask)."""
        return self.mode != "none" or self.images < 1.0

    @model_validator(mode="after")
    def _fractions_need_fraction_mode(self) -> PartialLabelsParams:
        if self.fractions and self.mode != "fraction":
            raise ValueError(f"fractions {self.fractions} are only read with mode 'fraction'; mode is {self.mode!r}")
        return self


class DataParams(Section):
    """Which raw folder ``prepare`` decodes (adapter = layout) and where the HDF5 goes."""

    dataset: DatasetName = "nyudv2"  # adapter = expected raw layout
    root: Path = Path("data/raw/scenes/nyudv2")  # raw dataset folder in that layout
    name: str = "scenes_nyudv2"  # prepared output: <prepared_dir>/<name>/{train,val}.h5
    prepared_dir: Path = Path("data/prepared")
    limit: int | None = Field(None, ge=1)  # keep the first N ids of each split (quick subsets)
    compression: Literal["gzip", "lzf", "none"] = "gzip"  # HDF5 filter; none reads ~3-6x faster at ~5x the disk
    partial: PartialLabelsParams = Field(default_factory=PartialLabelsParams)  # training labels kept (not prepare)

    @model_validator(mode="after")
    def _partial_tasks_exist(self) -> DataParams:
        tasks = DATASETS[self.dataset].tasks
        unknown = sorted(set(self.partial.fractions) - set(tasks))
        if unknown:
            raise ValueError(f"partial.fractions names {unknown}, not tasks of {self.dataset} (tasks: {list(tasks)})")
        return self

    def prepared_path(self, split: str) -> Path:
        return self.prepared_dir / self.name / f"{split}.h5"
