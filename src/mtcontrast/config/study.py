"""``study``: host vs host + regulariser across data regimes, over enough paired seeds to see a 1-point effect
(``make study``, the Prefect flow ``study``; docs/study.md).

Each regime is a set of params overrides (the regime's data) and its own seeds; inside a regime the children are the
Cartesian product of ``grid`` (as in ``ablation``: a child with the regulariser off is the host, trained once per
seed) × the regime's seeds. With ``baselines``, the single-task baselines train once, on full labels, as the Δm
reference of every regime. The seeds live here, not in the top-level ``seeds``: the study is its own experiment
and needs more seeds in the full-label regime than ``dvc repro`` trains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from mtcontrast.config.base import Section, check_distinct_seeds, check_folder_names

_SWITCH = {"loss.contrast.enabled": [False, True]}


class RegimeParams(Section):
    overrides: dict[str, Any] = Field(default_factory=dict)  # dotted params keys → values (the regime's data)
    seeds: list[int] = Field(min_length=2)  # paired seeds; two at least, or there is no interval
    grid: dict[str, list[Any]] = Field(default_factory=lambda: dict(_SWITCH))  # the arms compared in this regime

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        return check_distinct_seeds(value)

    @field_validator("grid")
    @classmethod
    def _has_host(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if False not in value.get("loss.contrast.enabled", []) or True not in value["loss.contrast.enabled"]:
            raise ValueError(
                "expected loss.contrast.enabled: [false, true] in the grid: each regime pairs the host with it"
            )
        return value


def _default_regimes() -> dict[str, RegimeParams]:
    return {
        "full": RegimeParams(seeds=[0, 1, 2, 3, 4, 5]),
        "quarter": RegimeParams(overrides={"data.partial.images": 0.25}, seeds=[0, 1, 2]),
        "half_labels": RegimeParams(
            overrides={
                "data.partial.mode": "fraction",
                "data.partial.fractions": {"semseg": 0.5, "depth": 0.5, "normals": 0.5, "edge": 0.5},
            },
            seeds=[0, 1, 2],
            grid={**_SWITCH, "loss.contrast.require_target_label": [False, True]},
        ),
    }


class StudyParams(Section):
    name: str = "study"  # <runs_dir>/<name>/<regime>/<child>/s<seed>/ and the MLflow parent run
    variant: str = "mtl_contrast"  # the tasks and host every child trains
    # the single-task baselines (`baselines`, on `baseline_seeds`, full labels), trained once per study: every
    # regime's Δm vs single-task (docs/study.md)
    baselines: bool = True
    regimes: dict[str, RegimeParams] = Field(default_factory=_default_regimes, min_length=1)
    runs_dir: Path = Path("studies")
    out_dir: Path = Path("reports")  # <out_dir>/<name>.md, .json, .png (reports/figures is a DVC output)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        check_folder_names([value], "study.name")
        return value

    @field_validator("regimes")
    @classmethod
    def _safe_regime_names(cls, value: dict[str, RegimeParams]) -> dict[str, RegimeParams]:
        check_folder_names(value, "regime names")
        if "baselines" in value:
            raise ValueError("a regime may not be named 'baselines': the study's single-task baselines use that folder")
        return value
