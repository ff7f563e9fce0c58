"""The one way to get a trained model: rebuild it from its checkpoint.

A checkpoint stores the resolved params it was trained with, so the host is rebuilt from *those* (never from the
current params.yaml): editing ``loss``, ``train.augment`` or another variant after training changes nothing about
what is evaluated, and ``evaluate@`` depends on the checkpoint plus ``eval`` only. Only the host's weights are
loaded; the regulariser's projectors are loaded on request (:func:`load_projectors`, for the Fig. 1 analysis).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mtcontrast.config import Params, ParamsError, validate
from mtcontrast.engine.checkpoint import load_checkpoint
from mtcontrast.models.hosts import MultiTaskHost

HOST_PREFIX, CRITERION_PREFIX = "host.", "criterion."


@dataclass
class Trained:
    """A trained host in eval mode and the resolved params it was trained with."""

    host: MultiTaskHost
    params: Params
    checkpoint: Path
    variant: str
    step: int
    criterion_state: dict[str, torch.Tensor]


def load_trained(checkpoint: str | Path, device: str | torch.device = "cpu") -> Trained:
    """Rebuild the host of ``checkpoint`` from its stored params and load its weights (eval mode, on ``device``)."""
    from mtcontrast.models import build_model
    from mtcontrast.tasks import DATASETS

    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint; train the variant first (`mtc train --variant <name>`)")
    ckpt = load_checkpoint(path)
    try:
        params = validate(ckpt["params"], f"{path} (stored params)")
    except ParamsError as err:
        raise ParamsError(f"{err}\n{path}: written by an older schema; retrain the variant") from None
    host = build_model(params.model, DATASETS[params.data.dataset], load_weights=False)
    state: dict[str, Any] = ckpt["model"]
    host.load_state_dict({k.removeprefix(HOST_PREFIX): v for k, v in state.items() if k.startswith(HOST_PREFIX)})
    criterion = {k.removeprefix(CRITERION_PREFIX): v for k, v in state.items() if k.startswith(CRITERION_PREFIX)}
    return Trained(host.to(device).eval(), params, path, str(ckpt["variant"]), int(ckpt["step"]), criterion)


def save_host(trained: Trained, path: str | Path) -> Path:
    """The inference-only file of a trained model: the host's weights, the params and step, in the checkpoint format
    (``weights_only``-loadable: reading it runs no code), without optimiser or projectors; :func:`load_trained`
    reads it like a checkpoint."""
    from mtcontrast.engine.checkpoint import save_checkpoint

    state = {f"{HOST_PREFIX}{k}": v.detach().cpu() for k, v in trained.host.state_dict().items()}
    payload = {"params": trained.params.model_dump(mode="json"), "variant": trained.variant, "step": trained.step}
    save_checkpoint(Path(path), {**payload, "model": state})
    return Path(path)


def load_projectors(trained: Trained) -> Any | None:
    """The regulariser's projector bank of a trained model (eval mode: BatchNorm running statistics, on the host's
    device), or None when it was trained without the regulariser."""
    from mtcontrast.losses import build_criterion
    from mtcontrast.tasks import DATASETS

    p, host = trained.params, trained.host
    if not p.loss.contrast.enabled:
        return None
    spec = DATASETS[p.data.dataset]
    criterion = build_criterion(p.loss, spec, host.tasks, host.feat_channels, p.seed, host.feat_stride)
    criterion.load_state_dict(trained.criterion_state)
    device = next(host.parameters()).device
    return criterion.contrast.projectors.to(device).eval() if criterion.contrast is not None else None
