"""timm feature encoders: any model with ``features_only=True``, sized from its own ``feature_info``.

Channels and strides are never hard-coded: hosts read ``Encoder.channels`` / ``Encoder.strides``, which come from
timm's ``feature_info``. Pretrained weights are read from a local file only (``model.encoder.pretrained_file``); a
request that would reach the hub fails at once, before any network access is attempted.

Loading is two-step so that missing / unexpected keys are exact and named in the file's own key space:
the file is loaded non-strictly into the *full* timm model (classifier included), the result is recorded, and the
full model's state dict is handed to timm's own features-only builder (``pretrained_cfg_overlay=dict(state_dict=...)``),
which applies the model's checkpoint filter and strips the classifier exactly as for hub weights. The file must
therefore hold a timm-format state dict (``torch.save(model.state_dict())``, a timm hub ``model.safetensors``, or a
checkpoint dict with ``state_dict`` / ``model`` / ``state_dict_ema``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

import mtcontrast._compat  # noqa: F401  (sets HF_HUB_OFFLINE and guards torchvision; must precede timm)

# isort: split
import timm
from timm.models import load_state_dict as timm_load_state_dict

from mtcontrast.config.model import EncoderParams

__all__ = ["Encoder", "ModelError", "build_encoder"]

_log = logging.getLogger(__name__)

MIN_DEFAULT_STRIDE = 4  # default levels: dense-prediction pyramids start at 1/4 (stride-2 stems are dropped)

# kwargs that would bypass the dedicated params or reach the hub; each maps to what to use instead.
_RESERVED_KWARGS: dict[str, str] = {
    "pretrained": "set model.encoder.pretrained_file to a local weights file (weights are never downloaded)",
    "pretrained_cfg": "set model.encoder.pretrained_file to a local weights file",
    "pretrained_cfg_overlay": "set model.encoder.pretrained_file to a local weights file",
    "pretrained_strict": "loading is always non-strict; missing / unexpected keys are reported",
    "features_only": "the encoder is always built with features_only=True",
    "out_indices": "use model.encoder.out_indices",
    "feature_location": "use model.encoder.feature_location",
}
_HUB_PREFIXES = ("hf-hub:", "hf_hub:", "timm/", "local-dir:")


class ModelError(ValueError):
    """A model configuration or weights file that cannot be used; the message names the params key or file."""


class Encoder(nn.Module):
    """A timm features-only network returning NCHW maps, fine to coarse, with their channels and strides.

    ``pad_multiple`` is the largest stride anywhere in the network (not only among the returned levels): HRNet,
    for example, needs H and W divisible by 32 even when only its 1/4 branch is used.
    """

    def __init__(
        self,
        model: nn.Module,
        name: str,
        missing_keys: Sequence[str] = (),
        unexpected_keys: Sequence[str] = (),
        weights_file: Path | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.name = name
        info = model.feature_info
        self.channels: tuple[int, ...] = tuple(int(c) for c in info.channels())
        self.strides: tuple[int, ...] = tuple(int(r) for r in info.reduction())
        self.pad_multiple: int = max(int(entry["reduction"]) for entry in info.info)
        fmt = getattr(model, "output_fmt", "NCHW")
        self._nhwc = str(getattr(fmt, "value", fmt)) == "NHWC"
        self.missing_keys: tuple[str, ...] = tuple(missing_keys)
        self.unexpected_keys: tuple[str, ...] = tuple(unexpected_keys)
        self.weights_file = weights_file

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.model(x)
        if isinstance(feats, dict):
            feats = list(feats.values())
        if self._nhwc:
            feats = [f.permute(0, 3, 1, 2) for f in feats]
        return list(feats)


def check_encoder(params: EncoderParams) -> None:
    """Reject anything that would download weights or conflict with the dedicated params, before building."""
    for key, instead in _RESERVED_KWARGS.items():
        if key in params.kwargs:
            raise ModelError(f"model.encoder.kwargs.{key} is not allowed: {instead}")
    if params.name.startswith(_HUB_PREFIXES):
        raise ModelError(
            f"model.encoder.name = {params.name!r}: hub model ids are not supported; use a timm architecture name "
            "(e.g. 'hrnet_w18_small_v2') and model.encoder.pretrained_file for its weights"
        )
    if not timm.is_model(params.name):
        raise ModelError(f"model.encoder.name = {params.name!r} is not a timm architecture (see timm.list_models())")
    if params.pretrained_file is not None and not Path(params.pretrained_file).is_file():
        raise ModelError(
            f"model.encoder.pretrained_file = {str(params.pretrained_file)!r}: file not found "
            "(weights are only read from local files)"
        )


def _create_features(
    params: EncoderParams, out_indices: Sequence[int] | None, state_dict: dict[str, Any] | None
) -> nn.Module:
    kwargs: dict[str, Any] = dict(params.kwargs)
    if out_indices is not None:
        kwargs["out_indices"] = tuple(out_indices)
    if params.feature_location is not None:
        kwargs["feature_location"] = params.feature_location
    if state_dict is not None:
        kwargs.update(pretrained=True, pretrained_cfg_overlay=dict(state_dict=state_dict))
    try:
        model = timm.create_model(params.name, features_only=True, **kwargs)
    except (RuntimeError, TypeError, ValueError, AssertionError, IndexError) as err:
        raise ModelError(
            f"model.encoder: timm could not build {params.name!r} with features_only=True "
            f"(out_indices={out_indices}, feature_location={params.feature_location!r}, kwargs={params.kwargs}): "
            f"{err}"
        ) from err
    if state_dict is not None:  # timm keeps the overlay in pretrained_cfg; drop that copy of the weights
        for module in model.modules():
            cfg = getattr(module, "pretrained_cfg", None)
            if isinstance(cfg, dict):
                cfg.pop("state_dict", None)
    return model


def _load_full(params: EncoderParams) -> tuple[dict[str, Any], list[str], list[str]]:
    """Load the file into the full architecture; return its state dict and the missing / unexpected keys."""
    path = Path(params.pretrained_file)  # type: ignore[arg-type]
    try:
        loaded = timm_load_state_dict(str(path))
    except Exception as err:  # torch / safetensors raise many types for a bad file
        raise ModelError(f"{path}: cannot read a state dict ({type(err).__name__}: {err})") from err
    full = timm.create_model(params.name, pretrained=False, **params.kwargs)
    own = full.state_dict()
    mismatched = [
        f"{k} (file {tuple(v.shape)}, model {tuple(own[k].shape)})"
        for k, v in loaded.items()
        if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape
    ]
    if mismatched:
        raise ModelError(
            f"{path}: {len(mismatched)} tensor(s) do not fit {params.name!r} with kwargs {params.kwargs}: "
            + "; ".join(mismatched[:5])
        )
    if not any(k in own for k in loaded):  # e.g. an OpenMMLab file with a "backbone." prefix: surely a mistake
        raise ModelError(
            f"{path}: none of its {len(loaded)} tensors is a key of {params.name!r} "
            f"(file keys like {list(loaded)[:3]}, model keys like {list(own)[:3]}); save a timm-format state dict"
        )
    result = full.load_state_dict(loaded, strict=False)
    classifier = full.pretrained_cfg.get("classifier") or ()
    classifier = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    # the encoder never uses the classifier, so its absence from the file is not worth a warning
    missing = [k for k in result.missing_keys if not k.startswith(tuple(f"{c}." for c in classifier))]
    return full.state_dict(), missing, list(result.unexpected_keys)


def build_encoder(params: EncoderParams, load_weights: bool = True) -> Encoder:
    """Build a timm features-only encoder from ``model.encoder``, with weights from ``pretrained_file`` if set.

    ``load_weights=False`` ignores ``pretrained_file``: for rebuilding a model whose weights come from a checkpoint
    (the file need not exist on that machine).
    """
    if not load_weights:
        params = params.model_copy(update={"pretrained_file": None})
    check_encoder(params)
    out_indices = params.out_indices
    if out_indices is None:  # timm's default levels minus those finer than 1/4
        probe = _create_features(params, None, None)
        strides = probe.feature_info.reduction()
        default = list(probe.feature_info.out_indices)
        out_indices = [i for i, r in zip(default, strides, strict=True) if r >= MIN_DEFAULT_STRIDE] or default
        if out_indices == default and params.pretrained_file is None:
            return Encoder(probe, params.name)
    if params.pretrained_file is None:
        return Encoder(_create_features(params, out_indices, None), params.name)
    state_dict, missing, unexpected = _load_full(params)
    # timm's own key report here compares the full model with its features-only variant (head, HRNet incre
    # modules): expected and misleading, so it is silenced; the report that matters is the file's, above.
    timm_log = logging.getLogger("timm.models._builder")
    level = timm_log.level
    timm_log.setLevel(logging.ERROR)
    try:
        model = _create_features(params, out_indices, state_dict)
    finally:
        timm_log.setLevel(level)
    path = Path(params.pretrained_file)
    if missing:
        _log.warning(
            "%s: %d key(s) missing from %s, left at random init: %s", params.name, len(missing), path, missing[:10]
        )
    if unexpected:
        _log.warning("%s: %d unexpected key(s) in %s: %s", params.name, len(unexpected), path, unexpected[:10])
    _log.info("%s: loaded weights from %s", params.name, path)
    return Encoder(model, params.name, missing, unexpected, path)
