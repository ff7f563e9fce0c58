"""``ablation``: the grid of regulariser settings the Prefect ``ablation`` flow (``mtc ablate``) trains and compares.

Grid keys are dotted params keys (the ``dvc exp run -S`` syntax); ``mtcontrast.study`` takes the Cartesian product
with ``seeds`` (the experiment's seeds, never a grid key), trains and evaluates every child as an MLflow run nested
under one parent, and summarises each setting over the seeds, paired by seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from mtcontrast.config.base import Section, check_folder_names


class AblationParams(Section):
    name: str = "default"  # sub-folder of runs_dir / out_dir and the MLflow parent run name
    variant: str = "mtl_contrast"  # every child trains this variant's tasks and host
    grid: dict[str, list[Any]] = Field(
        default_factory=lambda: {
            "loss.contrast.enabled": [False, True],
            "loss.contrast.weight": [0.3, 1.0],
        }
    )
    max_parallel: int = Field(1, ge=1)  # children training at once (each gets cores / max_parallel torch threads)
    runs_dir: Path = Path("studies")  # children: <runs_dir>/<name>/<child>/s<seed>/; no DVC stage reads this folder
    out_dir: Path = Path("reports/ablation")  # summary: <out_dir>/<name>/summary.{parquet,md,png}

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        check_folder_names([value], "ablation.name")
        return value

    @field_validator("grid")
    @classmethod
    def _non_empty_lists(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"ablation.grid.{key}: expected a non-empty list of values")
        return value
