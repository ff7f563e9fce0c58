"""Task losses on hand-computed tiny tensors and the multi-task criterion's bookkeeping."""

from __future__ import annotations

import math

import pytest
import torch

from mtcontrast.config import LossParams, ParamsError, load_params
from mtcontrast.losses import (
    build_criterion,
    cross_entropy_loss,
    depth_loss,
    edge_loss,
    normals_loss,
    saliency_loss,
    task_loss,
)
from mtcontrast.tasks import DATASETS

LN2 = math.log(2)
NYUD = DATASETS["nyudv2"]


def test_cross_entropy_ignores_255_and_is_zero_when_all_ignored() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0], [0.0, math.log(3), 5.0]]).view(1, 2, 1, 3)  # 2 classes × 3 pixels
    target = torch.tensor([[[0, 1, 255]]])
    expected = (LN2 + math.log(4 / 3)) / 2  # pixel 1: p(class 1) = 3/4
    assert cross_entropy_loss(logits, target).item() == pytest.approx(expected)
    logits.requires_grad_()
    loss = cross_entropy_loss(logits, torch.full((1, 1, 3), 255))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(logits.grad).all()


def test_sample_without_labels_contributes_nothing() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 3, 3)
    target = torch.randint(0, 4, (2, 3, 3))
    target[1] = 255
    assert cross_entropy_loss(logits, target).item() == pytest.approx(cross_entropy_loss(logits[:1], target[:1]).item())


def test_edge_loss_uses_the_positive_weight() -> None:
    logit = torch.tensor([2.0, 0.0, -7.0]).view(1, 1, 1, 3)
    target = torch.tensor([[[1, 0, 255]]])
    expected = (0.8 * math.log1p(math.exp(-2.0)) + 0.2 * LN2) / 2
    assert edge_loss(logit, target, pos_weight=0.8).item() == pytest.approx(expected)
    assert edge_loss(logit, torch.full((1, 1, 3), 255), 0.95).item() == 0.0


def test_saliency_uses_per_batch_class_weights() -> None:
    logits = torch.zeros(1, 2, 1, 4)
    # w = #neg / #valid = 2/3; weights [1 − w, w] = [1/3, 2/3]; every pixel CE = ln 2
    target = torch.tensor([[[0, 0, 1, 255]]])
    expected = (2 * (1 / 3) + 2 / 3) * LN2 / 3
    assert saliency_loss(logits, target).item() == pytest.approx(expected)
    target = torch.tensor([[[0, 0, 0, 1]]])  # w = 3/4
    assert saliency_loss(logits, target).item() == pytest.approx((3 * 0.25 + 0.75) * LN2 / 4)


def test_normals_divide_by_valid_pixels_not_elements() -> None:
    pred = torch.tensor([[2.0, 5.0], [0.0, 0.0], [0.0, 0.0]]).view(1, 3, 1, 2)  # normalised to (1, 0, 0)
    gt = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]).view(1, 3, 1, 2)  # second pixel invalid
    assert normals_loss(pred, gt).item() == pytest.approx(2.0)  # |1−0| + |0−1| + 0, over 1 pixel


def test_depth_l1_on_valid_pixels() -> None:
    pred = torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 1, 3)
    gt = torch.tensor([1.5, 0.0, 2.0]).view(1, 1, 1, 3)
    assert depth_loss(pred, gt).item() == pytest.approx(0.75)
    assert depth_loss(pred, torch.zeros_like(gt)).item() == 0.0


def test_task_loss_upsamples_and_checks_shapes() -> None:
    gt = torch.tensor([1.5, 0.0, 2.0, 1.0]).view(1, 1, 2, 2)
    assert task_loss("depth", torch.ones(1, 1, 1, 1), gt).item() == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    with pytest.raises(ValueError, match="normals: expected 3 prediction channel"):
        task_loss("normals", torch.ones(1, 2, 2, 2), torch.ones(1, 3, 2, 2))


def _nyud_inputs(b: int = 2, h: int = 16, w: int = 16, c: int = 8) -> tuple[dict, dict]:
    torch.manual_seed(0)
    final = {
        "semseg": torch.randn(b, 40, h, w, requires_grad=True),
        "depth": torch.rand(b, 1, h, w, requires_grad=True),
        "normals": torch.randn(b, 3, h, w, requires_grad=True),
        "edge": torch.randn(b, 1, h, w, requires_grad=True),
    }
    aux = {"depth": [torch.ones(b, 1, h // 4, w // 4), torch.zeros(b, 1, h // 2, w // 2)]}
    feat = {t: torch.randn(b, c, h // 4, w // 4, requires_grad=True) for t in final}
    batch = {
        "semseg": torch.randint(0, 40, (b, h, w)),
        "depth": torch.rand(b, 1, h, w) * 3 + 0.5,
        "normals": torch.nn.functional.normalize(torch.randn(b, 3, h, w), dim=1),
        "edge": (torch.rand(b, h, w) > 0.9).long(),
    }
    return {"final": final, "aux": aux, "feat": feat}, batch


def test_total_is_the_weighted_sum_of_named_components() -> None:
    params = load_params(None, ["loss.deep_supervision_weight=0.5", "loss.contrast.weight=0.3"]).loss
    crit = build_criterion(params, NYUD, NYUD.tasks, dict.fromkeys(NYUD.tasks, 8), seed=0)
    endpoints, batch = _nyud_inputs()
    out = crit(endpoints, batch, step=4)
    assert sorted(out.components) == sorted(
        ["loss_semseg", "loss_depth", "loss_depth_aux", "loss_normals", "loss_edge", "loss_contrast"]
    )
    assert out.weights == {
        "loss_semseg": 1.0,
        "loss_depth": 0.76,  # the CPU profile's weights (docs/cpu-benchmark.md)
        "loss_depth_aux": 0.38,
        "loss_normals": 2.2,
        "loss_edge": 47.0,
        "loss_contrast": 0.3,
    }
    expected = sum(out.weights[k] * v.item() for k, v in out.components.items())
    assert out.total.item() == pytest.approx(expected, rel=1e-6)
    gt = batch["depth"]
    aux = (gt - 1).abs().mean() + gt.abs().mean()  # constant aux predictions 1 and 0, upsampled
    assert out.components["loss_depth_aux"].item() == pytest.approx(aux.item(), rel=1e-6)
    assert out.components["loss_edge"].item() == pytest.approx(
        edge_loss(endpoints["final"]["edge"], batch["edge"], NYUD.edge_pos_weight).item()
    )
    assert {"contrast/triplets", "contrast/d_ap", "contrast/d_an", "contrast/active_frac"} <= set(out.stats)
    assert all(isinstance(v, float) for v in out.stats.values())
    out.total.backward()
    assert all(torch.isfinite(f.grad).all() for f in endpoints["feat"].values())


def test_disabled_regulariser_means_no_parameters() -> None:
    params = load_params(None, ["loss.contrast.enabled=false", "loss.edge_pos_weight=0.8"]).loss
    crit = build_criterion(params, NYUD, NYUD.tasks, dict.fromkeys(NYUD.tasks, 8), seed=0)
    assert list(crit.parameters()) == [] and crit.param_groups() == []
    endpoints, batch = _nyud_inputs()
    out = crit(endpoints, batch, step=0)
    assert "loss_contrast" not in out.components and out.stats == {}
    assert crit.edge_pos_weight == 0.8


def test_projectors_get_their_own_learning_rate() -> None:
    params = load_params(None, ["loss.contrast.proj_lr_mult=10", "loss.contrast.proj_dim=16"]).loss
    crit = build_criterion(params, NYUD, NYUD.tasks, dict.fromkeys(NYUD.tasks, 8), seed=0)
    (group,) = crit.param_groups()
    assert group["lr_mult"] == 10.0
    per_head = 8 * 8 + 2 * 8 + 8 * 16 + 16  # conv C→C (no bias), BN, conv C→D
    assert sum(p.numel() for p in group["params"]) == 12 * per_head


def test_criterion_errors() -> None:
    with pytest.raises(ParamsError, match="loss.weights has no weight for task"):
        build_criterion(LossParams(weights={"semseg": 1.0}), NYUD, NYUD.tasks, dict.fromkeys(NYUD.tasks, 8), 0)
    with pytest.raises(ValueError, match="expected a non-empty subset"):
        build_criterion(LossParams(), NYUD, ("sal",), {"sal": 8}, 0)
    with pytest.raises(ParamsError, match="single-task"):
        build_criterion(LossParams(), NYUD, ("semseg",), {"semseg": 8}, 0)
    single = LossParams.model_validate({"contrast": {"enabled": False}})
    crit = build_criterion(single, NYUD, ("semseg",), {"semseg": 8}, 0)
    endpoints, batch = _nyud_inputs()
    with pytest.raises(ValueError, match="batch has no 'semseg' label"):
        crit(endpoints, {}, 0)
