"""``baselines`` and ``variants``: the runs the pipeline trains (one DVC ``matrix`` item per run and seed).

A variant fixes the task set, the host and whether the regulariser is on; everything else comes from the other
sections. ``baselines`` are the single-task variants (one task, no regulariser) that Δm is measured against, trained
on ``baseline_seeds``; ``variants`` are the compared runs, trained on every seed of ``seeds``.
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
