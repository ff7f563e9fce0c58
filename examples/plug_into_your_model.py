"""Plug the cross-task contrastive regulariser into a model that is not ours (docs/regulariser-api.md).

A small plain encoder-decoder with two task heads, trained a few steps on random data with the regulariser on.
Only the regulariser comes from mtcontrast; the model, losses and task names are the user's.
"""

import torch
import torch.nn.functional as F
from torch import nn

from mtcontrast.regularizer import CrossTaskContrast


class TinyNet(nn.Module):  # encoder to stride 4, one 32-channel decoder feature per task, then a 1×1 head
    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU())
        self.dec = nn.ModuleDict({t: nn.Sequential(nn.Conv2d(64, 32, 3, 1, 1), nn.ReLU()) for t in ("sem", "dist")})
        self.head = nn.ModuleDict({"sem": nn.Conv2d(32, classes, 1), "dist": nn.Conv2d(32, 1, 1)})

    def forward(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        z = self.enc(x)
        feats = {t: d(z) for t, d in self.dec.items()}
        preds = {t: F.interpolate(self.head[t](f), size=x.shape[-2:], mode="bilinear") for t, f in feats.items()}
        return feats, preds


torch.manual_seed(0)
model = TinyNet()
reg = CrossTaskContrast(
    tasks={"sem": "discrete", "dist": "depth"},
    channels={"sem": 32, "dist": 32},
    stride=4,
    weight=0.5,
    anchors_per_image=64,
)
opt = torch.optim.AdamW([{"params": model.parameters()}, *reg.param_groups(lr=1e-3)], lr=1e-3, weight_decay=1e-4)
image = torch.randn(4, 3, 64, 80)
labels = {"sem": torch.randint(0, 5, (4, 1, 64, 80)), "dist": torch.rand(4, 64, 80) * 5 + 0.5}  # B×1×H×W, B×H×W
for step in range(5):
    feats, preds = model(image)
    task_loss = F.cross_entropy(preds["sem"], labels["sem"][:, 0]) + F.l1_loss(preds["dist"][:, 0], labels["dist"])
    out = reg(feats, labels, step)  # out.loss is already λ-weighted
    opt.zero_grad(set_to_none=True)
    (task_loss + out.loss).backward()
    opt.step()
    print(
        f"step {step}: task {task_loss.item():.4f}  contrast {out.raw.item():.4f}  triplets {out.stats['contrast/triplets']:.0f}"
    )
# Inference: model(image) alone; the projectors live in `reg`, which is not saved with the model.
