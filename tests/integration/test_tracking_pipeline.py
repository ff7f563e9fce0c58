"""The DVC stage scripts (train → evaluate → report) on a tiny real dataset log everything into one MLflow run per
variant of a temporary SQLite store: params, per-step losses, val metrics, Δm, tags, artifacts, and an inference
model that reproduces the trained host's predictions."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from tiny_nyud import write_tiny_nyud

from mtcontrast.config import load_params

if TYPE_CHECKING:
    from conftest import TinyRecipe

H, W = 32, 64
TRAIN_IDS, VAL_IDS = ["0001", "0002", "0003", "0004"], ["0005", "0006", "0007"]
# Δm needs non-zero baselines: the multi-task pair uses the regression tasks (a few steps leave mIoU at 0);
# the semseg baseline covers the confusion matrix and the panels of a discrete task.
BASELINES = {
    "semseg": {"tasks": ["semseg"], "contrast": False, "host": "mtl_baseline"},
    "depth": {"tasks": ["depth"], "contrast": False, "host": "mtl_baseline"},
    "normals": {"tasks": ["normals"], "contrast": False, "host": "mtl_baseline"},
}
COMPARED = {
    "mtl": {"tasks": ["depth", "normals"], "contrast": False, "host": None},
    "mtl_contrast": {"tasks": ["depth", "normals"], "contrast": True, "host": None},
}
VARIANTS = {**BASELINES, **COMPARED}  # every run of the test


def _project(root: Path, tiny_recipe: TinyRecipe) -> None:
    """A tiny NYUDv2-layout dataset prepared by the real pipeline and a params.yaml for a CPU minute."""
    from mtcontrast.data import prepare_dataset

    raw = root / "raw" / "nyudv2"
    write_tiny_nyud(raw, TRAIN_IDS, VAL_IDS, (H, W), lambda idx, k: 1 + (idx % W >= W // 2))  # two NYU classes
    params = tiny_recipe.at(
        root,
        "data.name=tiny",
        "data.prepared_dir=prepared",
        "data.compression=none",
        f"train.crop_size=[{H}, {W}]",
        "train.iterations=4",
        "train.log_every=2",
        "train.device=cpu",
        "train.runs_dir=runs",
        "seeds=[0]",  # one seed: the runs of one seed are what this test follows
        f"baselines={json.dumps(BASELINES)}",
        f"variants={json.dumps(COMPARED)}",
    )
    tiny_recipe.write(root / "params.yaml", params)
    prepare_dataset(params.data.model_copy(update={"prepared_dir": root / "prepared"}), progress=False)


def _stage(name: str, repo_root: Path, *args: str) -> None:
    argv = sys.argv
    sys.argv = [f"stages/{name}.py", *args]
    try:
        runpy.run_path(str(repo_root / "stages" / f"{name}.py"), run_name="__main__")
    finally:
        sys.argv = argv


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_stage_scripts_log_one_complete_run_per_variant(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch, tiny_recipe: TinyRecipe
) -> None:
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    from mtcontrast.data.prepared import PreparedSplit
    from mtcontrast.engine.trained import load_trained
    from mtcontrast.engine.trainer import val_steps

    _project(tmp_path, tiny_recipe)
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for variant in VARIANTS:
        _stage("train", repo_root, variant, "0")
        _stage("evaluate", repo_root, variant, "0")
    _stage("report", repo_root)

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("mtcontrast/tiny")
    assert exp.artifact_location == (tmp_path / "mlruns" / "artifacts" / "tiny").as_uri()
    runs = {r.data.tags["variant"]: r for r in client.search_runs([exp.experiment_id])}
    assert sorted(runs) == sorted(VARIANTS)
    fingerprint = PreparedSplit(tmp_path / "prepared" / "tiny" / "train.h5").info.source_fingerprint
    results = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    params = load_params(tmp_path / "params.yaml")
    for variant, run in runs.items():
        run_dir = tmp_path / "runs" / variant / "s0"
        assert json.loads((run_dir / "mlflow_run.json").read_text())["run_id"] == run.info.run_id
        tags, p = run.data.tags, run.data.params
        assert run.info.status == "FINISHED" and tags["mtc.sources"] == "dvc:train,dvc:evaluate"
        assert tags["variant"] == variant and tags["seed"] == "0"
        assert tags["source"] == "dvc:train" and tags["data_fingerprint"] == fingerprint and len(fingerprint) > 8
        assert tags["tasks"] == ",".join(VARIANTS[variant]["tasks"]) and tags["host"] == "mtl_baseline"
        assert p["loss.contrast.enabled"] == str(VARIANTS[variant]["contrast"]).lower()
        assert p["model.tasks"] == json.dumps(VARIANTS[variant]["tasks"]) and p["train.iterations"] == "4"
        # per-step losses: exactly the trainer's history
        history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
        logged = client.get_metric_history(run.info.run_id, "train/loss")
        assert [(m.step, m.value) for m in logged] == [(h["step"], pytest.approx(h["train/loss"])) for h in history]
        # every train.log_every (2) steps, and after each of the train.val_evals evaluations (every step of 4 here)
        assert [h["step"] for h in history] == sorted({2, 4} | set(val_steps(4, params.train.val_evals)))
        # val metrics: exactly the evaluator's
        metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())["tasks"]
        for task, values in metrics.items():
            for name, value in values.items():
                assert run.data.metrics[f"val/{task}/{name}"] == pytest.approx(value)
        artifacts = {
            a.path
            for folder in ("train", "eval", "figures", "report")
            for a in client.list_artifacts(run.info.run_id, folder)
        }
        assert {
            "train/history.jsonl",
            "train/train_summary.json",
            "eval/metrics.json",
            "eval/per_image.parquet",
            "figures/learning_curves.png",
            "figures/qualitative.png",
            "report/results.md",
            "report/metrics.json",
        } <= artifacts
        assert not [k for k in tags if k.startswith("mtc.artifact_error")]
        if "semseg" in VARIANTS[variant]["tasks"]:
            assert "figures/confusion_semseg.png" in artifacts
            # the confusion recomputed for the figure pools to the evaluator's mIoU
            conf = np.load(
                download_artifacts(
                    run_id=run.info.run_id, artifact_path="eval/confusion.npz", dst_path=str(tmp_path / "dl" / variant)
                )
            )["semseg"]
            tp = np.diag(conf).astype(float)
            iou = tp / np.maximum(conf.sum(0) + conf.sum(1) - tp, 1e-8)
            assert conf.sum(1)[:2].tolist() == [3 * H * W // 2] * 2 and conf.sum() == 3 * H * W  # GT: two halves
            assert 100 * iou.mean() == pytest.approx(metrics["semseg"]["miou"])
            assert 100 * np.trace(conf) / conf.sum() == pytest.approx(metrics["semseg"]["pixel_acc"])
    assert runs["mtl"].data.metrics["val/delta_m"] == pytest.approx(results["delta_m"]["mtl"])
    assert runs["mtl_contrast"].data.metrics["val/delta_m_vs_host"] == pytest.approx(
        results["contrast_minus_host"]["mtl_contrast-mtl"]["delta_m_vs_host"]
    )
    assert "val/delta_m" not in runs["semseg"].data.metrics

    # the logged inference model is the trained host, its weights stored once (no checkpoint, no optimiser state)
    import mlflow.pyfunc

    for run in runs.values():
        assert not client.list_artifacts(run.info.run_id, "checkpoint")
    model = mlflow.pyfunc.load_model(runs["mtl_contrast"].data.tags["mtc.model_uri"])
    host = load_trained(params.train.run_paths("mtl_contrast", 0).checkpoint).host
    image = torch.randn(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = host(image)["final"]
    got = model.predict(image.numpy())
    assert sorted(got) == ["depth", "normals"] and all(np.array_equal(got[t], want[t].numpy()) for t in want)

    # ... and so is the weights-only file, the documented safe way to load it
    from mtcontrast.tracking import host_file

    safe = load_trained(host_file(runs["mtl_contrast"].info.run_id, tmp_path / "dl"))
    assert safe.variant == "mtl_contrast" and safe.params.model.tasks == ["depth", "normals"]
    with torch.no_grad():
        again = safe.host(image)["final"]
    assert all(torch.equal(again[t], want[t]) for t in want)
