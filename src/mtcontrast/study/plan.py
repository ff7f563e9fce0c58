"""Plan a study: expand a grid of dotted params keys × the experiment's ``seeds`` into children, each with its full,
schema-validated params, so a bad key or value fails before any training and names the key.

A child is one grid point and one seed: a single variant named after the grid point, run folder
``<runs_dir>/<child>/s<seed>/`` (:class:`~mtcontrast.config.RunPaths`, as the DVC pipeline's runs), params narrowed
to that seed. Seeds come from ``seeds`` (``-S 'seeds=[0, 1, 2]'``), the one home of seeds, never from the grid.
:class:`ChildResult` is what a finished child leaves behind; :mod:`mtcontrast.study.summary` reads only that.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtcontrast.config import (
    Params,
    ParamsError,
    VariantParams,
    all_variants,
    apply_overrides,
    parse_overrides,
    resolve_variant,
)
from mtcontrast.config.ablation import AblationParams
from mtcontrast.tracking.names import format_value, short_keys

SEED_KEY = "seed"  # the column a summary averages (and pairs) over; every grid key defines a setting
SWITCH_KEY = "loss.contrast.enabled"  # grids that switch the regulariser off get Δm against that host
CONTRAST_PREFIX = "loss.contrast."
# keys the plan sets itself (child folders, the child's variant); a grid over them would break the layout
_RESERVED = ("ablation", "variants", "train.runs_dir", "seeds", "baseline_seeds")


@dataclass(frozen=True)
class ChildPlan:
    """One grid point and seed: variant / MLflow run name, setting label (the grid keys), overrides, full params
    (narrowed to ``seed``)."""

    name: str
    setting: str
    overrides: dict[str, Any]
    params: Params
    seed: int = 0

    @property
    def run_dir(self) -> Path:
        return self.params.train.run_paths(self.name, self.seed).dir


@dataclass
class ChildResult:
    """A trained + evaluated child as the summary needs it (also its ``child_result.json``)."""

    name: str
    setting: str
    overrides: dict[str, Any]
    metrics: dict[str, dict[str, float]]
    run_id: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    @property
    def key(self) -> str:
        """Unique among a study's children: the grid point and the seed (``contrast-on_weight-0.3·s1``)."""
        return f"{self.name}·s{self.seed}"


def setting_of(overrides: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    """Label of a child's setting: its overrides but the seed, e.g. ``enabled=true, weight=0.3``."""
    short = short_keys(list(keys if keys is not None else overrides))
    return ", ".join(_term(k, v, short, "=") for k, v in overrides.items() if k != SEED_KEY) or "base"


def _term(key: str, value: Any, short: Mapping[str, str], sep: str) -> str:
    """``weight=0.3`` in labels, ``weight-0.3`` in names; the regulariser switch reads ``contrast=off``."""
    if key == SWITCH_KEY and isinstance(value, bool):
        return f"contrast{sep}{'on' if value else 'off'}"
    return f"{short[key]}{sep}{format_value(value)}"


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]] | None:
    """``["loss.contrast.weight=[0.3, 1]", "seed=[0, 1]"]`` → ``{"loss.contrast.weight": [0.3, 1], "seed": [0, 1]}``
    (YAML values, the ``-S`` syntax; a scalar is a one-value axis). None when no item is given."""
    if not items:
        return None
    return {".".join(path): value if isinstance(value, list) else [value] for path, value in parse_overrides(items)}


def expand_grid(base: Params, grid: Mapping[str, Sequence[Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The Cartesian product of ``grid`` as ``[(child name, {key: value})]``, each validated against ``base``.

    Children with ``loss.contrast.enabled: false`` drop the other ``loss.contrast.*`` keys (they do not change a
    run without the regulariser), so the host-only setting is trained once per seed, not once per λ.
    """
    for key, values in grid.items():
        if key == SEED_KEY:
            raise ParamsError(
                "ablation grid: key 'seed': seeds come from `seeds` (the one home of seeds), e.g. -S 'seeds=[0, 1, 2]'"
            )
        if any(key == r or key.startswith(r + ".") for r in _RESERVED):
            raise ParamsError(f"ablation grid: key {key!r} is set by the flow itself; choose another key")
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise ParamsError(f"ablation grid: {key} = {values!r}: expected a non-empty list of values")
    if not grid:
        return [("base", {})]
    keys = list(grid)
    short = short_keys(keys)
    children: list[tuple[str, dict[str, Any]]] = []
    seen_overrides: list[dict[str, Any]] = []
    names: set[str] = set()
    for combo in itertools.product(*(grid[k] for k in keys)):
        overrides = dict(zip(keys, combo))
        if overrides.get(SWITCH_KEY) is False:
            overrides = {k: v for k, v in overrides.items() if k == SWITCH_KEY or not k.startswith(CONTRAST_PREFIX)}
        if overrides in seen_overrides:
            continue
        name = "_".join(_term(k, v, short, "-") for k, v in overrides.items())
        name = re.sub(r"[^A-Za-z0-9_.,+=-]", "", name) or "child"
        if name in names:
            name = f"{name}_{len(children)}"
        apply_overrides(base, overrides, f"ablation grid child {name} ({setting_of(overrides, keys)})")
        seen_overrides.append(overrides)
        names.add(name)
        children.append((name, overrides))
    return children


def child_variant(base: VariantParams, overrides: Mapping[str, Any]) -> VariantParams:
    """The child's variant: the studied variant, with its regulariser switch / host / tasks taken from the grid
    when the grid sets them (``resolve_variant`` would otherwise overwrite those keys with the variant's)."""
    update: dict[str, Any] = {}
    if SWITCH_KEY in overrides:
        update["contrast"] = bool(overrides[SWITCH_KEY])
    if "model.host" in overrides:
        update["host"] = overrides["model.host"]
    if "model.tasks" in overrides:
        update["tasks"] = overrides["model.tasks"] or "all"
    return VariantParams.model_validate({**base.model_dump(), **update})


def plan_children(
    base: Params, variant: str, grid: Mapping[str, Sequence[Any]], runs_dir: Path, *, section: str = "ablation"
) -> list[ChildPlan]:
    """Every child of ``grid`` × ``base.seeds`` over ``variant`` with its full, validated params: ``train.runs_dir =
    runs_dir``, a single variant named after the grid point and ``seeds`` narrowed to the child's, so its run folder
    is ``<runs_dir>/<child>/s<seed>``. ``section`` names the params section in error messages."""
    known = all_variants(base)
    if variant not in known:
        raise ParamsError(
            f"{section}.variant = {variant!r}: not a key of `variants` or `baselines` ({', '.join(known)})"
        )
    studied = known[variant]
    keys = list(grid)
    plans = []
    for name, overrides in expand_grid(base, grid):
        params = apply_overrides(base, overrides)
        train = params.train.model_copy(update={"runs_dir": Path(runs_dir)})
        params = params.model_copy(update={"train": train, "variants": {name: child_variant(studied, overrides)}})
        resolve_variant(params, name)  # the variant's tasks must belong to the (possibly overridden) dataset
        for seed in base.seeds:
            plans.append(ChildPlan(name, setting_of(overrides, keys), overrides, params.at_seed(seed), seed))
    return plans


def plan_ablation(base: Params, cfg: AblationParams) -> list[ChildPlan]:
    """The children of the ``ablation`` section: :func:`plan_children` under ``<runs_dir>/<name>/``."""
    return plan_children(base, cfg.variant, cfg.grid, Path(cfg.runs_dir) / cfg.name)


def require_prepared(params: Params) -> None:
    """Children train on the DVC-prepared data; say how to make it when it is missing."""
    for split in ("train", "val"):
        path = params.data.prepared_path(split)
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: prepared {split} split missing; run `dvc repro prepare` first")
