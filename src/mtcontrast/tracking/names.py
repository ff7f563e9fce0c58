"""Run names that say what a run is: the variant, the seed and the recipe keys that differ from the schema defaults
(which equal params.yaml), e.g. ``mtl_contrast·s1·λ0.3``, so six runs of one ``dvc exp run`` or twenty ablation
children are told apart in the MLflow runs table without opening them.

Only keys that change the trained weights count (:func:`mtcontrast.config.recipe_changes`: not ``eval``, threads,
logging), and not where files live (``data.root``, ``train.runs_dir``, ...); a run without the regulariser ignores
``loss.contrast.*``. The labels of ablation grids use the same short forms (:func:`short_keys`, :func:`format_value`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mtcontrast.config import Params, all_variants, load_params, recipe_changes, resolve_variant

SEP = "·"
MAX_TERMS = 4  # more differences are counted, not listed: "+3"
SEED_KEY = "seeds"  # a run's seed is in its name as s<seed>, never as a differing key
SYMBOLS = {"loss.contrast.weight": "λ"}  # written without "=", as in the paper
ALIASES = {"model.encoder.name": "encoder", "model.host": "host"}  # clearer than their shortest suffix
_LOCATION_KEYS = (
    "data.root",
    "data.prepared_dir",
    "data.name",
    "data.compression",
    "train.runs_dir",
    "train.device",
    "train.num_workers",
    "model.encoder.pretrained_file",
)
_CONTRAST = "loss.contrast."


def format_value(value: Any) -> str:
    """Compact, YAML-like text of a value (``true``, ``0.3``, ``random``, ``0.05,0.25``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}:{format_value(v)}" for k, v in value.items())
    return json.dumps(value)


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each dotted key → its shortest dotted suffix that no other key ends with (``loss.contrast.weight`` →
    ``weight``), so labels stay short and unambiguous."""
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            suffix = ".".join(parts[-n:])
            if not any(other != key and (other == suffix or other.endswith("." + suffix)) for other in keys):
                break
        out[key] = suffix
    return out


def _lookup(tree: Any, key: str) -> Any:
    for part in key.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def differing_keys(resolved: Params, variant: str, defaults: Params | None = None) -> dict[str, Any]:
    """``{dotted key: value}`` of the recipe of ``resolved`` (a variant's resolved params) that differ from the
    same variant resolved on ``defaults`` (default: the schema defaults), in key order; without ``seed``."""
    base = defaults if defaults is not None else load_params(None)
    own = all_variants(resolved).get(variant)
    if own is not None:  # the run's own variant, under the section that holds it in `resolved`
        section = "variants" if variant in resolved.variants else "baselines"
        base = base.model_copy(update={section: {**getattr(base, section), variant: own}})
    reference = resolve_variant(base, variant) if variant in all_variants(base) else base
    tree = resolved.model_dump(mode="json")
    out = {}
    for key in recipe_changes(reference.model_dump(mode="json"), resolved):
        if key == SEED_KEY or key.startswith(_LOCATION_KEYS):
            continue
        if key.startswith(_CONTRAST) and not resolved.loss.contrast.enabled:
            continue
        out[key] = _lookup(tree, key)
    return out


def _compact(value: Any) -> str:
    """:func:`format_value` with floats in their shortest form (``3.0`` → ``3``, ``0.001`` → ``0.001``)."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(_compact(v) for v in value)
    return format_value(value)


def run_name(
    resolved: Params,
    variant: str,
    label: str | None = None,
    defaults: Params | None = None,
    always: Sequence[str] = (),
) -> str:
    """``<label>·s<seed>[·<key>=<value>…]``, e.g. ``mtl_contrast·s1·λ0.3``: ``label`` (default ``variant``), the
    seed and up to :data:`MAX_TERMS` recipe keys that differ from the defaults (``+N`` for the rest). Keys in
    ``always`` (an ablation's grid keys) come first, even where they equal the default."""
    changed = differing_keys(resolved, variant, defaults)
    tree = resolved.model_dump(mode="json")
    first = {k: _lookup(tree, k) for k in always if k != SEED_KEY}
    rest = {k: v for k, v in changed.items() if k not in first}
    rest = dict(sorted(rest.items(), key=lambda kv: kv[0] not in SYMBOLS))  # λ first: the setting most often varied
    ordered = {**first, **rest}
    short = short_keys(list(ordered)) | {k: v for k, v in ALIASES.items() if k in ordered}
    terms = [f"{SYMBOLS[k]}{_compact(v)}" if k in SYMBOLS else f"{short[k]}={_compact(v)}" for k, v in ordered.items()]
    shown = terms[:MAX_TERMS] + ([f"+{len(terms) - MAX_TERMS}"] if len(terms) > MAX_TERMS else [])
    return SEP.join([label or variant, f"s{resolved.seed}", *shown])
