"""Training wrapper and inference export.

The regulariser's projectors live in the criterion, never in the host (docs/method.md §3.3), so the exported model is
the host exactly: same parameters, state-dict keys and FLOPs as the host trained without the regulariser.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from mtcontrast.models.hosts import Endpoints, MultiTaskHost

__all__ = ["TrainingModel", "export_inference"]


class TrainingModel(nn.Module):
    """Host + criterion in one module, so one optimiser / DDP wrapper sees the host and the projectors."""

    def __init__(self, host: MultiTaskHost, criterion: nn.Module) -> None:
        super().__init__()
        self.host = host
        self.criterion = criterion

    def forward(self, batch: dict[str, Any], step: int) -> tuple[Endpoints, Any]:
        endpoints = self.host(batch["image"])
        return endpoints, self.criterion(endpoints, batch, step)


def export_inference(model: TrainingModel | MultiTaskHost) -> MultiTaskHost:
    """The host alone (the same module, sharing weights with ``model``), switched to eval mode."""
    if isinstance(model, TrainingModel):
        host = model.host
    elif isinstance(model, MultiTaskHost):
        host = model
    else:
        raise TypeError(f"export_inference: expected a TrainingModel or a MultiTaskHost, got {type(model).__name__}")
    return host.eval()


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters (for the parameter-parity check between exported and plain hosts)."""
    return sum(p.numel() for p in module.parameters())
