"""Base class of every params section (strict: unknown keys are errors) and the one error type of the schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ParamsError(ValueError):
    """A params file, profile or override that does not match the schema (one line per problem, naming the key)."""


class Section(BaseModel):
    """A params.yaml section. Extra keys are forbidden so a typo can never be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
