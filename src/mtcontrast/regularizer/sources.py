"""Which source task supervises each target at a given step (docs/method.md §3.1).

Draws use a local generator seeded from (seed, step), never the global RNG, so every DDP rank draws the same
pairs and a run is reproducible whatever else consumes random numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch

from mtcontrast.config import ParamsError

SourceMode = Literal["random", "fixed", "all", "random_with_self"]


def step_seed(seed: int, step: int, *salt: int) -> int:
    """A well-mixed 63-bit seed for (seed, step, salt...), stable across processes and platforms."""
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF, step, *salt]).generate_state(2)
    return int((int(state[0]) << 31 ^ int(state[1])) & 0x7FFF_FFFF_FFFF_FFFF)


class SourceSelector:
    """Maps each target task to its source task(s) for a step."""

    def __init__(
        self,
        mode: SourceMode,
        tasks: Sequence[str],
        targets: Sequence[str],
        fixed_sources: Mapping[str, str],
        seed: int,
    ) -> None:
        self.mode = mode
        self.tasks = tuple(tasks)
        self.targets = tuple(targets)
        self.seed = seed
        self.fixed = dict(fixed_sources)
        unknown = sorted(set(self.fixed) - set(self.tasks) | set(self.fixed.values()) - set(self.tasks))
        if unknown:
            raise ParamsError(
                f"loss.contrast.fixed_sources names task(s) {unknown} that the model does not have "
                f"(tasks: {', '.join(self.tasks)})"
            )
        if mode == "fixed":
            missing = [t for t in self.targets if t not in self.fixed]
            if missing:
                raise ParamsError(
                    f"loss.contrast.source_mode=fixed but fixed_sources has no source for target(s) {missing}"
                )
        for t in self.targets:
            if not self.candidates(t):
                raise ParamsError(
                    f"loss.contrast.source_mode={mode} has no source task for target {t!r} with tasks "
                    f"{list(self.tasks)}; set loss.contrast.enabled=false for single-task models"
                )

    def candidates(self, target: str) -> tuple[str, ...]:
        """Every source the target can be paired with in this mode."""
        if self.mode == "fixed":
            return (self.fixed[target],)
        if self.mode == "random_with_self":
            return self.tasks
        return tuple(s for s in self.tasks if s != target)

    def pairs(self) -> list[tuple[str, str]]:
        """All (target, source) pairs that can ever be drawn (the projectors a ``pair`` bank needs)."""
        return [(t, s) for t in self.targets for s in self.candidates(t)]

    def draw(self, step: int) -> dict[str, tuple[str, ...]]:
        """Sources per target at ``step``: one uniform draw per target (``random``, ``random_with_self``)."""
        if self.mode in ("fixed", "all"):
            return {t: self.candidates(t) for t in self.targets}
        gen = torch.Generator().manual_seed(step_seed(self.seed, step))
        out = {}
        for t in self.targets:
            options = self.candidates(t)
            out[t] = (options[int(torch.randint(len(options), (1,), generator=gen))],)
        return out
