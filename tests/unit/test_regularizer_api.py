"""The regulariser as a drop-in: plain constructor, determinism, masked BatchNorm, fp32 under autocast, optimiser
handling of undrawn projectors, the tap point, and the light import (docs/regulariser-api.md)."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mtcontrast.config import ContrastParams, load_params, resolve_variant
from mtcontrast.regularizer import ContrastOptions, CrossTaskContrast, ProjectionHead

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"seg": "discrete", "dep": "depth", "nrm": "normals", "bnd": "boundary"}


def plain_batch(b: int = 2, h: int = 16, w: int = 20, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "seg": torch.randint(0, 4, (b, 1, h, w), generator=g),  # B×1×H×W, as InvPT passes them
        "dep": torch.rand(b, h, w, generator=g) * 4 + 0.5,  # B×H×W depth is accepted too
        "nrm": torch.nn.functional.normalize(torch.randn(b, 3, h, w, generator=g), dim=1),
        "bnd": (torch.rand(b, h, w, generator=g) > 0.8).long(),
    }


def plain_feats(b: int = 2, c: int = 8, h: int = 4, w: int = 5, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {t: torch.randn(b, c, h, w, generator=g).requires_grad_() for t in KINDS}


# ---------------------------------------------------------------------------------------------- plain API
def test_plain_constructor_with_arbitrary_names_returns_the_weighted_loss_and_param_groups() -> None:
    torch.manual_seed(0)
    reg = CrossTaskContrast(KINDS, dict.fromkeys(KINDS, 8), stride=4, weight=0.3, proj_dim=16, anchors_per_image=8)
    out = reg(plain_feats(), plain_batch(), step=0)
    assert out.loss.item() == pytest.approx(0.3 * out.raw.item(), rel=1e-6) and out.raw.item() > 0
    assert set(out.pair_losses) == {f"{t}_from_{s}" for t, (s,) in reg.selector.draw(0).items()}
    assert out.stats["contrast/triplets"] > 0
    out.loss.backward()
    (group,) = reg.param_groups(lr=0.01)
    assert group["lr"] == 0.01 and len(group["params"]) == 12 * 5  # 12 pair heads × (W1, BN γ/β, W2, b2)


def test_plain_constructor_matches_the_params_adapter() -> None:
    tasks = ("semseg", "depth", "normals", "edge")
    feats = {t: f for t, f in zip(tasks, plain_feats().values())}
    batch = dict(zip(tasks, plain_batch().values()))
    torch.manual_seed(0)
    a = CrossTaskContrast.from_params(ContrastParams(margin=0.3), tasks, dict.fromkeys(tasks, 8), seed=3, feat_stride=4)
    torch.manual_seed(0)
    kinds = {"semseg": "discrete", "depth": "depth", "normals": "normals", "edge": "boundary"}
    b = CrossTaskContrast(kinds, dict.fromkeys(tasks, 8), stride=4, seed=3, margin=0.3)
    assert torch.equal(a(feats, batch, 5).loss, b(feats, batch, 5).loss)


def test_option_defaults_equal_the_params_schema() -> None:
    schema = ContrastParams().model_dump(exclude={"enabled", "tap"})
    plain = {f.name: getattr(ContrastOptions(), f.name) for f in dataclasses.fields(ContrastOptions)}
    assert {k: (list(v) if isinstance(v, tuple) else v) for k, v in plain.items()} == {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in schema.items()
    }


def test_stride_or_shape_mismatch_is_an_error_naming_task_shapes_and_stride() -> None:
    reg = CrossTaskContrast(KINDS, dict.fromkeys(KINDS, 8), stride=4)
    feats = plain_feats(h=5, w=5)  # labels 16×20 at stride 4 need 4×5
    with pytest.raises(ValueError, match=r"features\['\w+'\] are 5x5 but labels\['\w+'\] are 16x20: with stride 4 "):
        reg(feats, plain_batch(), step=0)
    with pytest.raises(TypeError, match="unknown regulariser option"):
        CrossTaskContrast(KINDS, dict.fromkeys(KINDS, 8), marign=0.2)
    with pytest.raises(ValueError, match="label kind 'class' is not one of"):
        CrossTaskContrast({"seg": "class", "dep": "depth"}, {"seg": 8, "dep": 8})


# ---------------------------------------------------------------------------------------------- determinism
_DETERMINISM = textwrap.dedent(
    """
    import hashlib, sys, torch
    from mtcontrast.config import load_params, resolve_variant
    from mtcontrast.engine.optim import build_optimizer
    from mtcontrast.engine.trainer import _param_groups, build_training_model
    torch.set_num_threads(2)
    p = resolve_variant(load_params(None, overrides=["model.host=" + sys.argv[1]]), "mtl_contrast")
    model = build_training_model(p, load_weights=False).train()
    opt = build_optimizer(p.train, _param_groups(model))
    g = torch.Generator().manual_seed(0)
    B, H, W = 2, 64, 80
    batch = {"image": torch.randn(B, 3, H, W, generator=g), "semseg": torch.randint(0, 40, (B, H, W), generator=g),
             "depth": torch.rand(B, 1, H, W, generator=g) * 5 + 0.5,
             "normals": torch.nn.functional.normalize(torch.randn(B, 3, H, W, generator=g), dim=1),
             "edge": (torch.rand(B, H, W, generator=g) > 0.9).long()}
    for step in range(3):
        _, out = model(batch, step)
        opt.zero_grad(set_to_none=True)
        out.total.backward()
        model.criterion.drop_unselected_grads()
        opt.step()
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode()); h.update(v.detach().numpy().tobytes())
    print(h.hexdigest())
    """
)


def test_two_fresh_processes_train_to_bit_identical_weights_with_the_regulariser() -> None:
    """Two threads: the old gather backward (index_put_ accumulate) differed in the last bits run to run."""
    digests = [
        subprocess.run(
            [sys.executable, "-c", _DETERMINISM, "mtl_baseline"], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout.strip()
        for _ in range(3)
    ]
    assert len(digests[0]) == 64 and len(set(digests)) == 1, digests


# ---------------------------------------------------------------------------------------------- masked BatchNorm
def test_masked_samples_take_no_part_in_batchnorm_and_get_no_gradient() -> None:
    """Few valid source pixels: most anchor slots are placeholders (index 0, an ignored cell). Changing the features
    of ignored cells must change neither the loss nor any gradient."""
    seg = torch.full((1, 16, 16), 255, dtype=torch.long)
    seg[0, 8:12, 8:10] = 0
    seg[0, 8:12, 10:12] = 1  # 4 valid cells (stride 2 grid: rows 4-5, cols 4-5), two classes
    labels = {"seg": seg, "dep": torch.ones(1, 1, 16, 16)}
    torch.manual_seed(0)
    reg = CrossTaskContrast(
        {"seg": "discrete", "dep": "depth"},
        {"dep": 8},
        stride=2,
        targets=("dep",),
        source_mode="fixed",
        fixed_sources={"dep": "seg"},
        anchors_per_image=16,
        proj_dim=4,
    )
    valid_cells = torch.zeros(8, 8, dtype=torch.bool)
    valid_cells[4:6, 4:6] = True
    base = torch.randn(1, 8, 8, 8)

    def run(scale: float) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        feat = torch.where(valid_cells, base, base * scale).requires_grad_()
        reg.zero_grad(set_to_none=True)
        out = reg({"dep": feat}, labels, step=0)
        out.loss.backward()
        return out.loss.detach(), feat.grad, [p.grad.clone() for p in reg.parameters()]

    loss_a, grad_a, pg_a = run(1.0)
    loss_b, grad_b, pg_b = run(1000.0)
    assert loss_a.item() > 0
    assert torch.equal(loss_a, loss_b)
    assert not grad_a[:, :, ~valid_cells].any() and not grad_b[:, :, ~valid_cells].any()
    assert torch.equal(grad_a, grad_b) and all(torch.equal(x, y) for x, y in zip(pg_a, pg_b))


def test_masked_batch_norm_equals_batchnorm1d_when_all_rows_are_valid() -> None:
    torch.manual_seed(0)
    head = ProjectionHead(6, 3).train()
    ref_head = copy.deepcopy(head)
    x = torch.randn(20, 6)
    ref = F.normalize(ref_head[3](torch.relu(ref_head[1](ref_head[0](x)))), dim=-1)  # nn.BatchNorm1d itself
    masked = head(x, torch.ones(20, dtype=torch.bool))
    assert torch.allclose(ref, masked, atol=1e-5)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.allclose(getattr(head[1], name).float(), getattr(ref_head[1], name).float(), atol=1e-6), name
    head.eval(), ref_head.eval()  # eval mode: the running statistics
    assert torch.allclose(head(x), F.normalize(ref_head[3](torch.relu(ref_head[1](ref_head[0](x)))), dim=-1), atol=1e-5)
    head.train()
    sub = head(x[:12], None)
    part = head(x, torch.arange(20) < 12)[:12]
    assert torch.allclose(sub, part, atol=1e-5)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"kind": "infonce", "negatives": 4},
        {"kind": "supcon"},
        {"mining": "semihard"},
        {"pool": "batch", "projector": "target"},
        {"align": "full_res", "projector": "none"},
    ],
    ids=["triplet", "infonce", "supcon", "semihard", "pool-batch", "full-res"],
)
def test_pairs_sampled_and_embedded_together_give_what_each_pair_gives_alone(options: dict) -> None:
    """A step's pairs are sampled in stacked passes (one per label rule) and embedded in one batched projector call.
    Each pair must still draw its own pixels and get its own BatchNorm statistics: the loss, every pair's loss, the
    diagnostics, every gradient and the running statistics equal those of the pairs run one by one."""
    opts = {"source_mode": "all", "anchors_per_image": 6, "proj_dim": 16, "projector": "pair", **options}
    base = CrossTaskContrast(KINDS, dict.fromkeys(KINDS, 8), stride=4, seed=3, **opts)
    results = []
    for grouped in (True, False):
        reg = copy.deepcopy(base)
        reg.group_pairs = grouped
        draws: list[int] = []
        draw = reg._draw
        reg._draw = lambda group, jobs, draws=draws, draw=draw: draws.append(len(group)) or draw(group, jobs)  # type: ignore[method-assign]
        feats = plain_feats()
        out = reg(feats, plain_batch(), step=5)
        out.loss.backward()
        buffers = [b.clone() for n, b in reg.named_buffers() if "running" in n]
        grads = [f.grad for f in feats.values()] + [q.grad for q in reg.parameters() if q.grad is not None]
        results.append((out.loss.detach(), out.pair_losses, out.stats, grads, buffers, draws))
    (loss_g, pairs_g, stats_g, grads_g, buf_g, draws_g), (loss_a, pairs_a, stats_a, grads_a, buf_a, draws_a) = results
    assert draws_a == [1] * 12 and sorted(draws_g) == [3, 3, 6]  # 12 pairs; rules: classes (seg, bnd), depth, normals
    assert loss_g.item() > 0 and torch.allclose(loss_g, loss_a, atol=1e-6)
    assert pairs_g.keys() == pairs_a.keys() and all(torch.allclose(pairs_g[k], pairs_a[k], atol=1e-6) for k in pairs_a)
    assert stats_g.keys() == stats_a.keys() and all(stats_g[k] == pytest.approx(stats_a[k], abs=1e-5) for k in stats_a)
    assert len(grads_g) == len(grads_a) and all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads_g, grads_a))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(buf_g, buf_a))


# ---------------------------------------------------------------------------------------------- autocast
def test_projection_and_normalisation_run_in_float32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    head = ProjectionHead(16, 8).train()
    x = torch.randn(64, 16) * 50
    ref = head(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        amp = head(x.bfloat16())
    assert amp.dtype == torch.float32
    assert torch.allclose(amp, head(x.bfloat16().float()), atol=1e-6)
    assert (amp - ref).abs().max() < 0.05  # only the bf16 rounding of the input remains
    with torch.no_grad():  # a zero embedding: zero, not NaN
        head[3].weight.zero_()
        head[3].bias.zero_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(head(x), torch.zeros(64, 8))
    reg = CrossTaskContrast(KINDS, dict.fromkeys(KINDS, 8), stride=4, projector="none")
    feats = {t: torch.zeros(2, 8, 4, 5, dtype=torch.bfloat16, requires_grad=True) for t in KINDS}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = reg(feats, plain_batch(), step=0)
    out.loss.backward()
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    assert all(torch.isfinite(f.grad).all() for f in feats.values())


# ---------------------------------------------------------------------------------------------- optimisers
@pytest.mark.parametrize("ddp", [False, True])
@pytest.mark.parametrize(
    "make",
    [
        lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=1e-2),
        lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=1e-2),
        lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, weight_decay=1e-2),
    ],
    ids=["adam", "adamw", "sgd_momentum"],
)
def test_undrawn_projectors_are_not_moved_by_decay_or_momentum(make, ddp: bool) -> None:
    torch.manual_seed(0)
    reg = CrossTaskContrast(KINDS, dict.fromkeys(KINDS, 8), stride=4, proj_dim=4, anchors_per_image=8, ddp=ddp)
    opt = make(reg.param_groups(lr=1e-2))
    feats, batch = plain_feats(), plain_batch()
    moved_any = set()
    for step in range(6):
        before = {k: [p.detach().clone() for p in h.parameters()] for k, h in reg.projectors.heads.items()}
        drawn = {f"{t}_from_{s}" for t, (s,) in reg.selector.draw(step).items()}
        opt.zero_grad(set_to_none=not ddp)  # zeroed (not None) grads must not move them either
        reg(feats, batch, step).loss.backward()
        reg.drop_unselected_grads()
        opt.step()
        for key, head in reg.projectors.heads.items():
            same = all(torch.equal(a, b) for a, b in zip(before[key], head.parameters()))
            assert same == (key not in drawn), (step, key)
            moved_any |= {key} if not same else set()
    assert len(moved_any) > 4  # heads drawn at an earlier step carry momentum, and still stayed put later


# ---------------------------------------------------------------------------------------------- tap point
@pytest.mark.parametrize("host", ["mtl_baseline", "padnet", "mtinet"])
def test_early_tap_feeds_the_regulariser_from_an_earlier_decoder_stage(host: str) -> None:
    from mtcontrast.engine.trainer import build_training_model

    params = resolve_variant(
        load_params(None, overrides=[f"model.host={host}", "loss.contrast.tap=early_feat"]), "mtl_contrast"
    )
    model = build_training_model(params, load_weights=False).train()
    g = torch.Generator().manual_seed(0)
    batch = {
        "image": torch.randn(2, 3, 32, 40, generator=g),
        "semseg": torch.randint(0, 40, (2, 32, 40), generator=g),
        "depth": torch.where(torch.arange(40) < 20, 1.0, 4.0) * (1 + 0.1 * torch.rand(2, 1, 32, 40, generator=g)),
        "normals": torch.nn.functional.normalize(torch.randn(2, 3, 32, 40, generator=g), dim=1),
        "edge": (torch.rand(2, 32, 40, generator=g) > 0.9).long(),
    }
    endpoints = model.host(batch["image"])
    early = endpoints["taps"]["early_feat"]
    channels = model.host.tap_channels("early_feat")
    for t, f in early.items():
        assert f.shape[1] == channels[t] and f.shape[-2:] == endpoints["feat"][t].shape[-2:]
    grads = {}
    for t in early:
        early[t].register_hook(lambda g, t=t: grads.__setitem__(t, g))
    out = model.criterion(endpoints, batch, step=0)
    out.components["loss_contrast"].backward(retain_graph=True)
    assert set(grads) == set(model.host.tasks) and all(g.abs().sum() > 0 for g in grads.values())
    final_grad = torch.autograd.grad(
        out.components["loss_contrast"], list(endpoints["feat"].values()), allow_unused=True
    )
    assert all(g is None or not g.any() for g in final_grad)  # the last feature is not what it reads


# ---------------------------------------------------------------------------------------------- light install
def test_the_core_library_imports_no_pipeline_tools() -> None:
    code = (
        "import sys, mtcontrast.regularizer, mtcontrast.models, mtcontrast.losses, mtcontrast.metrics;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dvc', 'mlflow', 'prefect'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_the_example_trains_a_foreign_model_with_the_regulariser() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "plug_into_your_model.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=300,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("step")]
    assert len(lines) == 5 and all("contrast" in line for line in lines)
