"""Prefect flows on a tiny real pipeline: the ablation flow trains two children as MLflow runs nested under one
parent (temporary SQLite store) and publishes the summary; the train-eval flow runs the DVC pipeline of a git
clone as DVC commands (slow); the schedule builds cron deployments."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
import yaml
from tiny_nyud import write_tiny_nyud

from mtcontrast.config import Params, ParamsError, load_params, run_items
from pipelines.ablation import ablation
from pipelines.schedule import build_deployments
from pipelines.train_eval import Step, plan_steps, train_eval

if TYPE_CHECKING:
    from conftest import TinyRecipe

H, W = 32, 64  # multiples of the encoder stride: no eval padding
TRAIN_IDS, VAL_IDS = ["0001", "0002", "0003", "0004"], ["0005", "0006"]


def _tiny_params(tmp_path: Path, tiny_recipe: TinyRecipe) -> Path:
    """A 4 + 2 image NYUDv2-layout dataset, prepared by the real pipeline, and the tiny recipe's params file."""
    from mtcontrast.data import prepare_dataset

    write_tiny_nyud(tmp_path / "raw" / "nyudv2", TRAIN_IDS, VAL_IDS, (H, W), lambda idx, k: (idx // 97 + k) % 41)
    params = tiny_recipe.at(
        tmp_path,
        "data.name=tiny",
        "data.compression=none",
        f"train.crop_size=[{H}, {W}]",
        "train.iterations=2",
        "train.device=cpu",
        "seeds=[0]",  # one seed: each grid point is one child
    )
    prepare_dataset(params.data, progress=False)
    return tiny_recipe.write(tmp_path / "params.yaml", params)


def test_ablation_flow_nests_two_children_under_one_parent(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_recipe: TinyRecipe
) -> None:
    from mlflow import MlflowClient
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    params_file = _tiny_params(tmp_path, tiny_recipe)
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
    run_dirs = sorted(p.name for p in (tmp_path / "studies" / "lam").iterdir())
    assert run_dirs == ["weight-0.5", "weight-1.0"]
    assert (tmp_path / "studies" / "lam" / "weight-0.5" / "s0" / "child_result.json").is_file()

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("mtcontrast/tiny").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("mtc.parent") == "true"]
    assert parent.info.run_name == "ablation-lam" and parent.info.status == "FINISHED"
    assert parent.data.tags["source"] == "flow:ablation"
    children = sorted(
        (r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id), key=lambda r: r.info.run_name
    )
    names = [r.info.run_name for r in children]  # the studied variant, seed, λ, then the tiny recipe's deltas
    assert [n.split("·")[:3] for n in names] == [["mtl_contrast", "s0", "λ0.5"], ["mtl_contrast", "s0", "λ1"]]
    assert all(n.split("·")[-1].startswith("+") for n in names)  # the tiny recipe's other deltas are counted
    assert len(runs) == 3
    for child, weight in zip(children, ("0.5", "1.0")):
        assert child.info.status == "FINISHED"
        assert child.data.params["loss.contrast.weight"] == weight
        assert child.data.tags["contrast"] == "true" and child.data.tags["ablation.setting"] == f"weight={weight}"
        assert {"val/semseg/miou", "val/depth/rmse", "train/loss_contrast"} <= set(child.data.metrics)
        logged = summary[summary["setting"] == f"weight={weight}"].set_index("metric")["mean"]
        assert logged["depth/rmse"] == pytest.approx(child.data.metrics["val/depth/rmse"], rel=1e-9)
        assert logged["edge/odsf"] == pytest.approx(child.data.metrics["val/edge/odsf"], rel=1e-9)
    # the children's training progress is in the flow-run logs, not only in their child.log
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # the logs travel to the API in batches
    with get_client(sync_client=True) as prefect:
        messages = [log.message for log in prefect.read_logs(limit=200)]
    for child_name in ("weight-0.5", "weight-1.0"):
        assert any(m.startswith(f"train {child_name}: step 2/2 (100%)") for m in messages), child_name
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


# the clone's runs: two single-task baselines (seed 0 only) and the multi-task pair on the same two tasks (Δm needs both)
CLONE_BASELINES = {
    "depth": {"tasks": ["depth"], "contrast": False, "host": "mtl_baseline"},
    "normals": {"tasks": ["normals"], "contrast": False, "host": "mtl_baseline"},
}
CLONE_VARIANTS = {
    "mtl": {"tasks": ["depth", "normals"], "contrast": False, "host": None},
    "mtl_contrast": {"tasks": ["depth", "normals"], "contrast": True, "host": None},
}


def _dvc(clone: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=clone, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"dvc {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.mark.slow
def test_train_eval_flow_runs_the_dvc_pipeline_and_leaves_dvc_status_clean(
    prefect_api: None, repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_recipe: TinyRecipe
) -> None:
    """The committed pipeline (``git clone`` takes the last commit) on the tiny recipe, as the flow's DVC tasks."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo_root), str(clone)], check=True)
    layout = load_params(clone / "params.yaml")  # keep the repo's relative folders: DVC outputs lie inside it
    folders = [
        f"scenes.out_dir={layout.scenes.out_dir}",
        f"data.root={layout.data.root}",
        f"data.prepared_dir={layout.data.prepared_dir}",
        f"train.runs_dir={layout.train.runs_dir}",
        f"ablation.runs_dir={layout.ablation.runs_dir}",
        f"ablation.out_dir={layout.ablation.out_dir}",
    ]
    recipe = dataclasses.replace(tiny_recipe, file=clone / "params.yaml")  # the clone's params.yaml + the tiny list
    params = recipe.at(
        clone,
        *folders,
        "seeds=[0, 1]",
        "baseline_seeds=[0]",
        f"baselines={json.dumps(CLONE_BASELINES)}",
        f"variants={json.dumps(CLONE_VARIANTS)}",
    )
    recipe.write(clone / "params.yaml", params)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the stages record into the clone's mlruns/

    result = train_eval(repo_dir=str(clone))

    assert result["commands"] == [
        "dvc repro prepare",
        *(
            f"dvc repro --single-item {stage}_baseline@{v}-0"
            for v in CLONE_BASELINES
            for stage in ("recipe", "train", "evaluate")
        ),
        *(
            f"dvc repro --single-item {stage}@{v}-{seed}"
            for v in CLONE_VARIANTS
            for seed in (0, 1)
            for stage in ("recipe", "train", "evaluate")
        ),
        "dvc repro",
    ]
    assert result["dvc_status"] == {}
    assert json.loads(_dvc(clone, "status", "--json")) == {}
    assert "up to date" in _dvc(clone, "repro")  # dvc.lock records every output: nothing re-runs
    results = (clone / "reports" / "results.md").read_text()
    for variant in (*CLONE_BASELINES, *CLONE_VARIANTS):
        assert f"| {variant} |" in results
    assert "Δm: against the single-task baselines of seed 0 (trained on seed 0 only)" in results
    assert not (clone / "runs" / "depth" / "s1").exists()  # the baselines trained on seed 0 only
    assert set(result["metrics"]["delta_m"]) == {"mtl", "mtl_contrast"}
    assert (clone / "reports" / "floors.json").is_file()
    assert any((clone / "reports" / "figures").glob("*.png"))
    assert (clone / "mlruns" / "mlflow.db").is_file()
    with get_client(sync_client=True) as prefect:
        key = ArtifactFilterKey(any_=[f"results-{params.data.name.replace('_', '-')}"])
        (artifact,) = prefect.read_artifacts(artifact_filter=ArtifactFilter(key=key))
    assert artifact.data == results

    # an override is a DVC experiment; a variant subset runs only that variant's stages
    assert params.eval.batch_size != 1
    result = train_eval(variants=["depth"], overrides=["eval.batch_size=1"], exp_name="tiny-eval", repo_dir=str(clone))

    assert result["commands"] == ["dvc exp run -S eval.batch_size=1 -n tiny-eval evaluate_baseline@depth-0"]
    assert load_params(clone / "params.yaml").eval.batch_size == 1  # DVC applied it, as `dvc exp run -S` does
    assert "tiny-eval" in _dvc(clone, "exp", "list")
    stale = set(result["dvc_status"])
    assert "evaluate_baseline@depth-0" not in stale
    assert {"evaluate_baseline@normals-0", "evaluate@mtl-0", "evaluate@mtl_contrast-1"} <= stale
    assert not any(stage.startswith("train") for stage in stale)  # an eval key retrains nothing


def test_train_eval_plans_dvc_commands() -> None:
    items = [(v, s) for v, s in run_items(Params(seeds=[0, 1])) if v in ("mtl", "mtl_contrast")]  # dvc.yaml's matrix
    steps = plan_steps(items)
    assert [(s.name, s.command, s.retry, s.variant) for s in steps] == [
        ("dvc-repro-prepare", "dvc repro prepare", True, None),  # I/O steps: DVC re-runs only what did not finish
        ("mtl-0 · recipe", "dvc repro --single-item recipe@mtl-0", True, "mtl-0"),  # --single-item: upstream by hand
        ("mtl-0 · train", "dvc repro --single-item train@mtl-0", False, "mtl-0"),  # training is never retried
        ("mtl-0 · evaluate", "dvc repro --single-item evaluate@mtl-0", False, "mtl-0"),
        ("mtl-1 · recipe", "dvc repro --single-item recipe@mtl-1", True, "mtl-1"),
        ("mtl-1 · train", "dvc repro --single-item train@mtl-1", False, "mtl-1"),
        ("mtl-1 · evaluate", "dvc repro --single-item evaluate@mtl-1", False, "mtl-1"),
        *(
            (
                f"mtl_contrast-{s} · {stage}",
                f"dvc repro --single-item {stage}@mtl_contrast-{s}",
                stage == "recipe",
                f"mtl_contrast-{s}",
            )
            for s in (0, 1)
            for stage in ("recipe", "train", "evaluate")
        ),
        ("dvc-repro", "dvc repro", True, None),
    ]
    assert [s.command for s in plan_steps([("mtl", 2)], subset=True)] == [
        "dvc repro prepare",
        "dvc repro --single-item recipe@mtl-2",
        "dvc repro --single-item train@mtl-2",
        "dvc repro --single-item evaluate@mtl-2",
    ]
    assert plan_steps([("mtl", 0), ("edge", 0)], ["train.iterations=5", "seeds=[1]"]) == [
        Step("dvc-exp-run", ("exp", "run", "-S", "train.iterations=5", "-S", "seeds=[1]"))
    ]
    one = plan_steps([("mtl", 1)], ["seeds=[1]"], "s1", subset=True)[0]
    assert one.command == "dvc exp run -S seeds=[1] -n s1 evaluate@mtl-1"
    assert plan_steps([("mtl", 0)], [], "again")[0].command == "dvc exp run -n again"
    # a baseline's stages are its own group (dvc.yaml's recipe_baseline@ / train_baseline@ / evaluate_baseline@)
    baselines = Params().baselines
    assert run_items(Params(seeds=[0, 1]))[:2] == [("semseg", 0), ("depth", 0)]  # baselines: baseline_seeds only
    assert [s.command for s in plan_steps([("depth", 0), ("mtl", 1)], subset=True, baselines=baselines)][1:] == [
        "dvc repro --single-item recipe_baseline@depth-0",
        "dvc repro --single-item train_baseline@depth-0",
        "dvc repro --single-item evaluate_baseline@depth-0",
        "dvc repro --single-item recipe@mtl-1",
        "dvc repro --single-item train@mtl-1",
        "dvc repro --single-item evaluate@mtl-1",
    ]
    exp = plan_steps([("depth", 0), ("mtl", 1)], ["eval.limit=2"], subset=True, baselines=baselines)[0]
    assert exp.command == "dvc exp run -S eval.limit=2 evaluate_baseline@depth-0 evaluate@mtl-1"


STAGE_CMD = (
    'python -c "import json, sys, time; t = time.time(); time.sleep(6); '
    "open(sys.argv[1], 'w').write(json.dumps([t, time.time()]))\" {out}"
)


@pytest.mark.slow
def test_train_eval_runs_variants_concurrently_through_dvc(prefect_api: None, tmp_path: Path) -> None:
    """Real DVC in a temp git repo, stages that record when they ran: the variants' DVC commands overlap, every
    stage lands in dvc.lock, and the pipeline is up to date afterwards."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _dvc(repo, "init", "-q")
    (repo / "params.yaml").write_text(
        "baselines: {}\nvariants:\n  depth: {tasks: [depth], contrast: false}\n"
        "  normals: {tasks: [normals], contrast: false}\nseeds:\n- 0\n"
    )
    matrix = {"variant": "${variants}", "seed": "${seeds}"}
    run = "${item.variant}_${item.seed}"
    dvc_yaml = {  # the real pipeline's shape: prepare, then per (variant, seed) recipe@ → train@ → evaluate@
        "stages": {
            "prepare": {"cmd": "echo data > prepared.txt", "outs": ["prepared.txt"]},
            "recipe": {
                "matrix": matrix,
                "cmd": f"echo {run} > recipe_{run}.txt",
                "params": ["variants.${item.variant}"],
                "outs": [f"recipe_{run}.txt"],
            },
            "train": {
                "matrix": matrix,
                "deps": ["prepared.txt", f"recipe_{run}.txt"],
                "cmd": STAGE_CMD.format(out=f"train_{run}.json"),
                "outs": [f"train_{run}.json"],
            },
            "evaluate": {
                "matrix": matrix,
                "cmd": STAGE_CMD.format(out=f"eval_{run}.json"),
                "deps": [f"train_{run}.json"],
                "outs": [f"eval_{run}.json"],
            },
        }
    }
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], cwd=repo, check=True)

    result = train_eval(repo_dir=str(repo), max_parallel=2)

    windows = {n: json.loads((repo / f"{n}.json").read_text()) for n in ("train_depth_0", "train_normals_0")}
    (a0, a1), (b0, b1) = windows.values()
    assert a0 < b1 and b0 < a1  # the two trainings ran at the same time
    for v in ("depth", "normals"):  # each variant's evaluation after its own training
        assert json.loads((repo / f"eval_{v}_0.json").read_text())[0] >= windows[f"train_{v}_0"][1]
    assert result["dvc_status"] == {}
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    stages = {"prepare", "recipe@depth-0", "train@depth-0", "train@normals-0", "evaluate@depth-0", "evaluate@normals-0"}
    assert stages <= set(lock)


def test_train_eval_rejects_bad_overrides_and_variants_before_dvc(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("seeds: [0]\n")  # no DVC project here: nothing may run
    with pytest.raises(ParamsError, match="unknown key 'loss.contrast.wieght'"):
        train_eval.fn(overrides=["loss.contrast.wieght=3"], repo_dir=str(tmp_path))
    with pytest.raises(ParamsError, match="unknown variant 'nope'"):
        train_eval.fn(variants=["nope"], repo_dir=str(tmp_path))


def test_schedule_serves_both_flows_with_cron() -> None:
    nightly, weekly = build_deployments(timezone="Europe/Berlin", params_file="params.yaml")
    assert (nightly.flow_name, nightly.name, weekly.flow_name, weekly.name) == (
        "train-eval",
        "nightly",
        "ablation",
        "weekly",
    )
    # module entrypoints: the installed package resolves them wherever the runner starts a flow
    assert nightly.entrypoint == "pipelines.train_eval.train_eval"
    assert weekly.entrypoint == "pipelines.ablation.ablation"
    crons = [(d.schedules[0].schedule.cron, d.schedules[0].schedule.timezone) for d in (nightly, weekly)]
    assert crons == [("0 2 * * *", "Europe/Berlin"), ("0 3 * * 6", "Europe/Berlin")]
    assert nightly.parameters == {} and weekly.parameters == {"params_file": "params.yaml"}


def test_mtc_ablate_rejects_a_bad_grid_key_before_training(
    prefect_api: None,
    repo_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``mtc ablate`` imports the installed flow package, so it works outside the repository too."""
    env = dict(os.environ, PYTHONPATH="")  # nothing but the installed packages
    code = "import pipelines.ablation, mtcontrast.study.run; print(pipelines.ablation.ablation.name)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ablation", out.stderr

    from mtcontrast.cli import main

    monkeypatch.chdir(tmp_path)
    params = str(repo_root / "params.yaml")
    assert main(["ablate", "--params", params, "--grid", "loss.contrast.wieght=[0.3, 1]", "--name", "typo"]) == 2
    err = capsys.readouterr().err
    assert "mtc ablate: error: ablation grid child wieght-0.3 (wieght=0.3): unknown key 'loss.contrast.wieght'" in err
    assert not (tmp_path / "studies" / "typo").exists()


def test_study_flow_pairs_each_arm_with_its_seeds_host_and_nests_every_child(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_recipe: TinyRecipe
) -> None:
    from mlflow import MlflowClient

    from pipelines.study import study

    params_file = _tiny_params(tmp_path, tiny_recipe)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    regime = "study.regimes={half: {overrides: {data.partial.images: 0.5, data.partial.seed: 1}, seeds: [0, 1]}}"
    two_tasks = [f"baselines={json.dumps(CLONE_BASELINES)}", "variants.mtl_contrast.tasks=[depth, normals]"]
    paths = study([regime, "study.name=tiny_study", *two_tasks], params_file=str(params_file))

    results = json.loads(Path(paths["json"]).read_text())
    arm = results["regimes"]["half"]["arms"]["contrast=on"]
    assert arm["seeds"] == [0, 1] and len(arm["effects"]["delta_m"]["diffs"]) == 2
    assert results["regimes"]["half"]["host_seeds"] == [0, 1]
    assert results["baselines"]["seeds"] == [0] and set(results["baselines"]["metrics"]) == {"depth", "normals"}
    single = results["regimes"]["half"]["single_task"]
    assert list(single) == ["contrast=off", "contrast=on"] and single["contrast=on"]["seeds"] == [0, 1]
    baseline = tmp_path / "studies" / "tiny_study" / "baselines" / "depth" / "s0"
    assert load_params(baseline / "params.yaml").data.partial.images == 1.0  # full labels, whatever the regime
    markdown = Path(paths["markdown"]).read_text()
    assert markdown.startswith("# The regulariser per data regime (study `tiny_study`)\n")
    assert "half: seeds [0, 1]; single-task baselines: seeds [0], full labels." in markdown
    assert "| half | contrast=on | 2 |" in markdown and "- **half**, contrast=on: " in markdown
    assert "| half | host | 2 |" in markdown and "| half | host + regulariser (contrast=on) | 2 |" in markdown
    assert Path(paths["figure"]).stat().st_size > 10_000 and paths["figure"] == "reports/tiny_study.png"
    child = tmp_path / "studies" / "tiny_study" / "half" / "contrast-on" / "s1"
    assert load_params(child / "params.yaml").data.partial.images == 0.5
    assert json.loads((child / "label_mask.json").read_text())["images_share"] == 0.5

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("mtcontrast/tiny").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("mtc.parent") == "true"]
    assert parent.info.run_name == "study-tiny_study" and parent.info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 6 and {r.data.tags["study.regime"] for r in children} == {"half", "baselines"}
    assert sorted(a.path for a in client.list_artifacts(parent.info.run_id, "study")) == [
        "study/tiny_study.json",
        "study/tiny_study.md",
        "study/tiny_study.png",
    ]
