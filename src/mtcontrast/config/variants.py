"""``variants``: the runs the pipeline trains and compares (one DVC ``foreach`` item each).

A variant fixes the task set and whether the regulariser is on; everything else comes from the other sections.
Single-task baselines are variants with one task and no regulariser; Δm uses them.
"""

from __future__ import annotations

from typing import Literal

from mtcontrast.config.base import Section
from mtcontrast.config.model import HostName


class VariantParams(Section):
    tasks: Literal["all"] | list[str] = "all"
    contrast: bool = False
    host: HostName | None = None  # None: model.host

    def is_single_task(self) -> bool:
        return isinstance(self.tasks, list) and len(self.tasks) == 1 and not self.contrast
