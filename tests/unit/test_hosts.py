"""Host frameworks: endpoint shapes (incl. sizes that need padding), padding/crop exactness, gradient flow."""

from __future__ import annotations

import typing
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from mtcontrast.config import ModelParams, load_params
from mtcontrast.models import HOSTS, ModelError, MultiTaskHost, build_model
from mtcontrast.tasks import dataset_spec

ENCODERS = {
    "resnet18": ["model.encoder.name=resnet18"],
    "hrnet": ["model.encoder.name=hrnet_w18_small_v2", "model.encoder.feature_location=''"],
}
OUT = {"semseg": 40, "depth": 1, "normals": 3, "edge": 1}  # NYUD
OUT_PASCAL = {"semseg": 21, "human_parts": 7, "sal": 2, "normals": 3, "edge": 1}
# aux grids for a 40×70 input padded to 64×96: PAD-Net one 1/4 map, MTI-Net one map per level (fine → coarse),
# each cropped to the cells that overlap the input: ceil(40/s) × ceil(70/s)
AUX_GRIDS = {"mtl_baseline": [], "padnet": [(10, 18)], "mtinet": [(10, 18), (5, 9), (3, 5), (2, 3)]}


def _params(host: str, encoder: str, *extra: str) -> ModelParams:
    return load_params(None, [f"model.host={host}", *ENCODERS[encoder], *extra]).model


@dataclass
class Run:
    host: MultiTaskHost
    out: dict[str, typing.Any]  # endpoints for a 40×70 input (not a stride multiple)
    levels: list[torch.Tensor]  # the encoder's outputs in that forward (graph nodes)


CASES = [(h, e, d) for h in HOSTS for e in ENCODERS for d in ("nyudv2", "pascal_context")]


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> typing.Iterator[None]:
    """One intra-op thread: on a 2-core machine shared with other processes, OpenMP's spinning threads make these
    small convolutions 5-10× slower (measured: 110 s → 12 s for this file at load 3.5)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=CASES, ids=["-".join(c) for c in CASES])
def run(request: pytest.FixtureRequest) -> Run:
    host_name, encoder, dataset = request.param
    torch.manual_seed(0)
    host = build_model(_params(host_name, encoder), dataset_spec(dataset))
    levels: list[torch.Tensor] = []
    hook = host.encoder.register_forward_hook(lambda module, args, out: levels.extend(out))
    out = host(torch.randn(2, 3, 40, 70))
    hook.remove()
    return Run(host, out, levels)


def test_endpoint_shapes(run: Run) -> None:
    host, out = run.host, run.out
    expected = OUT if host.tasks == tuple(OUT) else OUT_PASCAL
    assert host.tasks == tuple(expected)
    assert (host.feat_stride, host.pad_multiple) == (4, 32)
    assert host.feat_channels == dict.fromkeys(expected, 32)
    assert {t: tuple(p.shape) for t, p in out["final"].items()} == {t: (2, k, 40, 70) for t, k in expected.items()}
    assert {t: tuple(f.shape) for t, f in out["feat"].items()} == {t: (2, 32, 10, 18) for t in expected}
    name = next(n for n, cls in HOSTS.items() if type(host) is cls)
    for t, k in expected.items():
        assert [tuple(a.shape) for a in out["aux"][t]] == [(2, k, h, w) for h, w in AUX_GRIDS[name]]
    if "depth" in expected:
        assert bool((out["final"]["depth"] > 0).all())  # softplus output


def test_gradients_reach_every_parameter(run: Run) -> None:
    """Every final output reaches every encoder level, and no parameter is unused (DDP needs no
    find_unused_parameters)."""
    host, out = run.host, run.out
    assert len(run.levels) == 4
    for t, pred in out["final"].items():
        grads = torch.autograd.grad(pred.square().mean(), run.levels, retain_graph=True, allow_unused=True)
        assert all(g is not None and g.abs().sum() > 0 for g in grads), t
    total = sum(p.square().mean() for group in ("final", "feat") for p in out[group].values())
    total = total + sum(a.square().mean() for preds in out["aux"].values() for a in preds)
    host.zero_grad()
    total.backward()
    unused = [n for n, p in host.named_parameters() if p.grad is None]
    assert unused == []


@pytest.mark.parametrize("host_name", list(HOSTS))
def test_internal_padding_equals_explicit_padding_then_crop(host_name: str) -> None:
    """The host pads bottom/right with 0 and crops every endpoint back: bitwise equal to doing it by hand."""
    torch.manual_seed(0)
    host = build_model(_params(host_name, "resnet18", "model.tasks=[semseg, depth]"), dataset_spec("nyudv2")).eval()
    image = torch.randn(1, 3, 40, 70)
    with torch.no_grad():
        small = host(image)
        big = host(F.pad(image, (0, 26, 0, 24)))  # 64×96: a multiple of 32, so no internal padding
    assert host.tasks == ("semseg", "depth")
    for t in host.tasks:
        assert torch.equal(small["final"][t], big["final"][t][..., :40, :70])
        assert small["feat"][t].shape[-2:] == (10, 18)  # ceil(40/4), ceil(70/4)
        assert torch.equal(small["feat"][t], big["feat"][t][..., :10, :18])
        for a_small, a_big in zip(small["aux"][t], big["aux"][t], strict=True):
            assert torch.equal(a_small, a_big[..., : a_small.shape[-2], : a_small.shape[-1]])


@pytest.mark.parametrize("host_name", list(HOSTS))
def test_single_task_model(host_name: str) -> None:
    torch.manual_seed(0)
    host = build_model(_params(host_name, "hrnet", "model.tasks=[normals]"), dataset_spec("pascal_context"))
    out = host(torch.randn(2, 3, 64, 96))
    assert host.tasks == ("normals",) and host.feat_channels == {"normals": 32}
    assert tuple(out["final"]["normals"].shape) == (2, 3, 64, 96)
    assert tuple(out["feat"]["normals"].shape) == (2, 32, 16, 24)
    assert len(out["aux"]["normals"]) == len(AUX_GRIDS[host_name])


def test_single_scale_vit_encoder_in_mtinet_and_baseline() -> None:
    torch.manual_seed(0)
    vit = ["model.encoder.name=vit_tiny_patch16_224", "model.encoder.kwargs={dynamic_img_size: true}"]
    spec = dataset_spec("nyudv2")
    mti = build_model(load_params(None, ["model.host=mtinet", *vit]).model, spec)
    base = build_model(load_params(None, ["model.host=mtl_baseline", *vit]).model, spec)
    image = torch.randn(1, 3, 72, 100)  # padded to 80×112 (ViT stride 16)
    out = mti(image)
    assert (mti.feat_stride, mti.pad_multiple) == (16, 16)
    assert tuple(out["feat"]["semseg"].shape) == (1, 32, 5, 7)
    assert [tuple(a.shape) for a in out["aux"]["depth"]] == [(1, 1, 5, 7)] * 3  # three levels at one stride
    assert tuple(out["final"]["semseg"].shape) == (1, 40, 72, 100)
    assert base.feat_stride == 4 and tuple(base(image)["feat"]["edge"].shape) == (1, 32, 18, 25)


def test_fuse_width_and_head_depth_follow_params() -> None:
    spec = dataset_spec("nyudv2")
    params = _params(
        "mtl_baseline", "hrnet", "model.fuse_channels=null", "model.head_blocks=2", "model.head_channels=32"
    )
    host = build_model(params, spec)
    assert host.fusion.out_channels == 18 + 36 + 72 + 144  # None: the concatenated width (MTL-PyTorch's 270)
    assert len(host.heads["semseg"].refine) == 2
    assert host.feat_channels["semseg"] == 32
    assert tuple(host(torch.randn(1, 3, 64, 64))["feat"]["depth"].shape) == (1, 32, 16, 16)


def test_registry_matches_the_params_schema_and_task_selection_errors() -> None:
    assert set(HOSTS) == set(typing.get_args(ModelParams.model_fields["host"].annotation))
    with pytest.raises(KeyError, match="model.host = 'nope' is not a registered host; known: mtl_baseline"):
        HOSTS.create("nope", None, {}, ModelParams())  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"model.tasks = \['semseg', 'sal'\]: .*nyudv2 .*\(unknown: sal\)"):
        build_model(ModelParams(tasks=["semseg", "sal"]), dataset_spec("nyudv2"))
    with pytest.raises(ModelError, match="non-empty subset"):
        build_model(ModelParams(tasks=[]), dataset_spec("nyudv2"))
