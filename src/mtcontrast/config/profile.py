"""Profiles: small files of ``dotted.key: value`` deltas against params.yaml (the paper recipes in profiles/).

A profile holds only the values that differ from params.yaml, so it is applied by the override machinery (the same
as ``-S``, before any ``-S``), and ``mtc profile FILE`` prints it as ``-S`` arguments for
``dvc exp run $(mtc profile FILE)``. DVC reads ``-S`` with Hydra's override grammar, so the printed arguments use
the subset of syntax that Hydra and YAML read alike: ``key=value`` for a key params.yaml has, ``+key=value`` for a
new key, ``~key`` to remove one, and values in flow style without spaces (``[448,576]``, ``null``, ``''``).
"""

from __future__ import annotations

import json
import math
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mtcontrast.config.base import ParamsError, Section

# Strings that both YAML and Hydra read back as the same plain string without quotes.
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*")
_HYDRA_WORDS = {"null", "true", "false", "inf", "nan"}  # case-insensitive keywords of Hydra's grammar
_ENTRY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # a mapping entry name usable inside a dotted -S key


def read_profile(path: str | Path, schema: type[Section]) -> dict[str, Any]:
    """The ``{dotted.key: value}`` deltas of a profile file; every key must be a key of ``schema``."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: profile not found")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(loaded, dict) or not loaded:
        raise ParamsError(f"{path}: expected a mapping of dotted params keys to values, e.g. `train.lr: 0.01`")
    for key in loaded:
        if not isinstance(key, str) or not _is_schema_key(schema, key.split(".")):
            raise ParamsError(f"{path}: {key!r} is not a params key (write dotted keys, e.g. `train.crop_size`)")
    return loaded


def _is_schema_key(model: type[Section], parts: list[str]) -> bool:
    """``parts`` names a value of the schema: a field that is not a section (a whole section would replace its
    siblings too), or an entry of a free mapping such as ``variants``."""
    field = model.model_fields.get(parts[0])
    if field is None:
        return False
    ann = field.annotation
    if isinstance(ann, type) and issubclass(ann, Section):
        return len(parts) > 1 and _is_schema_key(ann, parts[1:])
    if len(parts) == 1:
        return True
    if typing.get_origin(ann) is not dict:
        return False
    entry = typing.get_args(ann)[1]
    if len(parts) == 2:
        return True
    return isinstance(entry, type) and issubclass(entry, Section) and _is_schema_key(entry, parts[2:])


def cli_overrides(deltas: Mapping[str, Any], base: Mapping[str, Any], source: str) -> list[str]:
    """``deltas`` as ``dvc exp run -S`` arguments against the raw params tree ``base``, with the same result as
    applying them. A mapping value replaces the whole mapping, so it becomes per-entry arguments plus ``~`` removals
    (Hydra merges a mapping value into the existing one)."""
    out: list[str] = []
    for key, value in deltas.items():
        present, current = _lookup(base, key.split("."))
        out += _diff(key, present, current, value, source)
    return out


def _lookup(tree: Mapping[str, Any], parts: list[str]) -> tuple[bool, Any]:
    node: Any = tree
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _same(a: Any, b: Any) -> bool:
    """Equal as YAML values (``1`` differs from ``1.0`` and ``true``, unlike Python's ``==``)."""
    return json.dumps(a, default=str) == json.dumps(b, default=str)


def _diff(key: str, present: bool, current: Any, value: Any, source: str) -> list[str]:
    if not isinstance(value, dict):
        if present and _same(current, value):
            return []
        return [f"{'' if present else '+'}{key}={_flow(value, key, source)}"]
    for entry in value:
        if not isinstance(entry, str) or not _ENTRY.fullmatch(entry):
            raise ParamsError(f"{source}: {key}.{entry}: this entry name cannot be written as a -S key")
    out: list[str] = []
    if present and not isinstance(current, dict):
        out.append(f"~{key}")
        present, current = False, None
    if not present and not value:
        return [*out, f"+{key}={{}}"]
    current = current or {}
    out += [f"~{key}.{entry}" for entry in current if entry not in value]
    for entry, item in value.items():
        out += _diff(f"{key}.{entry}", entry in current, current.get(entry), item, source)
    return out


def _flow(value: Any, key: str, source: str) -> str:
    """One value in flow style with no spaces, read back identically by YAML (``mtc -S``) and Hydra (``dvc -S``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParamsError(f"{source}: {key} = {value}: not a finite number")
        text = repr(value)
        if "e" in text:  # YAML 1.1 needs a '.' and a signed exponent; Hydra rejects exponent digits like '05'
            mantissa, exponent = text.split("e")
            digits = exponent.lstrip("+-").lstrip("0") or "0"
            text = f"{mantissa if '.' in mantissa else mantissa + '.0'}e{'-' if exponent[0] == '-' else '+'}{digits}"
        return text
    if isinstance(value, str):
        plain = _PLAIN.fullmatch(value) and value.lower() not in _HYDRA_WORDS and yaml.safe_load(value) == value
        if plain:
            return value
        if re.search(r"[\s'\\]|\$\{", value):
            raise ParamsError(f"{source}: {key} = {value!r}: spaces, quotes, backslashes and ${{ cannot be printed")
        return f"'{value}'"
    if isinstance(value, list):
        return "[" + ",".join(_flow(item, key, source) for item in value) + "]"
    if isinstance(value, dict) and not value:
        return "{}"
    raise ParamsError(f"{source}: {key} = {value!r}: only scalars, lists and {{}} can be printed inside a list")
