"""Task losses of the ATRC / InvPT recipe (docs/benchmark-protocol.md §3.3) and the multi-task criterion.

Every loss divides by the number of *valid* pixels (at least 1), so a batch whose labels are all ignore / invalid
gives exactly 0, never NaN, and a sample without a task's label (an all-ignore map) contributes nothing to it.
``MultiTaskCriterion`` returns named, unweighted components and the total as their weighted sum:
total = Σ_t w_t·(loss_t + dsw·loss_t_aux) + λ·loss_contrast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtcontrast.config import ParamsError
from mtcontrast.config.loss import LossParams
from mtcontrast.regularizer import CrossTaskContrast
from mtcontrast.regularizer.module import LazyStats
from mtcontrast.tasks import IGNORE_INDEX, DatasetSpec

__all__ = [
    "LossOutput",
    "MultiTaskCriterion",
    "build_criterion",
    "cross_entropy_loss",
    "depth_loss",
    "edge_loss",
    "normals_loss",
    "saliency_loss",
    "task_loss",
    "tapped_features",
]


def _count(valid: Tensor) -> Tensor:
    return valid.sum().clamp_min(1)


def _check(task: str, pred: Tensor, label: Tensor, channels: int | None, label_dims: int) -> None:
    if label.dim() != label_dims or pred.dim() != 4 or pred.shape[0] != label.shape[0]:
        raise ValueError(
            f"{task}: prediction {tuple(pred.shape)} and label {tuple(label.shape)} do not match "
            f"(expected B×C×H×W and a {label_dims}-d label with the same B)"
        )
    if channels is not None and pred.shape[1] != channels:
        raise ValueError(f"{task}: expected {channels} prediction channel(s), got {pred.shape[1]}")


def cross_entropy_loss(logits: Tensor, target: Tensor) -> Tensor:
    """CE ignoring 255, summed and divided by the number of labelled pixels (semseg, human parts)."""
    _check("cross_entropy", logits, target, None, 3)
    valid = target != IGNORE_INDEX
    loss = F.cross_entropy(logits.float(), target.long(), ignore_index=IGNORE_INDEX, reduction="sum")
    return loss / _count(valid)


def edge_loss(logit: Tensor, target: Tensor, pos_weight: float) -> Tensor:
    """Balanced BCE w·L⁺ + (1 − w)·L⁻, mean over valid pixels (InvPT's pos_weight w/(1−w) times (1 − w))."""
    _check("edge", logit, target, 1, 3)
    valid = target != IGNORE_INDEX
    positive = target == 1
    bce = F.binary_cross_entropy_with_logits(logit[:, 0].float(), positive.float(), reduction="none")
    weight = torch.where(positive, pos_weight, 1.0 - pos_weight)
    return (bce * weight * valid).sum() / _count(valid)


def saliency_loss(logits: Tensor, target: Tensor) -> Tensor:
    """2-class CE with per-batch class weights [1 − w, w], w = #neg/#valid, summed over / #valid pixels."""
    _check("sal", logits, target, 2, 3)
    valid = target != IGNORE_INDEX
    n_valid = _count(valid)
    w = (((target == 0) & valid).sum() / n_valid).float().detach()
    class_weight = torch.stack((1.0 - w, w)).to(logits.device)
    loss = F.cross_entropy(
        logits.float(), target.long(), weight=class_weight, ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return loss / n_valid


def normals_loss(pred: Tensor, target: Tensor) -> Tensor:
    """L1 between the L2-normalised prediction and the GT, summed over channels, / #valid **pixels**."""
    _check("normals", pred, target, 3, 4)
    valid = target.norm(dim=1) > 0
    diff = (F.normalize(pred.float(), dim=1) - target.float()).abs().sum(dim=1)
    return (diff * valid).sum() / _count(valid)


def depth_loss(pred: Tensor, target: Tensor) -> Tensor:
    """L1 over pixels with GT depth > 0."""
    _check("depth", pred, target, 1, 4)
    valid = target > 0
    return ((pred.float() - target.float()).abs() * valid).sum() / _count(valid)


def _loss_fn(task: str, edge_pos_weight: float) -> Callable[[Tensor, Tensor], Tensor]:
    table: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
        "semseg": cross_entropy_loss,
        "human_parts": cross_entropy_loss,
        "edge": partial(edge_loss, pos_weight=edge_pos_weight),
        "sal": saliency_loss,
        "normals": normals_loss,
        "depth": depth_loss,
    }
    try:
        return table[task]
    except KeyError:
        raise ValueError(f"no loss for task {task!r}; known: {', '.join(table)}") from None


def task_loss(task: str, pred: Tensor, label: Tensor, edge_pos_weight: float = 0.95) -> Tensor:
    """The task's loss, with ``pred`` upsampled (bilinear) to the label size first when they differ."""
    if pred.dim() == 4 and tuple(pred.shape[-2:]) != tuple(label.shape[-2:]):
        pred = F.interpolate(pred, size=tuple(label.shape[-2:]), mode="bilinear", align_corners=False)
    return _loss_fn(task, edge_pos_weight)(pred, label)


class LossOutput(LazyStats):
    """``total`` = Σ_k ``weights[k]``·``components[k]``; components are unweighted (``loss_semseg``,
    ``loss_semseg_aux``, ..., ``loss_contrast``); ``stats`` are detached floats for logging, computed on first
    access (a step that does not log never syncs with the device for them)."""

    def __init__(
        self,
        total: Tensor,
        components: dict[str, Tensor],
        weights: dict[str, float] | None = None,
        stats: dict[str, float] | Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.total = total
        self.components = components
        self.weights = weights or {}
        self._stats = stats if stats is not None else {}


def tapped_features(endpoints: Mapping[str, Any], tap: str) -> Mapping[str, Tensor]:
    """The features the regulariser reads (docs/method.md §3.2): ``feat`` for ``final_feat``, else the host's
    ``taps[tap]`` (an earlier decoder stage); a host without that tap is an error naming it."""
    if tap == "final_feat":
        return endpoints["feat"]
    taps = endpoints.get("taps") or {}
    if tap not in taps:
        raise ValueError(
            f"loss.contrast.tap = {tap!r}: the host returns no such feature (it has: final_feat"
            f"{''.join(', ' + t for t in taps)})"
        )
    return taps[tap]


class MultiTaskCriterion(nn.Module):
    """Task losses plus, when enabled, the cross-task contrastive regulariser (which owns the projectors)."""

    def __init__(
        self,
        loss_params: LossParams,
        spec: DatasetSpec,
        tasks: Sequence[str],
        feat_channels: Mapping[str, int],
        seed: int = 0,
        feat_stride: int | None = None,
        ddp: bool = False,
    ) -> None:
        super().__init__()
        self.tasks = tuple(tasks)
        unknown = [t for t in self.tasks if t not in spec.tasks]
        if unknown or not self.tasks:
            raise ValueError(f"tasks {list(self.tasks)}: expected a non-empty subset of {spec.name}'s {spec.tasks}")
        missing = [t for t in self.tasks if t not in loss_params.weights]
        if missing:
            raise ParamsError(f"loss.weights has no weight for task(s) {missing}")
        self.task_weights = {t: float(loss_params.weights[t]) for t in self.tasks}
        self.edge_pos_weight = (
            loss_params.edge_pos_weight if loss_params.edge_pos_weight is not None else spec.edge_pos_weight
        )
        self.deep_supervision_weight = loss_params.deep_supervision_weight
        self.contrast_params = loss_params.contrast
        self.contrast: CrossTaskContrast | None = None
        self.tap = loss_params.contrast.tap
        if loss_params.contrast.enabled:
            self.contrast = CrossTaskContrast.from_params(
                loss_params.contrast, self.tasks, feat_channels, seed, feat_stride, ddp=ddp
            )

    def forward(self, endpoints: Mapping[str, Any], batch: Mapping[str, Any], step: int) -> LossOutput:
        components: dict[str, Tensor] = {}
        weights: dict[str, float] = {}
        final, aux = endpoints["final"], endpoints.get("aux") or {}
        for task in self.tasks:
            if task not in final:
                raise ValueError(f"endpoints['final'] has no prediction for task {task!r}")
            if task not in batch:
                raise ValueError(f"batch has no {task!r} label")
            label = batch[task]
            components[f"loss_{task}"] = task_loss(task, final[task], label, self.edge_pos_weight)
            weights[f"loss_{task}"] = self.task_weights[task]
            preds = list(aux.get(task) or [])
            if preds:
                aux_losses = [task_loss(task, pred, label, self.edge_pos_weight) for pred in preds]
                components[f"loss_{task}_aux"] = torch.stack(aux_losses).sum()
                weights[f"loss_{task}_aux"] = self.task_weights[task] * self.deep_supervision_weight
        stats: dict[str, float] | Callable[[], dict[str, float]] = {}
        if self.contrast is not None:
            labelled = batch.get("meta", {}).get("labelled")  # set by data.partial (docs/partial-labels.md)
            out = self.contrast(tapped_features(endpoints, self.tap), batch, step, labelled)
            components["loss_contrast"] = out.raw
            weights["loss_contrast"] = self.contrast.weight
            stats = lambda: out.stats  # noqa: E731 (lazy: only a logging step pays the device sync)
        total = torch.stack([weights[k] * v for k, v in components.items()]).sum()
        return LossOutput(total, components, weights, stats)

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimiser groups for the criterion's own parameters (the projectors): ``lr_mult`` = ``proj_lr_mult``
        scales the decoder's learning rate (``engine.optim.build_optimizer`` applies it); empty when the
        regulariser is off or has no parameters."""
        return [] if self.contrast is None else self.contrast.param_groups()

    def drop_unselected_grads(self) -> None:
        """After backward: projectors not drawn this step get ``.grad = None`` (no weight decay / momentum)."""
        if self.contrast is not None:
            self.contrast.drop_unselected_grads()


def build_criterion(
    loss_params: LossParams,
    spec: DatasetSpec,
    tasks: Sequence[str],
    feat_channels: Mapping[str, int],
    seed: int,
    feat_stride: int | None = None,
    ddp: bool = False,
) -> MultiTaskCriterion:
    """The training criterion for ``tasks``. Passing the host's ``feat_stride`` is safest; without it the stride
    is inferred from label and feature sizes (h = ⌈H/s⌉), which fails with a clear error only when ambiguous."""
    return MultiTaskCriterion(loss_params, spec, tasks, feat_channels, seed, feat_stride, ddp)
