"""``padnet``: PAD-Net (Xu et al., CVPR 2018) as implemented in MTL-PyTorch, on the fused 1/4-scale feature.

1. Shared fusion of all encoder levels at 1/4 (as ``mtl_baseline``; MTL-PyTorch fuses HRNet the same way).
2. Initial per-task features and predictions (→ ``aux[t]``, deep supervision).
3. Multi-modal distillation: F_t + Σ_{s≠t} conv(F_s) ⊙ sigmoid(conv(F_s)) (spatial attention from the other tasks).
4. Final per-task heads on the distilled features; ``feat[t]`` is the input to the final 1×1 prediction conv.
The earlier tap ``early_feat`` is the initial task feature of step 2 (before distillation).

Simplification against MTL-PyTorch, named honestly: its two Bottleneck blocks (width 256) in the initial and the
final heads are replaced by ``head_blocks`` 3×3 conv-BN-ReLU layers of width ``head_channels``. The distillation
block (SABlock, summed over source tasks) is the published one. With one task there is nothing to distil and the
host reduces to two stacked heads with deep supervision.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from mtcontrast.config.model import ModelParams
from mtcontrast.models.blocks import MultiModalDistillation, ScaleFusion
from mtcontrast.models.encoders import Encoder
from mtcontrast.models.heads import task_heads
from mtcontrast.models.hosts.base import Endpoints, MultiTaskHost, grid_size
from mtcontrast.models.hosts.baseline import FUSE_STRIDE

__all__ = ["PADNet"]


class PADNet(MultiTaskHost):
    def __init__(self, encoder: Encoder, outputs: Mapping[str, int], params: ModelParams) -> None:
        super().__init__(encoder, outputs, params, feat_stride=FUSE_STRIDE)
        width, blocks = params.head_channels, params.head_blocks
        fused = params.fuse_channels or sum(encoder.channels)
        self.fusion = ScaleFusion(encoder.channels, fused)
        self.initial = task_heads(fused, width, self.outputs, blocks)
        self.distill = MultiModalDistillation(self.tasks, width)
        self.heads = task_heads(width, width, self.outputs, blocks)

    def decode(self, feats: list[torch.Tensor], size: tuple[int, int]) -> Endpoints:
        x = self.fusion(feats, grid_size(size, FUSE_STRIDE))
        initial, aux = {}, {}
        for t in self.tasks:
            initial[t], pred = self.initial[t](x)
            aux[t] = [pred]
        distilled = self.distill(initial)
        final, feat = {}, {}
        for t in self.tasks:
            feat[t], final[t] = self.heads[t](distilled[t])
        return {"final": final, "aux": aux, "feat": feat, "taps": {"early_feat": initial}}
