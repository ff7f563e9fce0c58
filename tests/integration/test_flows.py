"""Prefect flows on a tiny real pipeline: the ablation flow trains two children as MLflow runs nested under one
parent (temporary SQLite store) and publishes the summary; the schedule builds cron deployments."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tiny_nyud import write_tiny_nyud

from mtcontrast.config import ParamsError, load_params
from pipelines.ablation import ablation
from pipelines.schedule import build_deployments
from pipelines.train_eval import check_overrides

H, W = 32, 64  # multiples of the encoder stride: no eval padding
TRAIN_IDS, VAL_IDS = ["0001", "0002", "0003", "0004"], ["0005", "0006"]


def _tiny_params(tmp_path: Path) -> Path:
    """A 4 + 2 image NYUDv2-layout dataset, prepared by the real pipeline, and a params file for a CPU minute."""
    from mtcontrast.data import prepare_dataset

    root = tmp_path / "raw" / "nyudv2"
    write_tiny_nyud(root, TRAIN_IDS, VAL_IDS, (H, W), lambda idx, k: (idx // 97 + k) % 41)
    params = load_params(
        None,
        [
            f"data.root={root}",
            "data.name=tiny",
            f"data.prepared_dir={tmp_path / 'prepared'}",
            "data.compression=none",
            f"data.train_size=[{H}, {W}]",
            "model.head_channels=8",
            "model.fuse_channels=16",
            "loss.contrast.anchors_per_image=32",
            "loss.contrast.candidates=16",
            "train.iterations=2",
            "train.batch_size=2",
            "train.log_every=1",
            "train.device=cpu",
            "eval.batch_size=2",
            f"ablation.runs_dir={tmp_path / 'runs' / 'ablation'}",
            f"ablation.out_dir={tmp_path / 'reports' / 'ablation'}",
        ],
    )
    prepare_dataset(params.data, progress=False)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False))
    return path


def test_ablation_flow_nests_two_children_under_one_parent(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    params_file = _tiny_params(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # the project root of the store's artifacts
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)

    paths = ablation(
        grid={"loss.contrast.weight": [0.5, 1.0]}, name="lam", max_parallel=2, params_file=str(params_file)
    )

    summary = pd.read_parquet(paths["summary"])
    assert list(summary.columns) == ["setting", "metric", "mean", "std", "n"]
    assert len(summary) == 8 and summary["n"].tolist() == [1] * 8
    assert list(dict.fromkeys(summary["setting"])) == ["weight=0.5", "weight=1.0"]
    assert list(dict.fromkeys(summary["metric"])) == ["semseg/miou", "depth/rmse", "normals/mean", "edge/odsf"]
    assert summary["mean"].notna().all() and (summary["mean"] >= 0).all()
    markdown = Path(paths["markdown"]).read_text()
    assert markdown.startswith("# Ablation lam: mtl_contrast on tiny\n") and "| weight=0.5 | 1 |" in markdown
    assert len(pd.read_parquet(paths["children"])) == 8
    assert Path(paths["chart"]).stat().st_size > 10_000
    run_dirs = sorted(p.name for p in (tmp_path / "runs" / "ablation" / "lam").iterdir())
    assert run_dirs == ["weight-0.5", "weight-1.0"]

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("mtcontrast/tiny").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("mtc.parent") == "true"]
    assert parent.info.run_name == "ablation-lam" and parent.info.status == "FINISHED"
    assert parent.data.tags["source"] == "flow:ablation"
    children = sorted(
        (r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id), key=lambda r: r.info.run_name
    )
    assert [r.info.run_name for r in children] == ["weight-0.5", "weight-1.0"]
    assert len(runs) == 3
    for child, weight in zip(children, ("0.5", "1.0")):
        assert child.info.status == "FINISHED"
        assert child.data.params["loss.contrast.weight"] == weight
        assert child.data.tags["contrast"] == "true" and child.data.tags["ablation.setting"] == f"weight={weight}"
        assert {"val/semseg/miou", "val/depth/rmse", "train/loss_contrast"} <= set(child.data.metrics)
        logged = summary[summary["setting"] == f"weight={weight}"].set_index("metric")["mean"]
        assert logged["depth/rmse"] == pytest.approx(child.data.metrics["val/depth/rmse"], rel=1e-9)
        assert logged["edge/odsf"] == pytest.approx(child.data.metrics["val/edge/odsf"], rel=1e-9)
    assert sorted(a.path for a in client.list_artifacts(parent.info.run_id, "ablation")) == [
        "ablation/children.parquet",
        "ablation/summary.md",
        "ablation/summary.parquet",
        "ablation/summary.png",
    ]

    with get_client(sync_client=True) as prefect:
        keys = ArtifactFilterKey(any_=["ablation-lam", "ablation-lam-table"])
        artifacts = prefect.read_artifacts(artifact_filter=ArtifactFilter(key=keys))
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {"ablation-lam", "ablation-lam-table"}
    assert "| weight=1.0 | 1 |" in by_key["ablation-lam"].data
    assert len(json.loads(by_key["ablation-lam-table"].data)) == 8


@pytest.mark.slow
def test_train_eval_flow_runs_dvc_prepare_then_every_variant_and_the_report(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    from mlflow import MlflowClient
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from pipelines.train_eval import train_eval

    params_file = _tiny_params(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # a DVC project whose `prepare` stage only leaves a mark: the flow's task must run it through DVC
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], check=True)
    stage = {"stages": {"prepare": {"cmd": "echo ok > prepared.txt", "outs": ["prepared.txt"]}}}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(stage))

    results = train_eval(overrides=["train.iterations=40"], params_file=str(params_file), reports_dir="reports")

    assert (tmp_path / "prepared.txt").read_text() == "ok\n" and (tmp_path / "dvc.lock").is_file()
    assert set(results["variants"]) == {"semseg", "depth", "normals", "edge", "mtl", "mtl_contrast"}
    assert (tmp_path / "reports" / "results.md").read_text().startswith("# Results: nyudv2 (tiny)")
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("mtcontrast/tiny").experiment_id
    runs = {r.info.run_name: r for r in client.search_runs([experiment])}
    assert set(runs) == set(results["variants"])
    assert {(r.info.status, r.data.tags["source"]) for r in runs.values()} == {("FINISHED", "flow:train_eval")}
    for name in ("mtl", "mtl_contrast"):
        assert runs[name].data.metrics["val/delta_m"] == pytest.approx(results["delta_m"][name])
    with get_client(sync_client=True) as prefect:
        key = ArtifactFilterKey(any_=["results-tiny"])
        (artifact,) = prefect.read_artifacts(artifact_filter=ArtifactFilter(key=key))
    assert artifact.data.startswith("# Results: nyudv2 (tiny)")


def test_schedule_serves_both_flows_with_cron() -> None:
    nightly, weekly = build_deployments(timezone="Europe/Berlin", params_file="params.yaml")
    assert (nightly.flow_name, nightly.name, weekly.flow_name, weekly.name) == (
        "train-eval",
        "nightly",
        "ablation",
        "weekly",
    )
    assert nightly.entrypoint == "pipelines/train_eval.py:train_eval"
    assert weekly.entrypoint == "pipelines/ablation.py:ablation"
    crons = [(d.schedules[0].schedule.cron, d.schedules[0].schedule.timezone) for d in (nightly, weekly)]
    assert crons == [("0 2 * * *", "Europe/Berlin"), ("0 3 * * 6", "Europe/Berlin")]
    assert nightly.parameters == {"params_file": "params.yaml"}


def test_train_eval_refuses_overrides_dvc_prepare_cannot_see() -> None:
    check_overrides(["train.iterations=5", "data.train_size=[64, 64]"], prepare=True)
    check_overrides(["data.root=/elsewhere"], prepare=False)
    with pytest.raises(ParamsError, match=r"overrides \['data.root', 'data.limit'\]: `dvc repro prepare` reads"):
        check_overrides(["data.root=/elsewhere", "data.limit=3", "seed=1"], prepare=True)


def test_mtc_ablate_rejects_a_bad_grid_key_before_training(
    prefect_api: None, repo_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mtcontrast.cli import main

    monkeypatch.chdir(repo_root)
    assert main(["ablate", "--grid", "loss.contrast.wieght=[0.3, 1]", "--name", "typo"]) == 2
    err = capsys.readouterr().err
    assert "mtc ablate: error: ablation grid child wieght-0.3 (wieght=0.3): unknown key 'loss.contrast.wieght'" in err
    assert not (repo_root / "runs" / "ablation" / "typo").exists()
