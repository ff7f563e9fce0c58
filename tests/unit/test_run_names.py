"""MLflow run names say variant, seed and what differs from the defaults (``tracking.names``), and ablation
children get the Δm metrics the pipeline's runs have (``study.child_deltas``)."""

from __future__ import annotations

import pytest

from mtcontrast.config import load_params, resolve_variant
from mtcontrast.study import ChildResult, child_deltas
from mtcontrast.tracking.names import run_name


def _name(variant: str, *overrides: str, label: str | None = None, seed: int | None = None) -> str:
    params = load_params("params.yaml", list(overrides))
    return run_name(resolve_variant(params, variant, seed), variant, label=label)


def test_run_names_carry_variant_seed_and_the_recipe_keys_that_differ() -> None:
    assert _name("mtl_contrast") == "mtl_contrast·s0"
    assert _name("mtl_contrast", "loss.contrast.weight=0.3", seed=1) == "mtl_contrast·s1·λ0.3"
    # the seed lists are not differing keys
    assert _name("mtl_contrast", "seeds=[5, 6]", "baseline_seeds=[5]") == "mtl_contrast·s5"
    assert _name("semseg", "seeds=[5, 6]", "baseline_seeds=[6]", seed=6) == "semseg·s6"
    # a run without the regulariser is not renamed by its settings, nor by eval / logging / file locations
    assert _name("mtl", "loss.contrast.weight=0.3", seed=1) == "mtl·s1"
    assert _name("semseg", "loss.contrast.kind=infonce", "eval.edge_threshold_step=1", "train.threads=2") == "semseg·s0"
    assert _name("depth", "data.root=/data/NYUDv2", "train.runs_dir=/tmp/r", "train.log_every=1") == "depth·s0"
    # λ first, short unambiguous keys, the encoder by its role
    assert (
        _name("mtl_contrast", "train.lr=0.01", "loss.contrast.weight=3", "model.encoder.name=test_resnet")
        == "mtl_contrast·s0·λ3·encoder=test_resnet·lr=0.01"
    )
    assert _name("mtl", "train.crop_size=[96, 128]", "train.augment.flip=false") == "mtl·s0·flip=false·crop_size=96,128"
    # more than four differences: the rest are counted
    many = [
        "train.lr=0.01",
        "train.iterations=9",
        "train.batch_size=2",
        "model.head_channels=16",
        "model.head_blocks=2",
    ]
    assert _name("mtl", *many) == "mtl·s0·head_blocks=2·head_channels=16·batch_size=2·iterations=9·+1"
    # an ablation child is named after the variant it studies
    child = "contrast-on_weight-0.3"
    params = load_params("params.yaml", ["loss.contrast.weight=0.3", "seeds=[1]", "baseline_seeds=[1]"])
    params = params.model_copy(update={"variants": {child: params.variants["mtl_contrast"]}})
    assert run_name(resolve_variant(params, child), child, label="mtl_contrast") == "mtl_contrast·s1·λ0.3"
    # ... with its grid keys shown even at their default value (λ = 1 is params.yaml's)
    grid = ["loss.contrast.enabled", "loss.contrast.weight"]
    params = load_params("params.yaml", ["train.lr=0.01"])
    params = params.model_copy(update={"variants": {child: params.variants["mtl_contrast"]}})
    assert (
        run_name(resolve_variant(params, child), child, "mtl_contrast", always=grid)
        == "mtl_contrast·s0·enabled=true·λ1·lr=0.01"
    )


def _metrics(miou: float, rmse: float) -> dict[str, dict[str, float]]:
    return {"semseg": {"miou": miou}, "depth": {"rmse": rmse}}


def test_children_get_delta_m_vs_host_and_vs_single_task_baselines() -> None:
    def child(name: str, enabled: bool, seed: int, metrics: dict) -> ChildResult:
        overrides = {"loss.contrast.enabled": enabled} | ({"loss.contrast.weight": 0.3} if enabled else {})
        return ChildResult(name, "on" if enabled else "off", overrides, metrics, seed=seed)

    children = [
        child("off0", False, 0, _metrics(40.0, 0.80)),
        child("off1", False, 1, _metrics(50.0, 0.50)),
        child("on0", True, 0, _metrics(44.0, 0.76)),  # vs off0: (+10 % mIoU, +5 % RMSE) / 2 = +7.5 %
        child("on1", True, 1, _metrics(45.0, 0.55)),  # vs off1: (-10 %, -10 %) / 2 = -10 %
    ]
    baselines = {
        0: {"semseg": {"miou": 50.0}, "depth": {"rmse": 0.8}},
        1: {"semseg": {"miou": 40.0}, "depth": {"rmse": 0.5}},
    }
    deltas = child_deltas(children, baselines)
    assert deltas["on0·s0"]["val/delta_m_vs_host"] == pytest.approx(7.5)
    assert deltas["on1·s1"]["val/delta_m_vs_host"] == pytest.approx(-10.0)
    assert "val/delta_m_vs_host" not in deltas["off0·s0"]  # a host is not compared with itself
    assert deltas["off0·s0"]["val/delta_m"] == pytest.approx(-10.0)  # (-20 % mIoU, 0 % RMSE) / 2
    assert deltas["on0·s0"]["val/delta_m"] == pytest.approx((-12.0 + 5.0) / 2)
    assert deltas["off1·s1"]["val/delta_m"] == pytest.approx(12.5)  # against seed 1's own baselines: (+25 %, 0) / 2
    # without baselines for every task there is no Δm, only the paired one
    partial = child_deltas(children, {0: {"semseg": {"miou": 50.0}}})
    assert set(partial["on0·s0"]) == {"val/delta_m_vs_host"} and partial["off1·s1"] == {}
