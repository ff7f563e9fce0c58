"""The one typed schema of ``params.yaml``, used by every stage, flow, CLI command and test.

``load_params(path, overrides, profile)`` reads the file, applies a profile's deltas (profiles/*.yaml) and then
``key.sub=value`` overrides (the syntax of ``dvc exp run -S``) and validates. Any problem becomes a single
:class:`ParamsError` that names the key and, for enumerations, the allowed values.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from mtcontrast.config.ablation import AblationParams
from mtcontrast.config.base import ParamsError, Section, check_distinct_seeds
from mtcontrast.config.data import DataParams
from mtcontrast.config.evaluation import EvalParams
from mtcontrast.config.loss import ContrastParams, LossParams
from mtcontrast.config.model import EncoderParams, ModelParams
from mtcontrast.config.profile import cli_overrides, read_profile
from mtcontrast.config.scenes import ScenesParams
from mtcontrast.config.study import RegimeParams, StudyParams
from mtcontrast.config.train import AugmentParams, RunPaths, TrainParams
from mtcontrast.config.variants import VariantParams
from mtcontrast.tasks import DATASETS

__all__ = [
    "AblationParams",
    "AugmentParams",
    "ContrastParams",
    "DELETE",
    "DataParams",
    "EncoderParams",
    "EvalParams",
    "LossParams",
    "ModelParams",
    "Params",
    "ParamsError",
    "RegimeParams",
    "ScenesParams",
    "StudyParams",
    "Section",
    "RunPaths",
    "TrainParams",
    "VariantParams",
    "flatten",
    "load_params",
    "apply_overrides",
    "parse_overrides",
    "profile_overrides",
    "recipe_changes",
    "recipe_digest",
    "variant_recipe",
    "validate",
    "resolve_variant",
    "all_variants",
    "variant_seeds",
    "run_items",
    "stage_item",
    "stage_name",
]

DEFAULT_PARAMS_FILE = Path("params.yaml")


class Params(Section):
    """Root of params.yaml. Each field is one section, validated by its own class.

    ``seeds`` is the one home of training seeds. The experiment's params hold every seed of the design (``dvc repro``
    trains each compared variant once per seed, the report pairs and averages over them; the single-task
    ``baselines`` train on ``baseline_seeds``, a subset); the params of one run hold only its own: :meth:`at_seed` /
    :func:`resolve_variant` narrow ``seeds`` (and ``baseline_seeds``) to ``[s]``, and :attr:`seed` reads it."""

    scenes: ScenesParams = Field(default_factory=ScenesParams)
    data: DataParams = Field(default_factory=DataParams)
    model: ModelParams = Field(default_factory=ModelParams)
    loss: LossParams = Field(default_factory=LossParams)
    train: TrainParams = Field(default_factory=TrainParams)
    eval: EvalParams = Field(default_factory=EvalParams)
    baselines: dict[str, VariantParams] = Field(default_factory=lambda: dict(_DEFAULT_BASELINES))
    variants: dict[str, VariantParams] = Field(default_factory=lambda: dict(_DEFAULT_VARIANTS))
    ablation: AblationParams = Field(default_factory=AblationParams)
    study: StudyParams = Field(default_factory=StudyParams)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    baseline_seeds: list[int] = Field(default_factory=lambda: [0])

    @field_validator("baselines")
    @classmethod
    def _single_task_baselines(cls, value: dict[str, VariantParams]) -> dict[str, VariantParams]:
        bad = [name for name, v in value.items() if not v.is_single_task()]
        if bad:
            raise ValueError(
                f"{', '.join(bad)}: a baseline (the Δm reference) has one task and no regulariser, e.g. "
                "`semseg: {tasks: [semseg], contrast: false, host: mtl_baseline}`; compare others in `variants`"
            )
        return value

    @field_validator("variants")
    @classmethod
    def _names_distinct(cls, value: dict[str, VariantParams], info: ValidationInfo) -> dict[str, VariantParams]:
        both = [name for name in value if name in info.data.get("baselines", {})]
        if both:
            raise ValueError(
                f"{', '.join(both)}: also a key of `baselines`; a name is one run folder (runs/<name>/), so it is "
                "either a baseline or a compared variant"
            )
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int]) -> list[int]:
        return check_distinct_seeds(value)

    @field_validator("baseline_seeds")
    @classmethod
    def _baseline_seeds_in_seeds(cls, value: list[int], info: ValidationInfo) -> list[int]:
        seeds = info.data.get("seeds")
        if seeds is None:  # `seeds` itself is invalid: its own error says so
            return value
        if not value or len(set(value)) != len(value) or not set(value) <= set(seeds):
            raise ValueError(
                f"{value}: expected a non-empty subset of `seeds` {seeds} without repeats (the seeds the "
                f"single-task baselines train on), e.g. [{seeds[0]}]"
            )
        return value

    @property
    def seed(self) -> int:
        """The seed of one run (initial weights, data order, augmentation, regulariser draws): defined once
        ``seeds`` is narrowed to that run's (:meth:`at_seed`), so experiment-level params never pass for one run."""
        if len(self.seeds) != 1:
            raise ParamsError(
                f"these params hold {len(self.seeds)} seeds {self.seeds}; a run's params hold one "
                "(Params.at_seed(seed) or resolve_variant(params, variant, seed))"
            )
        return self.seeds[0]

    def at_seed(self, seed: int | None = None) -> Params:
        """The params of the run with ``seed`` (default: the first of ``seeds``): ``seeds`` and ``baseline_seeds``
        narrowed to ``[seed]``. A seed outside ``seeds`` is allowed: a one-off run (``mtc train --seed 7``)
        outside the design."""
        chosen = self.seeds[0] if seed is None else int(seed)
        if chosen < 0:
            raise ParamsError(f"seed {chosen}: expected a seed >= 0")
        if self.seeds == [chosen] and self.baseline_seeds == [chosen]:
            return self
        return self.model_copy(update={"seeds": [chosen], "baseline_seeds": [chosen]})


_DEFAULT_BASELINES = {t: VariantParams(tasks=[t], host="mtl_baseline") for t in ("semseg", "depth", "normals", "edge")}
_DEFAULT_VARIANTS = {
    "mtl": VariantParams(tasks="all", contrast=False),
    "mtl_contrast": VariantParams(tasks="all", contrast=True),
}


def all_variants(params: Params) -> dict[str, VariantParams]:
    """Every run name of the experiment and its variant: the single-task ``baselines``, then the compared
    ``variants`` (the one lookup for ``mtc train --variant``, recipes and run names; the names are distinct)."""
    return {**params.baselines, **params.variants}


def variant_seeds(params: Params, name: str) -> list[int]:
    """The seeds ``name`` trains on in the design: ``baseline_seeds`` for a baseline, else ``seeds``."""
    return params.baseline_seeds if name in params.baselines else params.seeds


def run_items(params: Params) -> list[tuple[str, int]]:
    """Every (variant, seed) run of the experiment: each baseline × ``baseline_seeds``, then each compared variant ×
    ``seeds``, in params order. It is the expansion of DVC's ``matrix`` stages (``recipe_baseline@`` /
    ``train_baseline@`` / ``evaluate_baseline@`` and ``recipe@`` / ``train@`` / ``evaluate@``, named by
    :func:`stage_name`), and what the ``train-eval`` flow and the report iterate over."""
    return [(variant, seed) for variant in all_variants(params) for seed in variant_seeds(params, variant)]


def stage_item(variant: str, seed: int) -> str:
    """The suffix DVC's ``matrix`` gives the stage of one run: ``train@`` + ``mtl_contrast-1``."""
    return f"{variant}-{seed}"


BASELINE_STAGE_SUFFIX = "_baseline"


def stage_name(stage: str, variant: str, seed: int, baselines: Collection[str] = ()) -> str:
    """The DVC stage of one run's ``stage`` (recipe / train / evaluate): ``train@mtl_contrast-1``, and for a name
    of ``baselines`` (``params.baselines``), whose matrix is its own stage group, ``train_baseline@semseg-0``."""
    group = stage + BASELINE_STAGE_SUFFIX if variant in baselines else stage
    return f"{group}@{stage_item(variant, seed)}"


def resolve_variant(params: Params, name: str, seed: int | None = None) -> Params:
    """The params of one run: ``model.tasks``, ``model.host`` and ``loss.contrast.enabled`` set by the variant, and
    ``seeds`` narrowed to the run's seed (:meth:`Params.at_seed`; default: the first of ``seeds``)."""
    params = params.at_seed(seed)
    variants = all_variants(params)
    if name not in variants:
        raise ParamsError(
            f"unknown variant {name!r}; in params: baselines {', '.join(params.baselines) or '(none)'}; "
            f"variants {', '.join(params.variants) or '(none)'}"
        )
    variant = variants[name]
    section = "variants" if name in params.variants else "baselines"
    tasks_of_dataset = DATASETS[params.data.dataset].tasks
    unknown = [] if variant.tasks == "all" else [t for t in variant.tasks if t not in tasks_of_dataset]
    if unknown:
        raise ParamsError(
            f"{section}.{name}.tasks: {unknown} are not tasks of dataset {params.data.dataset!r} "
            f"(its tasks: {', '.join(tasks_of_dataset)}); edit `{section}` in params.yaml for this dataset"
        )
    tasks = None if variant.tasks == "all" else list(variant.tasks)
    model = params.model.model_copy(update={"tasks": tasks, "host": variant.host or params.model.host})
    contrast = params.loss.contrast.model_copy(update={"enabled": variant.contrast})
    loss = params.loss.model_copy(update={"contrast": contrast})
    return params.model_copy(update={"model": model, "loss": loss})


class _Delete:
    """A singleton that survives copies and pickling (overrides are deep-copied and sent to Prefect workers)."""

    def __repr__(self) -> str:
        return "<delete>"

    def __copy__(self) -> _Delete:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Delete:
        return self

    def __reduce__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()
"""The value of a ``~key`` override: remove the key (as ``dvc exp run -S ~key`` does)."""


def parse_overrides(overrides: Iterable[str]) -> list[tuple[list[str], Any]]:
    """Split ``a.b.c=value`` strings; values are parsed as YAML (``3`` → int, ``[1,2]`` → list, ``null``).

    The Hydra prefixes that ``dvc exp run -S`` needs are accepted too: ``+key=value`` / ``++key=value`` (add a key
    params.yaml lacks; the same as ``key=value`` here) and ``~key`` (remove it: the value is :data:`DELETE`)."""
    parsed: list[tuple[list[str], Any]] = []
    for item in overrides:
        if item.startswith("~"):
            key = item[1:].strip()
            if not key or "=" in key:
                raise ParamsError(f"override {item!r}: expected ~KEY.SUB (remove a key, as in `dvc exp run -S`)")
            parsed.append((key.split("."), DELETE))
            continue
        key, sep, raw = item.removeprefix("++").removeprefix("+").partition("=")
        if not sep or not key.strip():
            raise ParamsError(f"override {item!r}: expected KEY.SUB=VALUE (the `dvc exp run -S` syntax)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ParamsError(f"override {item!r}: value is not valid YAML ({err})") from None
        parsed.append((key.strip().split("."), value))
    return parsed


def _apply(tree: dict[str, Any], path: list[str], value: Any, what: str = "override") -> None:
    """Set (or with :data:`DELETE` remove) one dotted key of the raw tree; ``what`` names the source in errors."""
    dotted = ".".join(path)
    node = tree
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if value is DELETE and not isinstance(child, dict):
            raise ParamsError(f"{what} ~{dotted}: no such key to remove")
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ParamsError(f"{what} {dotted}: {'.'.join(path[: i + 1])} is not a section")
        node = child
    if value is not DELETE:
        node[path[-1]] = value
    elif path[-1] in node:
        del node[path[-1]]
    else:
        raise ParamsError(f"{what} ~{dotted}: no such key to remove")


def _describe(err: Mapping[str, Any], source: str) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "<root>"
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        return f"{source}: unknown key {key!r}"
    if kind == "value_error":  # a validator's own message, after the key it judged
        return f"{source}: {key}: {err['msg'].removeprefix('Value error, ')}"
    if kind == "literal_error":
        return f"{source}: {key} = {got!r} is not allowed; allowed values: {err['ctx']['expected']}"
    return f"{source}: {key} = {got!r}: {err['msg']}"


def _allowed_keys(model: type[Section], loc: tuple[Any, ...]) -> list[str]:
    """Keys of the section that holds ``loc``, to name them in an unknown-key error."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = field.annotation if field else None
        if not (isinstance(ann, type) and issubclass(ann, Section)):
            return []
        model = ann
    return list(model.model_fields)


def validate(tree: Mapping[str, Any], source: str = "params") -> Params:
    """Validate a raw mapping into :class:`Params`, raising one readable :class:`ParamsError`."""
    try:
        return Params.model_validate(tree)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            line = _describe(err, source)
            if err["type"] == "extra_forbidden":
                allowed = _allowed_keys(Params, tuple(err["loc"]))
                if allowed:
                    line += f"; allowed keys here: {', '.join(allowed)}"
            lines.append(line)
        raise ParamsError("\n".join(lines)) from None


def _read_tree(path: str | Path | None) -> tuple[dict[str, Any], str]:
    """The raw mapping of a params file (empty for None: only defaults) and its name for error messages."""
    if path is None:
        return {}, "defaults"
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({err})") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return copy.deepcopy(loaded or {}), str(path)


def load_params(
    path: str | Path | None = DEFAULT_PARAMS_FILE, overrides: Iterable[str] = (), profile: str | Path | None = None
) -> Params:
    """Load ``params.yaml`` (or only defaults when ``path`` is None), apply the deltas of ``profile`` (a file of
    ``dotted.key: value`` lines, profiles/*.yaml) and then ``key.sub=value`` overrides."""
    tree, source = _read_tree(path)
    if profile is not None:
        for key, value in read_profile(profile, Params).items():
            _apply(tree, key.split("."), copy.deepcopy(value), f"{profile}:")
        source += f" + profile {profile}"
        validate(tree, source)  # so that a bad profile value is reported as the profile's, not an override's
    overrides = list(overrides)
    for keys, value in parse_overrides(overrides):
        _apply(tree, keys, value)
    if overrides:
        source += " (with overrides)"
    return validate(tree, source)


def profile_overrides(profile: str | Path, path: str | Path = DEFAULT_PARAMS_FILE) -> list[str]:
    """The deltas of ``profile`` as ``dvc exp run -S`` values against the params file ``path`` (``mtc profile``):
    ``load_params(path, profile_overrides(profile, path)) == load_params(path, profile=profile)``."""
    tree, _ = _read_tree(path)
    return cli_overrides(read_profile(profile, Params), tree, str(profile))


def apply_overrides(base: Params, overrides: Mapping[str, Any], source: str = "overrides") -> Params:
    """``base`` with ``{dotted.key: value}`` overrides applied and re-validated (errors name the key)."""
    tree = copy.deepcopy(base.model_dump(mode="json"))
    for key, value in overrides.items():
        _apply(tree, key.split("."), copy.deepcopy(value))
    return validate(tree, source)


# Sections that do not change what a training computes (evaluation, other runs, the raw scenes, study grids) and
# train keys that only change how fast it runs.
# `seeds` stays: a run's recipe holds its own seed (and `baseline_seeds`, narrowed to the same, adds nothing).
_NOT_RECIPE = ("eval", "baselines", "variants", "scenes", "ablation", "study", "baseline_seeds")
_NOT_RECIPE_TRAIN = ("threads", "log_every", "checkpoint_every", "val_evals", "val_edge_threshold_step")


def _recipe_tree(tree: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of a resolved params tree that change what its training computes. With the regulariser off its
    settings are inert, and only the loss weights of the run's own tasks are read (`losses.py`)."""
    out = {k: v for k, v in tree.items() if k not in _NOT_RECIPE}
    out["train"] = {k: v for k, v in dict(out.get("train", {})).items() if k not in _NOT_RECIPE_TRAIN}
    loss = dict(out.get("loss", {}))
    if loss:
        if not dict(loss.get("contrast", {})).get("enabled", False):
            loss["contrast"] = {"enabled": False}
        tasks = dict(out.get("model", {})).get("tasks")
        dataset = DATASETS.get(str(dict(out.get("data", {})).get("dataset")))
        if tasks is None and dataset is not None:
            tasks = dataset.tasks
        if tasks is not None:
            loss["weights"] = {t: w for t, w in dict(loss.get("weights", {})).items() if t in tasks}
        out["loss"] = loss
    return out


def variant_recipe(params: Params, name: str, seed: int | None = None) -> dict[str, Any]:
    """What the run (``name``, ``seed``) trains from: its resolved params minus every key that cannot change the
    weights. The DVC stage ``recipe@<name>-<seed>`` writes it to ``runs/<name>/s<seed>/recipe.json`` and
    ``train@<name>-<seed>`` depends on that file instead of on params.yaml, so an edit retrains exactly the runs it
    can change (``recipe_digest`` hashes the same tree; adding a seed to ``seeds`` changes no existing run's)."""
    return _recipe_tree(resolve_variant(params, name, seed).model_dump(mode="json"))


def recipe_changes(before: Mapping[str, Any], after: Params) -> list[str]:
    """Dotted keys of the recipe that differ between a stored params tree (a checkpoint's) and ``after``."""
    old, new = {}, {}
    _flatten_into(old, "", _recipe_tree(before))
    _flatten_into(new, "", _recipe_tree(after.model_dump(mode="json")))
    return sorted(k.lstrip(".") for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def recipe_digest(resolved: Params, data_fingerprint: str = "") -> str:
    """Identity of one training: the resolved params that change its result, and the fingerprint of the prepared
    train split it reads. The checkpoint resumes only under the same digest, and the MLflow run is re-opened
    only under it, so "same training?" has one answer."""
    import hashlib
    import json

    tree = _recipe_tree(resolved.model_dump(mode="json"))
    blob = json.dumps({"recipe": tree, "data": data_fingerprint}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def flatten(params: Section, prefix: str = "") -> dict[str, Any]:
    """``{"train.augment.scale": (0.5, 2.0), ...}``: the resolved params as flat keys (for logging)."""
    out: dict[str, Any] = {}
    for key, value in params.model_dump(mode="json").items():
        _flatten_into(out, f"{prefix}{key}", value)
    return out


def _flatten_into(out: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict) and value:
        for sub, item in value.items():
            _flatten_into(out, f"{key}.{sub}", item)
    else:
        out[key] = value
