"""The host base class: padding to the encoder stride, output activation, upsampling and cropping back.

Subclasses only implement :meth:`MultiTaskHost.decode` on the padded input. The base class guarantees the
endpoint contract for every host (docs/method.md §6.1):

- ``final[t]``: activated prediction at the input H×W (bilinear upsampling to the padded size, then a crop);
- ``aux[t]``: deep-supervision predictions, activated, on their own grid;
- ``feat[t]``: the task decoder feature (the regulariser's tap) on the ``feat_stride`` grid;
- ``taps[name][t]``: earlier decoder stages the regulariser can tap instead (``loss.contrast.tap``), on the same
  grid; ``early_feat`` in every host (docs/method.md §3.2). Widths: :meth:`MultiTaskHost.tap_channels`.

Grids are cropped so that cell (i, j) of a stride-s map covers input pixels [i·s, (i+1)·s) × [j·s, (j+1)·s):
a map has ceil(H/s) × ceil(W/s) cells, the last row / column partly covering padding when H or W is not a
multiple of s (the padding is at the bottom and right, with value 0 = the ImageNet mean after normalisation).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import torch
import torch.nn.functional as F
from torch import nn

from mtcontrast.config.model import ModelParams
from mtcontrast.models.blocks import resize_to
from mtcontrast.models.encoders import Encoder
from mtcontrast.models.heads import activate

__all__ = ["Endpoints", "MultiTaskHost", "grid_size"]


class Endpoints(TypedDict):
    """What every host returns (a plain dict at run time)."""

    final: dict[str, torch.Tensor]
    aux: dict[str, list[torch.Tensor]]
    feat: dict[str, torch.Tensor]
    taps: NotRequired[dict[str, dict[str, torch.Tensor]]]


def grid_size(size: Sequence[int], stride: int) -> tuple[int, int]:
    """Cells of a stride-``stride`` grid over an H×W input (ceil, so partial cells count)."""
    return math.ceil(size[0] / stride), math.ceil(size[1] / stride)


def _crop(x: torch.Tensor, size: Sequence[int], padded: Sequence[int]) -> torch.Tensor:
    """Keep the cells of ``x`` (a grid over the padded input) that overlap the unpadded input."""
    rows = math.ceil(size[0] * x.shape[-2] / padded[0])
    cols = math.ceil(size[1] * x.shape[-1] / padded[1])
    return x[..., :rows, :cols]


class MultiTaskHost(nn.Module, abc.ABC):
    """A multi-task network: a shared timm :class:`Encoder` and a host-specific decoder (see the registry).

    Attributes (the regulariser and the trainer rely on them): ``tasks``, ``feat_channels`` (C_t of ``feat[t]``),
    ``feat_stride`` (input pixels per ``feat`` cell), ``pad_multiple`` (inputs are padded to it internally).
    """

    def __init__(self, encoder: Encoder, outputs: Mapping[str, int], params: ModelParams, feat_stride: int) -> None:
        super().__init__()
        if not outputs:
            raise ValueError("a host needs at least one task")
        self.encoder = encoder
        self.tasks: tuple[str, ...] = tuple(outputs)
        self.outputs: dict[str, int] = dict(outputs)
        self.feat_channels: dict[str, int] = {t: params.head_channels for t in self.tasks}
        self.feat_stride: int = int(feat_stride)
        self.pad_multiple: int = math.lcm(encoder.pad_multiple, self.feat_stride)
        self.early_channels: dict[str, int] = dict(self.feat_channels)  # hosts whose early tap differs set it

    def tap_channels(self, tap: str = "final_feat") -> dict[str, int]:
        """C_t of the feature the regulariser taps: ``feat`` (``final_feat``) or ``taps[tap]``."""
        if tap == "final_feat":
            return dict(self.feat_channels)
        if tap == "early_feat":
            return dict(self.early_channels)
        raise ValueError(f"loss.contrast.tap = {tap!r}: expected final_feat or early_feat")

    @abc.abstractmethod
    def decode(self, feats: list[torch.Tensor], size: tuple[int, int]) -> Endpoints:
        """Decoder on the padded input of ``size``: raw (pre-activation) predictions and features on their grids."""

    def forward(self, image: torch.Tensor) -> Endpoints:
        if image.ndim != 4:
            raise ValueError(f"host input: expected an image batch B×3×H×W, got shape {tuple(image.shape)}")
        size = (int(image.shape[-2]), int(image.shape[-1]))
        pad_h, pad_w = -size[0] % self.pad_multiple, -size[1] % self.pad_multiple
        x = F.pad(image, (0, pad_w, 0, pad_h)) if pad_h or pad_w else image
        padded = (int(x.shape[-2]), int(x.shape[-1]))
        raw = self.decode(self.encoder(x), padded)
        return {
            "final": {t: _crop(resize_to(activate(t, p), padded), size, padded) for t, p in raw["final"].items()},
            "aux": {t: [_crop(activate(t, p), size, padded) for p in preds] for t, preds in raw["aux"].items()},
            "feat": {t: _crop(f, size, padded) for t, f in raw["feat"].items()},
            "taps": {
                name: {t: _crop(f, size, padded) for t, f in feats.items()}
                for name, feats in (raw.get("taps") or {}).items()
            },
        }
