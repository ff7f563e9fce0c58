"""``mtinet``: MTI-Net (Vandenhende et al., ECCV 2020) as implemented in MTL-PyTorch, on any timm pyramid.

Per encoder level, coarse to fine:
1. initial per-task features and predictions (→ ``aux[t]``, deep supervision at every scale); a level below the
   coarsest also receives the task's propagated feature from the next coarser level (bilinear to its size,
   concatenated with the encoder feature);
2. feature propagation (FPM: task-attended shared summary + per-task squeeze-and-excitation, residual) from each
   level except the finest to the next finer one;
3. multi-modal distillation (PAD-Net's spatial attention) at every scale.
Finally each task's distilled features of all scales are upsampled to the finest level, concatenated and mixed by
a 1×1 conv-BN-ReLU (``feat[t]``, the tap) before a 1×1 prediction conv. ``feat_stride`` is the finest level's.
The earlier tap ``early_feat`` is the finest level's initial task feature (step 1, before distillation).

Simplifications against the published design / MTL-PyTorch, named honestly:
- every scale uses ``head_channels`` task channels (MTL-PyTorch: the backbone width of that scale, 18/36/72/144
  for HRNet-18), and the aggregation maps the L·``head_channels`` concatenation down to ``head_channels``
  (MTL-PyTorch's HRNet head keeps the 270-channel width);
- the BasicBlock pairs (initial heads, FPM) are ``head_blocks`` 3×3 conv-BN-ReLU layers;
- the FPM softmax runs over the task axis (MTL-PyTorch's reshape mixes channels across tasks, see
  :class:`~mtcontrast.models.blocks.FeaturePropagation`);
- levels are not assumed to be 2× apart: propagation resizes to the next level's size, so single-scale encoders
  (ViT: several levels at stride 16) work unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from mtcontrast.config.model import ModelParams
from mtcontrast.models.blocks import FeaturePropagation, MultiModalDistillation, conv_bn_relu, resize_to
from mtcontrast.models.encoders import Encoder
from mtcontrast.models.heads import task_heads
from mtcontrast.models.hosts.base import Endpoints, MultiTaskHost

__all__ = ["MTINet"]


class MTINet(MultiTaskHost):
    def __init__(self, encoder: Encoder, outputs: Mapping[str, int], params: ModelParams) -> None:
        super().__init__(encoder, outputs, params, feat_stride=encoder.strides[0])
        width, blocks = params.head_channels, params.head_blocks
        levels = len(encoder.channels)
        self.initial = nn.ModuleList(
            task_heads(c + (width if i < levels - 1 else 0), width, self.outputs, blocks)
            for i, c in enumerate(encoder.channels)
        )
        self.propagate = nn.ModuleList(FeaturePropagation(self.tasks, width, blocks) for _ in range(levels - 1))
        self.distill = nn.ModuleList(MultiModalDistillation(self.tasks, width) for _ in range(levels))
        self.aggregate = nn.ModuleDict({t: conv_bn_relu(levels * width, width, kernel_size=1) for t in self.tasks})
        self.predict = nn.ModuleDict({t: nn.Conv2d(width, n, 1) for t, n in self.outputs.items()})

    def decode(self, feats: list[torch.Tensor], size: tuple[int, int]) -> Endpoints:
        levels = len(feats)
        distilled: list[dict[str, torch.Tensor]] = [{} for _ in range(levels)]
        aux: dict[str, list[torch.Tensor]] = {t: [] for t in self.tasks}
        propagated: dict[str, torch.Tensor] | None = None
        for i in reversed(range(levels)):
            x = feats[i]
            initial = {}
            for t in self.tasks:
                inp = x if propagated is None else torch.cat([x, resize_to(propagated[t], x.shape[-2:])], dim=1)
                initial[t], pred = self.initial[i][t](inp)
                aux[t].insert(0, pred)  # fine → coarse
            distilled[i] = self.distill[i](initial)
            if i == 0:
                early = initial
            if i > 0:
                propagated = self.propagate[i - 1](initial)
        finest = feats[0].shape[-2:]
        final, feat = {}, {}
        for t in self.tasks:
            feat[t] = self.aggregate[t](torch.cat([resize_to(d[t], finest) for d in distilled], dim=1))
            final[t] = self.predict[t](feat[t])
        return {"final": final, "aux": aux, "feat": feat, "taps": {"early_feat": early}}
