"""Base class of every params section (strict: unknown keys are errors) and the one error type of the schema."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict


class ParamsError(ValueError):
    """A params file, profile or override that does not match the schema (one line per problem, naming the key)."""


class Section(BaseModel):
    """A params.yaml section. Extra keys are forbidden so a typo can never be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_folder_names(names: Iterable[str], what: str) -> None:
    """Names that become folders (an ablation, a study, its regimes): letters, digits, '_', '.', '-' only."""
    bad = [n for n in names if not _FOLDER_NAME.match(n)]
    if bad:
        raise ValueError(f"{what} {bad}: use letters, digits, '_', '.', '-' (they name folders)")


def check_distinct_seeds(value: list[int]) -> list[int]:
    """A list of training seeds: distinct and >= 0 (a repeated seed would pair a run with itself)."""
    if len(set(value)) != len(value) or min(value) < 0:
        raise ValueError(f"{value}: expected distinct seeds >= 0, e.g. [0, 1, 2]")
    return value
