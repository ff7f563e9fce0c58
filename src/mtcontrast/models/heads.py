"""Task prediction layers: output width per task and the one output activation (depth).

Outputs (docs/method.md §6.2): semseg / human_parts C logits, depth 1 channel ≥ 0, normals 3 raw channels (L2-normalised
where they are used, never in the model, so the loss and the metric see the same direction), edge 1 logit,
sal 2 logits.

Depth uses softplus: it is non-negative, smooth and never dead. A ReLU would zero the gradient of every pixel whose
prediction is negative, which at initialisation is about half of them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from mtcontrast.models.blocks import ConvBlocks
from mtcontrast.tasks import DatasetSpec

__all__ = ["TaskHead", "activate", "output_channels", "task_heads"]


def output_channels(spec: DatasetSpec, tasks: tuple[str, ...]) -> dict[str, int]:
    """Prediction width of each task head (classes from the dataset spec)."""
    return {t: spec.num_classes(t) for t in tasks}


def activate(task: str, pred: torch.Tensor) -> torch.Tensor:
    """The output activation of ``task``: softplus for depth, identity (logits / raw normals) otherwise."""
    return F.softplus(pred) if task == "depth" else pred


class TaskHead(nn.Module):
    """``blocks`` conv-BN-ReLU layers → the task feature (the regulariser's tap) → a 1×1 prediction conv."""

    def __init__(self, in_channels: int, channels: int, out_channels: int, blocks: int) -> None:
        super().__init__()
        self.refine = ConvBlocks(in_channels, channels, blocks)
        self.predict = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat = self.refine(x)
        return feat, self.predict(feat)


def task_heads(in_channels: int, channels: int, outputs: Mapping[str, int], blocks: int) -> nn.ModuleDict:
    """One :class:`TaskHead` per task."""
    return nn.ModuleDict({t: TaskHead(in_channels, channels, n, blocks) for t, n in outputs.items()})
