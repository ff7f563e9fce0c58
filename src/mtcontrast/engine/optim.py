"""Optimiser and the per-iteration poly learning-rate schedule used by every recipe in docs/benchmark-protocol.md §3.2."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from mtcontrast.config import TrainParams


def build_optimizer(train: TrainParams, param_groups: Iterable[dict[str, Any]]) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD over param groups; a group's ``lr_mult`` (e.g. the projectors') scales the base lr."""
    groups = []
    for group in param_groups:
        group = dict(group)
        group["lr"] = train.lr * group.pop("lr_mult", 1.0)
        if list(group["params"]):
            groups.append(group)
    kw: dict[str, Any] = {"lr": train.lr, "weight_decay": train.weight_decay}
    if train.optimizer == "adam":
        return torch.optim.Adam(groups, **kw)
    if train.optimizer == "adamw":
        return torch.optim.AdamW(groups, **kw)
    return torch.optim.SGD(groups, momentum=train.momentum, **kw)


def poly_schedule(optimizer: torch.optim.Optimizer, iterations: int, power: float) -> torch.optim.lr_scheduler.LambdaLR:
    """lr(step) = base · (1 − step / iterations) ^ power, stepped once per iteration."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: max(0.0, 1.0 - min(step, iterations) / iterations) ** power
    )
