"""``mtl_baseline``: shared encoder, one fused 1/4-scale feature, an independent head per task.

As MTL-PyTorch's HRNet head: every encoder level is upsampled (bilinear) to 1/4 of the input, concatenated and
mixed by a 1×1 conv-BN-ReLU (shared by all tasks, width ``fuse_channels``); each task then has ``head_blocks``
3×3 conv-BN-ReLU layers (width ``head_channels``, the tapped feature) and a 1×1 prediction conv. With one task
this is the single-task baseline. No intermediate predictions, so ``aux[t]`` is empty. Its earlier tap
``early_feat`` is the fused feature that enters every task head (width ``fuse_channels``, the same map for all
targets; each (target, source) pair still has its own projector).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from mtcontrast.config.model import ModelParams
from mtcontrast.models.blocks import ScaleFusion
from mtcontrast.models.encoders import Encoder
from mtcontrast.models.heads import task_heads
from mtcontrast.models.hosts.base import Endpoints, MultiTaskHost, grid_size

__all__ = ["FUSE_STRIDE", "MTLBaseline"]

FUSE_STRIDE = 4  # the fused feature lives at 1/4 of the input (MTL-PyTorch, ATRC)


class MTLBaseline(MultiTaskHost):
    def __init__(self, encoder: Encoder, outputs: Mapping[str, int], params: ModelParams) -> None:
        super().__init__(encoder, outputs, params, feat_stride=FUSE_STRIDE)
        fused = params.fuse_channels or sum(encoder.channels)
        self.fusion = ScaleFusion(encoder.channels, fused)
        self.heads = task_heads(fused, params.head_channels, self.outputs, params.head_blocks)
        self.early_channels = dict.fromkeys(self.tasks, fused)

    def decode(self, feats: list[torch.Tensor], size: tuple[int, int]) -> Endpoints:
        x = self.fusion(feats, grid_size(size, FUSE_STRIDE))
        final, feat = {}, {}
        for t in self.tasks:
            feat[t], final[t] = self.heads[t](x)
        early = dict.fromkeys(self.tasks, x)
        return {"final": final, "aux": {t: [] for t in self.tasks}, "feat": feat, "taps": {"early_feat": early}}
