"""Base class of every params section: strict (unknown keys are errors), validated on assignment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A params.yaml section. Extra keys are forbidden so a typo can never be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
