"""MLflow tracking on a real temporary SQLite store: runs, params, tags, metrics, statuses, parents, retries,
the report / evaluation logging and the inference model round trip. Never touches the project's mlruns/."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from mtcontrast import tracking
from mtcontrast.config import Params, load_params
from mtcontrast.tracking import runs, store


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated store per module (creating the schema takes seconds); each test gets a copy."""
    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
        tracking.configure()
    return db


@pytest.fixture
def uri(template_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(template_db, db)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    monkeypatch.setattr(runs, "FLUSH_SECONDS", 1e9)  # flushes only when asked: makes the batching observable
    return tracking.configure()


def _params(tmp_path: Path, *overrides: str) -> Params:
    return load_params(
        None, [f"train.runs_dir={tmp_path / 'runs'}", f"data.prepared_dir={tmp_path / 'data'}", *overrides]
    )


def test_configure_defaults_to_the_project_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(store, "_initialise", lambda uri: None)  # schema creation is covered by the other tests
    uri = tracking.configure()
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    assert store.artifact_root_for(uri) == (tmp_path.resolve() / "mlruns" / "artifacts").as_uri()
    assert os.environ["MLFLOW_TRACKING_URI"] == uri  # exported to subprocesses (DVC stages, flow children)
    assert tracking.configure("sqlite:///rel/x.db") == f"sqlite:///{tmp_path.resolve()}/rel/x.db"  # made absolute


def test_experiment_per_dataset_with_artifacts_beside_the_store(uri: str, tmp_path: Path) -> None:
    params = _params(tmp_path)
    exp_id = tracking.experiment_for(params)
    assert tracking.experiment_for(params) == exp_id
    exp = tracking.client().get_experiment(exp_id)
    assert exp.name == "mtcontrast/scenes_nyudv2"
    assert exp.artifact_location == (tmp_path / "mlruns" / "artifacts" / "scenes_nyudv2").as_uri()
    other = tracking.experiment_for(_params(tmp_path, "data.name=nyud real"))
    assert other != exp_id
    assert tracking.client().get_experiment(other).artifact_location.endswith("/artifacts/nyud_real")


def test_tracked_run_logs_params_tags_and_batched_metrics(uri: str, tmp_path: Path) -> None:
    params = _params(tmp_path, "train.lr=0.002")
    run_dir = tmp_path / "runs" / "mtl_contrast"
    c = tracking.client()
    with tracking.tracked_run(
        params, "mtl_contrast", source="test:train", run_dir=run_dir, extra_tags={"profile": "cpu_tiny", "ticket": 5}
    ) as cb:
        for step in (10, 20, 30):
            cb.on_log(step, {"train/loss": 3.0 / step, "train/lr": 0.002, "train/contrast/semseg_from_depth": 0.5})
        assert c.get_metric_history(cb.run_id, "train/loss") == []  # buffered: one log_batch at the end
        assert c.get_run(cb.run_id).info.status == "RUNNING"
    run = c.get_run(cb.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "mtl_contrast·s0·lr=0.002"  # variant, seed, what differs (test_run_names.py)
    history = c.get_metric_history(cb.run_id, "train/loss")
    assert [(m.step, m.value) for m in history] == [(10, 0.3), (20, 0.15), (30, 0.1)]
    assert [m.value for m in c.get_metric_history(cb.run_id, "train/contrast/semseg_from_depth")] == [0.5] * 3
    p, tags = run.data.params, run.data.tags
    assert p["train.lr"] == "0.002" and p["model.tasks"] == "null" and p["loss.contrast.enabled"] == "true"
    assert (
        p["train.augment.scale"] == json.dumps(list(params.train.augment.scale))
        and p["model.encoder.name"] == "regnetx_002"
    )
    assert not [k for k in p if k.startswith(("variants.", "ablation."))]
    assert len(p) == len(tracking.runs.param_values(load_params(None, []))) > 90
    assert tags["variant"] == "mtl_contrast" and tags["host"] == "mtl_baseline" and tags["encoder"] == "regnetx_002"
    assert tags["source"] == "test:train" and tags["profile"] == "cpu_tiny" and tags["ticket"] == "5"
    assert tags["tasks"] == "semseg,depth,normals,edge" and tags["contrast"] == "true"
    assert tags["data_fingerprint"] == ""  # nothing prepared under this tmp data dir
    assert len(tags["git_commit"]) >= 7
    record = json.loads((run_dir / "mlflow_run.json").read_text())
    assert record["run_id"] == cb.run_id and record["tracking_uri"] == uri
    assert tracking.run_id_of(run_dir) == cb.run_id


def test_a_crash_ends_the_run_failed_with_the_error_and_the_metrics_so_far(uri: str, tmp_path: Path) -> None:
    params = _params(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        with tracking.tracked_run(params, "mtl", source="test", run_dir=tmp_path / "runs" / "mtl") as cb:
            cb.on_log(1, {"train/loss": 2.5})
            raise RuntimeError("boom")
    run = tracking.client().get_run(cb.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["mtc.error"] == "RuntimeError: boom"
    assert [m.value for m in tracking.client().get_metric_history(cb.run_id, "train/loss")] == [2.5]
    with tracking.tracked_run(params, "mtl", source="test", run_dir=tmp_path / "runs" / "mtl") as resumed:
        assert resumed.run_id == cb.run_id  # the re-run continues the crashed run
    tags = tracking.client().get_run(cb.run_id).data.tags
    assert "mtc.error" not in tags and tags["mtc.previous_error"] == "RuntimeError: boom"
    with pytest.raises(KeyboardInterrupt):
        with tracking.tracked_run(params, "semseg", source="test", run_dir=tmp_path / "runs" / "semseg") as cb2:
            raise KeyboardInterrupt
    assert tracking.client().get_run(cb2.run_id).info.status == "KILLED"
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exit_info:  # `kill <pid>` / a stopped DVC stage: closed, not left RUNNING
        with tracking.tracked_run(params, "depth", source="test", run_dir=tmp_path / "runs" / "depth") as cb3:
            os.kill(os.getpid(), signal.SIGTERM)
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert tracking.client().get_run(cb3.run_id).info.status == "KILLED"
    assert signal.getsignal(signal.SIGTERM) is previous  # handler restored


def test_the_same_recipe_reopens_the_run_and_a_new_recipe_starts_another(uri: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "mtl"
    c = tracking.client()
    with tracking.tracked_run(_params(tmp_path), "mtl", source="dvc:train", run_dir=run_dir) as first:
        first.on_log(10, {"train/loss": 1.0})
    # evaluation with another eval setting: same run, params kept, the change noted
    with tracking.tracked_run(
        _params(tmp_path, "eval.batch_size=2"), "mtl", source="dvc:evaluate", run_dir=run_dir
    ) as again:
        assert again.run_id == first.run_id
    run = c.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mtc.sources"] == "dvc:train,dvc:evaluate" and run.data.tags["source"] == "dvc:train"
    assert run.data.params["eval.batch_size"] == "4" and run.data.tags["mtc.params_changed"] == "eval.batch_size"
    # a different training recipe is a different training
    with tracking.tracked_run(_params(tmp_path, "train.lr=0.01"), "mtl", source="dvc:train", run_dir=run_dir) as new:
        assert new.run_id != first.run_id
    assert tracking.run_id_of(run_dir) == new.run_id


def test_training_again_after_a_completed_training_gets_a_new_run(uri: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "mtl"
    params = _params(tmp_path)
    with tracking.tracked_run(params, "mtl", source="dvc:train", run_dir=run_dir) as first:
        pass
    tracking.client().set_tag(first.run_id, "mtc.train_complete", "true")  # what on_end leaves behind
    with tracking.tracked_run(params, "mtl", source="dvc:train", run_dir=run_dir) as cb:
        assert cb.run_id == first.run_id  # could still be an evaluation ...
        cb.on_start(params, "mtl", run_dir, 0)  # ... but the trainer starts over: new run
        cb.on_log(5, {"train/loss": 0.7})
    assert cb.run_id != first.run_id and tracking.run_id_of(run_dir) == cb.run_id
    c = tracking.client()
    assert c.get_run(first.run_id).info.status == "FINISHED"
    assert c.get_metric_history(first.run_id, "train/loss") == []
    assert [m.value for m in c.get_metric_history(cb.run_id, "train/loss")] == [0.7]


def test_a_checkpoint_flushes_and_a_resumed_run_logs_no_step_twice(uri: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "mtl"
    params = _params(tmp_path)
    c = tracking.client()
    with pytest.raises(KeyboardInterrupt):
        with tracking.tracked_run(params, "mtl", source="cli:train", run_dir=run_dir) as cb:
            cb.on_start(params, "mtl", run_dir, 0)
            for step in (1, 2):
                cb.on_log(step, {"train/loss": float(step), "train/lr": 0.1})
            cb.on_checkpoint(2)  # everything up to the checkpoint is in the store now
            assert [m.step for m in c.get_metric_history(cb.run_id, "train/loss")] == [1, 2]
            cb.on_log(3, {"train/loss": 3.0, "train/lr": 0.1})
            cb.flush()  # a time-based flush after the checkpoint, then the process is killed
            raise KeyboardInterrupt
    with tracking.tracked_run(params, "mtl", source="cli:train", run_dir=run_dir) as resumed:
        assert resumed.run_id == cb.run_id
        resumed.on_start(params, "mtl", run_dir, 2)  # resumes from the step-2 checkpoint
        for step in (3, 4):
            resumed.on_log(step, {"train/loss": float(step), "train/lr": 0.1})
    for key in ("train/loss", "train/lr"):
        assert [m.step for m in c.get_metric_history(cb.run_id, key)] == [1, 2, 3, 4]  # each step exactly once


def test_runs_of_dead_processes_are_swept_as_killed(uri: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    params = _params(tmp_path)
    with tracking.tracked_run(params, "mtl", source="test", run_dir=tmp_path / "runs" / "mtl") as alive:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        c = tracking.client()
        orphan = c.create_run(alive.experiment_id, tags={"mtc.pid": dead.stdout.strip(), "mtc.host": os.uname()[1]})
        foreign = c.create_run(alive.experiment_id, tags={"mtc.pid": dead.stdout.strip(), "mtc.host": "elsewhere"})
        assert store.sweep_dead_runs() == [orphan.info.run_id]
        assert c.get_run(orphan.info.run_id).info.status == "KILLED"
        assert "ended without closing the run" in c.get_run(orphan.info.run_id).data.tags["mtc.error"]
        assert c.get_run(alive.run_id).info.status == "RUNNING"  # this process is alive
        assert c.get_run(foreign.info.run_id).info.status == "RUNNING"  # another machine's run: not ours to judge


def test_children_nest_under_a_parent_run(uri: str, tmp_path: Path) -> None:
    params = _params(tmp_path)
    parent = tracking.start_parent_run(params, "ablation-lambda", {"source": "flow:ablation", "grid": "lambda"})
    for name in ("mtl", "mtl_contrast"):
        with tracking.tracked_run(
            params,
            name,
            source="flow:ablation",
            run_dir=tmp_path / "runs" / name,
            parent_run_id=parent,
            run_name=f"lambda/{name}",
        ):
            pass
    tracking.end_parent_run(parent, "FINISHED")
    c = tracking.client()
    children = c.search_runs([tracking.experiment_for(params)], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert sorted(r.info.run_name for r in children) == ["lambda/mtl", "lambda/mtl_contrast"]
    assert c.get_run(parent).info.status == "FINISHED" and c.get_run(parent).data.tags["grid"] == "lambda"
    with pytest.raises(ValueError, match="FINISHED, FAILED or KILLED"):
        tracking.end_parent_run(parent, "DONE")


def test_only_rank_zero_logs(uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    params = _params(tmp_path)
    with tracking.tracked_run(params, "mtl", source="test", run_dir=tmp_path / "runs" / "mtl") as cb:
        cb.on_log(1, {"train/loss": 1.0})
        cb.on_start(params, "mtl", tmp_path, 0)
        cb.on_checkpoint(1)
    assert cb.run_id is None and not (tmp_path / "runs" / "mtl" / "mlflow_run.json").exists()
    assert tracking.log_report(params, {"variants": {"mtl": {}}}, tmp_path) == {}
    assert tracking.client().search_runs([tracking.experiment_for(params)]) == []


def test_retry_repeats_only_lock_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_RETRY_BASE_S", 0.001)
    calls = []

    def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) < 3:
            raise MlflowException("(sqlite3.OperationalError) database is locked")
        return x * 2

    assert tracking.with_retry(flaky, 21) == 42 and len(calls) == 3
    calls.clear()

    def broken() -> None:
        calls.append(0)
        raise MlflowException("RESOURCE_DOES_NOT_EXIST: run 'x' not found")

    with pytest.raises(MlflowException, match="not found"):
        tracking.with_retry(broken)
    assert len(calls) == 1


def test_log_report_adds_delta_m_and_the_report_to_each_run(uri: str, tmp_path: Path) -> None:
    params = _params(tmp_path).model_copy(update={"seeds": [0, 1]})
    ids = {}
    for name in ("semseg", "mtl", "mtl_contrast"):
        for seed in (0, 1):
            run_dir = params.train.run_paths(name, seed).dir
            with tracking.tracked_run(params.at_seed(seed), name, source="dvc:train", run_dir=run_dir) as cb:
                ids[f"{name}·s{seed}"] = cb.run_id
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "results.md").write_text("# results\n")
    (reports / "metrics.json").write_text("{}")
    results = {  # the report's shape: every run's own Δm, and the paired Δm vs host per seed
        "runs": {
            "semseg": {"0": {}, "1": {}},
            "mtl": {"0": {"delta_m": -1.25}, "1": {"delta_m": -2.0}},
            "mtl_contrast": {"0": {"delta_m": 0.5}, "1": {"delta_m": -3.0}},
            "depth": {"0": {}, "1": {}},
        },
        "contrast_minus_host": {"mtl_contrast-mtl": {"per_seed": {"0": {"delta_m": 1.75}, "1": {"delta_m": -1.0}}}},
    }
    logged = tracking.log_report(params, results, reports)
    assert logged == ids  # depth: never tracked, skipped
    c = tracking.client()
    assert c.get_run(ids["mtl·s0"]).data.metrics == {"val/delta_m": -1.25}
    assert c.get_run(ids["mtl_contrast·s0"]).data.metrics == {"val/delta_m": 0.5, "val/delta_m_vs_host": 1.75}
    assert c.get_run(ids["mtl_contrast·s1"]).data.metrics == {"val/delta_m": -3.0, "val/delta_m_vs_host": -1.0}
    assert c.get_run(ids["semseg·s1"]).data.metrics == {}
    assert c.get_run(ids["mtl·s1"]).data.tags["seed"] == "1" and c.get_run(ids["mtl·s1"]).data.tags["variant"] == "mtl"
    assert c.get_metric_history(ids["mtl·s0"], "val/delta_m")[0].step == params.train.iterations
    assert sorted(a.path for a in c.list_artifacts(ids["semseg·s0"], "report")) == [
        "report/metrics.json",
        "report/results.md",
    ]


def test_log_evaluation_logs_val_metrics_and_files(uri: str, tmp_path: Path) -> None:
    from mtcontrast.engine.evaluator import EvalResult

    params = _params(tmp_path)
    run_dir = tmp_path / "runs" / "mtl"
    out_dir = run_dir / "eval"
    out_dir.mkdir(parents=True)
    (out_dir / "metrics.json").write_text("{}")
    pd.DataFrame({"task": ["semseg"], "id": ["a"], "miou": [40.0]}).to_parquet(out_dir / "per_image.parquet")
    (out_dir / "figures").mkdir()
    (out_dir / "figures" / "qualitative.png").write_bytes(b"png")
    metrics = {"semseg": {"miou": 41.5, "pixel_acc": 70.0}, "depth": {"rmse": 0.6}}
    result = EvalResult("mtl", metrics, 3, 1.5, out_dir, step=params.train.iterations)
    with pytest.raises(FileNotFoundError, match="mlflow_run.json"):
        tracking.log_evaluation(result, run_dir)
    with tracking.tracked_run(params, "mtl", source="dvc:evaluate", run_dir=run_dir) as cb:
        assert tracking.log_evaluation(result, run_dir) == cb.run_id
    run = tracking.client().get_run(cb.run_id)
    assert run.data.metrics == {
        "val/semseg/miou": 41.5,
        "val/semseg/pixel_acc": 70.0,
        "val/depth/rmse": 0.6,
        "val/images": 3.0,
        "val/seconds": 1.5,
    }
    names = sorted(a.path for a in tracking.client().list_artifacts(cb.run_id, "eval"))
    assert names == ["eval/metrics.json", "eval/per_image.parquet"]
    assert [a.path for a in tracking.client().list_artifacts(cb.run_id, "figures")] == ["figures/qualitative.png"]
    assert tracking.client().get_metric_history(cb.run_id, "val/depth/rmse")[0].step == params.train.iterations
    assert run.info.status == "FINISHED"


def test_logged_inference_model_loads_and_reproduces_predictions(
    uri: str, tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    import logging

    import mlflow.pyfunc
    import torch

    from mtcontrast.engine.trained import Trained, load_trained
    from mtcontrast.models import build_model, export_inference
    from mtcontrast.tasks import dataset_spec

    params = _params(tmp_path, "model.head_channels=16", "model.fuse_channels=32")
    torch.manual_seed(0)
    host = build_model(params.model, dataset_spec("nyudv2")).train()
    trained = Trained(host, params, tmp_path / "checkpoint.pt", "mtl", 7, {})
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("mlflow").addHandler(handler)  # MLflow's loggers do not propagate to the root
    try:
        with tracking.tracked_run(params, "mtl", source="test", run_dir=tmp_path / "runs" / "mtl") as cb:
            example = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
            info = tracking.log_inference_model(cb.run_id, cb.experiment_id, trained, example)
        mlflow_logger = logging.getLogger("mlflow.pyfunc")
        mlflow_logger.warning("Passing a Python object ... CloudPickle ... can execute arbitrary code")  # seen here
    finally:
        logging.getLogger("mlflow").removeHandler(handler)
    # MLflow's CloudPickle notice (we pickle the small wrapper on purpose) and its input-example hint are filtered
    # during that one call, and only there (the same message afterwards gets through)
    noticed = [r.getMessage() for r in records[:-1]] + [str(w.message) for w in recwarn]
    assert "arbitrary code" in records[-1].getMessage()
    assert not [m for m in noticed if "pickle" in m.lower() or "input example" in m.lower()], noticed
    assert host.training  # logged in eval mode, the caller's mode restored
    host = export_inference(host).eval()
    c = tracking.client()
    run = c.get_run(cb.run_id)
    assert run.data.tags["mtc.model_uri"] == info.model_uri
    assert [o.model_id for o in run.outputs.model_outputs] == [info.model_id]
    model = c.get_logged_model(info.model_id)
    assert model.experiment_id == cb.experiment_id and model.status.to_proto() == 2  # READY
    assert model.artifact_location.startswith((tmp_path / "mlruns" / "artifacts").as_uri())
    sig = info.signature
    assert [(s.shape, s.name) for s in sig.inputs.inputs] == [((-1, 3, -1, -1), None)]
    assert {s.name: s.shape for s in sig.outputs.inputs} == {
        "semseg": (-1, 40, -1, -1),
        "depth": (-1, 1, -1, -1),
        "normals": (-1, 3, -1, -1),
        "edge": (-1, 1, -1, -1),
    }
    # the weights are stored once: the logged model's weights-only host.pt, no pickled module beside it
    stored = sorted(p.name for p in Path(model.artifact_location.removeprefix("file://")).rglob("*") if p.is_file())
    assert "host.pt" in stored and not [n for n in stored if n.endswith((".pth", ".pt")) and n != "host.pt"]

    image = torch.randn(2, 3, 96, 128, generator=torch.Generator().manual_seed(2))  # another size than logged
    with torch.no_grad():
        want = host(image)["final"]
    got = mlflow.pyfunc.load_model(info.model_uri).predict(image.numpy())
    assert sorted(got) == sorted(host.tasks)
    for task in host.tasks:
        assert got[task].shape == tuple(want[task].shape) and np.array_equal(got[task], want[task].numpy())
    safe = load_trained(tracking.host_file(cb.run_id, tmp_path / "dl"))  # weights_only: runs no stored code
    assert safe.variant == "mtl" and safe.step == 7
    with torch.no_grad():
        again = safe.host(image)["final"]
    assert all(torch.equal(again[t], want[t]) for t in want)


def test_gc_frees_the_files_of_deleted_runs_and_keeps_the_others(uri: str, tmp_path: Path) -> None:
    import torch

    from mtcontrast.engine.trained import Trained
    from mtcontrast.models import build_model
    from mtcontrast.tasks import dataset_spec
    from mtcontrast.tracking.gc import collect_garbage

    params = _params(tmp_path, "model.head_channels=16", "model.fuse_channels=32")
    host = build_model(params.model, dataset_spec("nyudv2"))
    runs = {}
    for variant in ("mtl", "mtl_contrast"):
        with tracking.tracked_run(params, variant, source="test", run_dir=tmp_path / "runs" / variant) as cb:
            tracking.log_inference_model(
                cb.run_id, cb.experiment_id, Trained(host, params, tmp_path, variant, 1, {}), torch.zeros(1, 3, 64, 96)
            )
        runs[variant] = cb.run_id
    c = tracking.client()
    model_dirs = {v: Path(tracking.host_file(r, tmp_path / "dl" / v)) for v, r in runs.items()}
    stored = {
        v: Path(c.get_logged_model(c.get_run(r).outputs.model_outputs[0].model_id).artifact_location[len("file://") :])
        for v, r in runs.items()
    }
    assert all((d / "host.pt").is_file() or any(d.rglob("host.pt")) for d in stored.values())
    weights = model_dirs["mtl"].stat().st_size
    assert weights > 1_000_000

    nothing = collect_garbage()  # no deleted run: nothing goes
    assert nothing.runs == [] and nothing.models == [] and all(d.is_dir() for d in stored.values())
    c.delete_run(runs["mtl"])  # what the UI's "Delete" does: only a lifecycle stage
    result = collect_garbage()
    assert result.runs == [runs["mtl"]] and len(result.models) == 1
    assert not stored["mtl"].exists() and any(stored["mtl_contrast"].rglob("host.pt"))
    assert result.freed >= weights  # the weights' bytes came back
    with pytest.raises(MlflowException):
        c.get_run(runs["mtl"])
    assert c.get_run(runs["mtl_contrast"]).info.lifecycle_stage == "active"
