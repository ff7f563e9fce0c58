"""The one typed schema of ``params.yaml``, used by every stage, flow, CLI command and test.

``load_params(path, overrides)`` reads the file, applies ``key.sub=value`` overrides (the syntax of
``dvc exp run -S``) and validates. Any problem becomes a single :class:`ParamsError` that names the key and, for
enumerations, the allowed values.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from mtcontrast.config.ablation import AblationParams
from mtcontrast.config.base import Section
from mtcontrast.config.data import AugmentParams, DataParams
from mtcontrast.config.evaluation import EvalParams
from mtcontrast.config.loss import ContrastParams, LossParams
from mtcontrast.config.model import EncoderParams, ModelParams
from mtcontrast.config.scenes import ScenesParams
from mtcontrast.config.train import RunPaths, TrainParams
from mtcontrast.config.variants import VariantParams

__all__ = [
    "AblationParams",
    "AugmentParams",
    "ContrastParams",
    "DataParams",
    "EncoderParams",
    "EvalParams",
    "LossParams",
    "ModelParams",
    "Params",
    "ParamsError",
    "ScenesParams",
    "Section",
    "RunPaths",
    "TrainParams",
    "VariantParams",
    "flatten",
    "load_params",
    "apply_overrides",
    "parse_overrides",
    "resolve_variant",
]

DEFAULT_PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    """A params file or override that does not match the schema."""


class Params(Section):
    """Root of params.yaml. Each field is one section, validated by its own class."""

    seed: int = 0
    scenes: ScenesParams = Field(default_factory=ScenesParams)
    data: DataParams = Field(default_factory=DataParams)
    model: ModelParams = Field(default_factory=ModelParams)
    loss: LossParams = Field(default_factory=LossParams)
    train: TrainParams = Field(default_factory=TrainParams)
    eval: EvalParams = Field(default_factory=EvalParams)
    variants: dict[str, VariantParams] = Field(default_factory=lambda: dict(_DEFAULT_VARIANTS))
    ablation: AblationParams = Field(default_factory=AblationParams)


_DEFAULT_VARIANTS = {
    **{t: VariantParams(tasks=[t], host="mtl_baseline") for t in ("semseg", "depth", "normals", "edge")},
    "mtl": VariantParams(tasks="all", contrast=False),
    "mtl_contrast": VariantParams(tasks="all", contrast=True),
}


def resolve_variant(params: Params, name: str) -> Params:
    """The params of one run: ``model.tasks``, ``model.host`` and ``loss.contrast.enabled`` set by the variant."""
    if name not in params.variants:
        raise ParamsError(f"unknown variant {name!r}; variants in params: {', '.join(params.variants)}")
    variant = params.variants[name]
    from mtcontrast.tasks import DATASETS

    tasks_of_dataset = DATASETS[params.data.dataset].tasks
    unknown = [] if variant.tasks == "all" else [t for t in variant.tasks if t not in tasks_of_dataset]
    if unknown:
        raise ParamsError(
            f"variants.{name}.tasks: {unknown} are not tasks of dataset {params.data.dataset!r} "
            f"(its tasks: {', '.join(tasks_of_dataset)}); edit `variants` in params.yaml for this dataset"
        )
    tasks = None if variant.tasks == "all" else list(variant.tasks)
    model = params.model.model_copy(update={"tasks": tasks, "host": variant.host or params.model.host})
    contrast = params.loss.contrast.model_copy(update={"enabled": variant.contrast})
    loss = params.loss.model_copy(update={"contrast": contrast})
    return params.model_copy(update={"model": model, "loss": loss})


def parse_overrides(overrides: Iterable[str]) -> list[tuple[list[str], Any]]:
    """Split ``a.b.c=value`` strings; values are parsed as YAML (``3`` → int, ``[1,2]`` → list, ``null``)."""
    parsed = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ParamsError(f"override {item!r}: expected KEY.SUB=VALUE (the `dvc exp run -S` syntax)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ParamsError(f"override {item!r}: value is not valid YAML ({err})") from None
        parsed.append((key.strip().split("."), value))
    return parsed


def _apply(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ParamsError(f"override {'.'.join(path)}: {'.'.join(path[: i + 1])} is not a section")
        node = child
    node[path[-1]] = value


def _describe(err: Mapping[str, Any], source: str) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "<root>"
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        return f"{source}: unknown key {key!r}"
    if kind == "value_error":
        return f"{source}: {err['msg'].removeprefix('Value error, ')}"
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


def load_params(path: str | Path | None = DEFAULT_PARAMS_FILE, overrides: Iterable[str] = ()) -> Params:
    """Load ``params.yaml`` (or only defaults when ``path`` is None) and apply ``key.sub=value`` overrides."""
    tree: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ParamsError(f"{path}: params file not found")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ParamsError(f"{path}: not valid YAML ({err})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ParamsError(f"{path}: expected a mapping of sections at the top level")
        tree = copy.deepcopy(loaded or {})
    overrides = list(overrides)
    for keys, value in parse_overrides(overrides):
        _apply(tree, keys, value)
    if overrides:
        source += " (with overrides)"
    return validate(tree, source)


def apply_overrides(base: Params, overrides: Mapping[str, Any], source: str = "overrides") -> Params:
    """``base`` with ``{dotted.key: value}`` overrides applied and re-validated (errors name the key)."""
    tree = copy.deepcopy(base.model_dump(mode="json"))
    for key, value in overrides.items():
        _apply(tree, key.split("."), copy.deepcopy(value))
    return validate(tree, source)


def flatten(params: Section, prefix: str = "") -> dict[str, Any]:
    """``{"data.augment.scale": (0.5, 2.0), ...}``: the resolved params as flat keys (for logging)."""
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
