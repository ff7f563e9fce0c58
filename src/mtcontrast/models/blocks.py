"""Decoder building blocks shared by the hosts: conv stacks, scale fusion, PAD-Net / MTI-Net distillation parts."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvBlocks",
    "FeaturePropagation",
    "MultiModalDistillation",
    "ScaleFusion",
    "SpatialAttention",
    "SqueezeExcite",
    "conv_bn_relu",
    "resize_to",
]


def resize_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize (align_corners=False, as MTL-PyTorch); a no-op when the size already matches."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ConvBlocks(nn.Sequential):
    """``blocks`` 3×3 conv-BN-ReLU layers, the first mapping ``in_channels`` → ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, blocks: int) -> None:
        super().__init__(*[conv_bn_relu(in_channels if i == 0 else out_channels, out_channels) for i in range(blocks)])


class ScaleFusion(nn.Module):
    """All encoder levels resized to one grid, concatenated, then a 1×1 conv-BN-ReLU (MTL-PyTorch HRNet head)."""

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.fuse = conv_bn_relu(sum(in_channels), out_channels, kernel_size=1)

    def forward(self, feats: Sequence[torch.Tensor], size: Sequence[int]) -> torch.Tensor:
        return self.fuse(torch.cat([resize_to(f, size) for f in feats], dim=1))


class SpatialAttention(nn.Module):
    """PAD-Net's SABlock: a 3×3 conv of a source task's feature, gated by a sigmoid spatial mask of the same."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mask = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.Sigmoid())
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.mask(x)


class MultiModalDistillation(nn.Module):
    """Multi-modal distillation (PAD-Net, and MTI-Net per scale): F_t + Σ_{s≠t} SA_{t←s}(F_s)."""

    def __init__(self, tasks: Sequence[str], channels: int) -> None:
        super().__init__()
        self.tasks = tuple(tasks)
        self.attention = nn.ModuleDict(
            {t: nn.ModuleDict({s: SpatialAttention(channels) for s in self.tasks if s != t}) for t in self.tasks}
        )

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for t in self.tasks:
            messages = [self.attention[t][s](feats[s]) for s in self.tasks if s != t]
            out[t] = feats[t] + torch.stack(messages).sum(0) if messages else feats[t]
        return out


class SqueezeExcite(nn.Module):
    """Channel gating from global context (MTI-Net's per-task SEBlock, reduction 16)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class FeaturePropagation(nn.Module):
    """MTI-Net's feature propagation module (FPM): a shared, task-attended summary added back to every task.

    The task features are concatenated, a non-linear map predicts per-channel weights that are softmax-normalised
    over tasks, the weighted features are reduced to one task width and each task receives them through its own
    squeeze-and-excitation gate, as a residual. MTL-PyTorch reshapes the concatenation as (C/N, N), which mixes
    channels of different tasks under one softmax; here the softmax runs over the task axis of (N, C).
    """

    def __init__(self, tasks: Sequence[str], channels: int, blocks: int) -> None:
        super().__init__()
        self.tasks = tuple(tasks)
        shared = channels * len(self.tasks)
        self.weights = nn.Sequential(
            ConvBlocks(shared, max(shared // 4, 8), blocks), nn.Conv2d(max(shared // 4, 8), shared, 1)
        )
        self.reduce = conv_bn_relu(shared, channels)
        self.gates = nn.ModuleDict({t: SqueezeExcite(channels) for t in self.tasks})

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        stacked = torch.stack([feats[t] for t in self.tasks], dim=1)  # B×N×C×h×w
        b, n, c, h, w = stacked.shape
        mask = self.weights(stacked.reshape(b, n * c, h, w)).reshape(b, n, c, h, w).softmax(dim=1)
        summary = self.reduce((mask * stacked).reshape(b, n * c, h, w))
        return {t: self.gates[t](summary) + feats[t] for t in self.tasks}
