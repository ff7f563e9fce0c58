"""Which source task supervises each target at a given step (docs/method.md §3.1).

Draws use a local generator seeded from (seed, step), never the global RNG, so every DDP rank draws the same
pairs and a run is reproducible whatever else consumes random numbers.

With partially labelled batches (docs/partial-labels.md) a source can only supervise the images that carry its
labels: ``assign`` keeps the step's draw where the image has that label and otherwise draws again among the
candidates labelled on that image (uniform over them, from (seed, step, target, image)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from mtcontrast.config import ParamsError

SourceMode = Literal["random", "fixed", "all", "random_with_self"]


def step_seed(seed: int, step: int, *salt: int) -> int:
    """A well-mixed 63-bit seed for (seed, step, salt...), stable across processes and platforms."""
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF, step, *salt]).generate_state(2)
    return int((int(state[0]) << 31 ^ int(state[1])) & 0x7FFF_FFFF_FFFF_FFFF)


@dataclass(frozen=True)
class Assignment:
    """One (target, source) pair of a step: ``rows`` are the batch images it covers (None: all of them)."""

    target: str
    source: str
    rows: tuple[int, ...] | None


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

    def assign(
        self,
        step: int,
        labelled: Mapping[str, Sequence[bool]] | None = None,
        require_target_label: bool = False,
    ) -> tuple[dict[str, list[Assignment]], dict[str, int]]:
        """The (target, source, rows) pairs of ``step`` and how many (image, target) pairs they regularise with and
        without the target's own label (``with_target_label``, ``without_target_label``, ``skipped``).

        ``labelled``: task → one flag per batch image (a task not listed counts as labelled); None means every image
        carries every label: exactly the pairs of ``draw``, and the counts are left for the caller, who knows the batch
        size. An image is regularised for a target only
        through a source labelled on it; with ``require_target_label`` also only when it has the target's label.
        ``random`` modes redraw per image among the labelled candidates when the step's source is missing there;
        ``fixed`` / ``all`` sources simply skip the images without their labels.
        """
        drawn = self.draw(step)
        counts = {"with_target_label": 0, "without_target_label": 0, "skipped": 0}
        if labelled is None:
            return {t: [Assignment(t, s, None) for s in drawn[t]] for t in self.targets}, counts
        flags = {task: [bool(v) for v in values] for task, values in labelled.items()}
        B = len(next(iter(flags.values()))) if flags else 0
        if any(len(v) != B for v in flags.values()):
            lengths = {k: len(v) for k, v in flags.items()}
            raise ValueError(f"labelled: every task needs one flag per batch image, got lengths {lengths}")

        def has(task: str, b: int) -> bool:
            return flags[task][b] if task in flags else True

        out: dict[str, list[Assignment]] = {}
        for ti, target in enumerate(self.targets):
            keep = [b for b in range(B) if has(target, b) or not require_target_label]
            counts["skipped"] += B - len(keep)
            rows: dict[str, list[int]] = {}
            if self.mode in ("fixed", "all"):
                for s in drawn[target]:
                    rows[s] = [b for b in keep if has(s, b)]
            else:
                (first,) = drawn[target]
                gen = torch.Generator().manual_seed(step_seed(self.seed, step, 0, 1 + ti))
                u = torch.rand(B, generator=gen, dtype=torch.float64).tolist()
                rows[first] = []
                for b in keep:
                    options = [first] if has(first, b) else [s for s in self.candidates(target) if has(s, b)]
                    if options:
                        rows.setdefault(options[min(int(u[b] * len(options)), len(options) - 1)], []).append(b)
            covered = {b for r in rows.values() for b in r}
            counts["skipped"] += len(keep) - len(covered)
            for b in covered:
                counts["with_target_label" if has(target, b) else "without_target_label"] += 1
            out[target] = [Assignment(target, s, None if len(r) == B else tuple(r)) for s, r in rows.items() if r]
        return out, counts
