"""Inference export: the host alone, identical to the host trained without the regulariser (docs/method.md §3.8)."""

from __future__ import annotations

import pytest
import torch

from mtcontrast import losses
from mtcontrast.config import load_params
from mtcontrast.models import TrainingModel, build_model, count_parameters, export_inference
from mtcontrast.tasks import dataset_spec

SPEC = dataset_spec("nyudv2")


def _training_model(contrast: bool) -> TrainingModel:
    params = load_params(None, ["model.host=padnet", f"loss.contrast.enabled={str(contrast).lower()}"])
    torch.manual_seed(0)
    host = build_model(params.model, SPEC)
    criterion = losses.build_criterion(params.loss, SPEC, host.tasks, host.feat_channels, 0, host.feat_stride)
    return TrainingModel(host, criterion)


def _batch(b: int = 2, h: int = 64, w: int = 96) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    semseg = torch.randint(0, 40, (b, h, w), generator=g)
    semseg[:, :8] = 255
    depth = torch.rand(b, 1, h, w, generator=g) * 9 + 0.5
    depth[..., :4] = 0
    normals = torch.nn.functional.normalize(torch.randn(b, 3, h, w, generator=g), dim=1)
    edge = (torch.rand(b, h, w, generator=g) < 0.1).long()
    image = torch.randn(b, 3, h, w, generator=g)
    return {"image": image, "semseg": semseg, "depth": depth, "normals": normals, "edge": edge}


@pytest.fixture(scope="module")
def models() -> tuple[TrainingModel, TrainingModel]:
    return _training_model(contrast=True), _training_model(contrast=False)


def test_export_has_the_plain_hosts_parameters_and_keys(models: tuple[TrainingModel, TrainingModel]) -> None:
    with_reg, without = models
    exported, plain = export_inference(with_reg), export_inference(without)
    assert exported is with_reg.host and not exported.training
    assert list(exported.state_dict()) == list(plain.state_dict())
    assert count_parameters(exported) == count_parameters(plain) == count_parameters(without)
    projector_params = count_parameters(with_reg.criterion)
    assert projector_params > 0  # the regulariser's projectors exist, in the criterion
    assert count_parameters(with_reg) == count_parameters(exported) + projector_params
    criterion_tensors = {id(p) for p in with_reg.criterion.parameters()}
    assert not criterion_tensors & {id(p) for p in exported.parameters()}
    assert not [k for k in exported.state_dict() if "proj" in k or k.startswith("criterion")]


def test_exported_outputs_equal_training_outputs_bitwise(models: tuple[TrainingModel, TrainingModel]) -> None:
    with_reg, without = models
    batch = _batch()
    with_reg.eval()
    with torch.no_grad():
        endpoints, loss = with_reg(batch, step=0)
        exported = export_inference(with_reg)(batch["image"])
        without.host.load_state_dict(with_reg.host.state_dict())  # same weights, regulariser off
        plain = export_inference(without)(batch["image"])
    assert "loss_contrast" in loss.components and torch.isfinite(loss.total)
    for t in SPEC.tasks:
        assert torch.equal(exported["final"][t], endpoints["final"][t])
        assert torch.equal(plain["final"][t], endpoints["final"][t])


def test_training_step_trains_host_and_projectors_together() -> None:
    model = _training_model(contrast=True).train()
    endpoints, loss = model(_batch(), step=3)
    assert set(endpoints) == {"final", "aux", "feat", "taps"}
    loss.total.backward()
    assert next(model.host.encoder.parameters()).grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.criterion.parameters())


def test_export_rejects_other_modules() -> None:
    with pytest.raises(TypeError, match="expected a TrainingModel or a MultiTaskHost, got Linear"):
        export_inference(torch.nn.Linear(2, 2))  # type: ignore[arg-type]
