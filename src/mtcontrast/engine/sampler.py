"""Deterministic iteration-based batch order, sharded over DDP ranks.

Batch ``k`` of the run is a pure function of (seed, k, world size), so a resumed run (from step k) reads exactly
the batches an uninterrupted run would, on every rank.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


class IterationSampler:
    """Yields per-rank index lists for steps ``start, start+1, ...`` from per-epoch seeded permutations."""

    def __init__(self, n: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1) -> None:
        global_batch = batch_size * world_size
        if n < global_batch:
            raise ValueError(f"{n} training samples < global batch {global_batch} (batch_size × world size)")
        self.n, self.batch_size, self.seed, self.rank, self.world_size = n, batch_size, seed, rank, world_size
        self.steps_per_epoch = n // global_batch

    def _perm(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g)

    def batches(self, start: int) -> Iterator[tuple[int, list[int]]]:
        """``(epoch, indices)`` for each step from ``start`` on (infinite)."""
        step = start
        while True:
            epoch, j = divmod(step, self.steps_per_epoch)
            perm = self._perm(epoch)
            while j < self.steps_per_epoch:
                lo = (j * self.world_size + self.rank) * self.batch_size
                yield epoch, perm[lo : lo + self.batch_size].tolist()
                j += 1
                step += 1
