"""What a researcher who kills trainings freely relies on, on a tiny real pipeline through the `mtc` CLI:
`kill -9` at random steps loses no metric and logs none twice, resume survives eval-only edits, one training per
run folder, and bad inputs end in one line (exit 2) without leaving a run folder or an MLflow run behind."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

from mtcontrast.data import prepare_dataset
from mtcontrast.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mtcontrast.scenes import generate_scenes

if TYPE_CHECKING:
    from conftest import TinyRecipe

ITERATIONS = 60


@pytest.fixture(scope="module")
def project(tiny_recipe: TinyRecipe, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reliability")
    # resnet18 (not the tiny test encoder): steps slow enough to be killed between checkpoints
    params = tiny_recipe.at(
        root, f"train.iterations={ITERATIONS}", "train.checkpoint_every=5", "model.encoder.name=resnet18"
    )
    generate_scenes(params.scenes, progress=False)
    prepare_dataset(params.data, progress=False)
    tiny_recipe.write(root / "params.yaml", params)
    return root


def _mtc(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlruns/mlflow.db", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mtcontrast.cli", *args, "-q", "--params", str(root / "params.yaml")]
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_after_checkpoint(proc: subprocess.Popen[str], ckpt: Path, at_least: int) -> int:
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        try:
            step = load_checkpoint(ckpt)["step"] if ckpt.is_file() else 0
        except (CheckpointError, OSError):
            step = 0
        if at_least <= step < ITERATIONS:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            return step
        time.sleep(0.05)
    raise AssertionError(f"not killed before the end: {proc.communicate()[1][-2000:]}")


@pytest.mark.slow
def test_kill_9_three_times_then_mlflow_holds_every_step_exactly_once(project: Path) -> None:
    from mlflow import MlflowClient

    run_dir = project / "runs" / "mtl_contrast" / "s0"  # the first of `seeds`: mtc train's default
    ckpt = run_dir / "checkpoint.pt"
    rng = random.Random(0)
    killed = []
    extra: list[str] = []
    for attempt in range(3):
        proc = _mtc(project, "train", "--variant", "mtl_contrast", *extra)
        if attempt == 0:  # a second training of the same run folder is refused while the first runs
            time.sleep(1.0)
            second = _mtc(project, "train", "--variant", "mtl_contrast")
            _, err = second.communicate(timeout=120)
            assert second.returncode == 2, err
            assert "another training of this run folder is running (pid" in err and len(err.strip().splitlines()) == 1
        killed.append(_kill_after_checkpoint(proc, ckpt, (killed[-1] if killed else 0) + rng.randint(5, 12)))
        # eval-only and speed-only edits never restart the training
        extra = ["-S", f"eval.workers={attempt + 1}", "-S", f"train.threads={attempt + 1}"]
    done = _mtc(project, "train", "--variant", "mtl_contrast", *extra)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["resumed_from"] == killed[-1] and killed == sorted(killed) and killed[0] > 0

    client = MlflowClient(f"sqlite:///{project}/mlruns/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("mtcontrast/scenes_nyudv2").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"  # one training, one run, nothing left RUNNING
    run_id = runs[0].info.run_id
    for key in ("train/loss", "train/lr", "train/loss_contrast"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == list(range(1, ITERATIONS + 1)), key
    history = [json.loads(line)["step"] for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert history == list(range(1, ITERATIONS + 1))
    assert not list(run_dir.glob(".checkpoint.pt.tmp-*")) and not list(run_dir.glob("checkpoint.previous-*"))

    # a complete checkpoint of the same recipe is reused: nothing trains again
    again = _mtc(project, "train", "--variant", "mtl_contrast", "-S", "eval.batch_size=1")
    assert again.communicate(timeout=120)[0] == "" and again.returncode == 0
    assert load_checkpoint(ckpt)["step"] == ITERATIONS and not list(run_dir.glob("checkpoint.previous-*"))
    # a changed recipe moves the old checkpoint aside and says which key changed
    changed = _mtc(project, "train", "--variant", "mtl_contrast", "-S", "loss.contrast.weight=0.5")
    out, err = changed.communicate(timeout=300)
    assert changed.returncode == 0, err
    assert f"not resuming {ckpt} (step {ITERATIONS}): the recipe changed: loss.contrast.weight; moved it to" in out
    assert len(list(run_dir.glob("checkpoint.previous-*.pt"))) == 1


def _main(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """`mtc` in this process (no import cost): the same code path as the command line."""
    from mtcontrast.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlruns/mlflow.db")
    monkeypatch.chdir(root)
    return main([*args, "-q", "--params", str(root / "params.yaml")])


def test_stale_checkpoint_temps_are_removed_at_start(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = project / "runs" / "depth" / "s0"
    run_dir.mkdir(parents=True)
    stale = run_dir / ".checkpoint.pt.tmp-999999"
    stale.write_bytes(b"\0" * 1024)
    assert _main(project, monkeypatch, "train", "--variant", "depth", "-S", "train.iterations=2") == 0
    assert not stale.exists() and (run_dir / "checkpoint.pt").is_file()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model.encoder.name=resnet_nonexistent"], "model.encoder.name = 'resnet_nonexistent' is not a timm"),
        (["model.encoder.pretrained_file=/nonexistent/w.pth"], "'/nonexistent/w.pth': file not found"),
        (["data.name=missing"], "prepared split not found"),
    ],
    ids=["unknown-encoder", "missing-weights", "missing-data"],
)
def test_inputs_rejected_before_training_leave_nothing_behind(
    project: Path, overrides: list[str], expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from mlflow import MlflowClient

    args = [a for o in overrides for a in ("-S", o)]
    code = _main(project, monkeypatch, "train", "--variant", "normals", "-S", f"train.runs_dir={project}/no", *args)
    err = "\n".join(line for line in capsys.readouterr().err.splitlines() if "mlflow.store.db" not in line)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and not (project / "no").exists()
    client = MlflowClient(f"sqlite:///{project}/mlruns/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not [r for r in client.search_runs(experiments) if r.data.tags.get("variant") == "normals"]


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_checkpoint_is_one_line_naming_the_file(
    project: Path, damage: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    run_dir = project / f"corrupt-{damage}" / "normals" / "s0"
    run_dir.mkdir(parents=True)
    ckpt = run_dir / "checkpoint.pt"
    save_checkpoint(ckpt, {"model": {"w": torch.zeros(1000)}, "step": 1})
    source = ckpt.read_bytes()
    ckpt.write_bytes(source[: len(source) // 2] if damage == "truncated" else b"not a checkpoint" * 100)
    for command in ("train", "evaluate"):
        code = _main(
            project, monkeypatch, command, "--variant", "normals", "-S", f"train.runs_dir={run_dir.parent.parent}"
        )
        err = [line for line in capsys.readouterr().err.splitlines() if "mlflow.store.db" not in line]
        assert code == 2, err
        assert len(err) == 1 and err[0].startswith(f"mtc {command}: error: {ckpt}: not a readable checkpoint"), err
        assert "weights_only=False" not in err[0] and "truncated or corrupt" in err[0]


@pytest.fixture
def small_mount(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``mount(options)``: a 1 MB tmpfs under tmp_path (root only; the test is skipped where mounting is refused)."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        where = tmp_path / f"mnt{len(mounted)}"
        where.mkdir()
        out = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"{options},size=1m", "tmpfs", str(where)], capture_output=True
        )
        if out.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {out.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", str(where)], check=False)


def test_a_read_only_runs_dir_is_refused_before_anything_starts(
    project: Path, small_mount: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from mlflow import MlflowClient

    ro = small_mount("ro")
    code = _main(project, monkeypatch, "train", "--variant", "edge", "-S", f"train.runs_dir={ro}/runs")
    err = [line for line in capsys.readouterr().err.splitlines() if "mlflow.store.db" not in line]
    assert code == 2 and err == [f"mtc train: error: {ro}: not writable; train.runs_dir must be a writable folder"]
    client = MlflowClient(f"sqlite:///{project}/mlruns/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not [r for r in client.search_runs(experiments) if r.data.tags.get("variant") == "edge"]


def test_a_full_disk_under_the_runs_dir_is_one_line_and_no_temp_file(
    project: Path, small_mount: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from mlflow import MlflowClient

    full = small_mount("rw")
    code = _main(
        project,
        monkeypatch,
        "train",
        "--variant",
        "sal_free",
        "-S",
        f"train.runs_dir={full}",
        "-S",
        "train.iterations=2",
        "-S",
        'variants={"sal_free": {"tasks": ["depth"], "host": "mtl_baseline"}}',
    )
    err = [line for line in capsys.readouterr().err.splitlines() if "mlflow.store.db" not in line]
    ckpt = full / "sal_free" / "s0" / "checkpoint.pt"
    assert code == 2 and err == [f"mtc train: error: {ckpt}: cannot write the checkpoint: no space left on device"]
    assert not list(ckpt.parent.glob(".checkpoint.pt.tmp-*")) and not ckpt.exists()
    client = MlflowClient(f"sqlite:///{project}/mlruns/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    (run,) = [r for r in client.search_runs(experiments) if r.data.tags.get("variant") == "sal_free"]
    assert run.info.status == "FAILED" and "no space left on device" in run.data.tags["mtc.error"]


def test_a_truncated_train_split_is_refused_before_a_run_exists(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from mlflow import MlflowClient

    prepared = tmp_path / "prepared" / "scenes_nyudv2"
    prepared.mkdir(parents=True)
    source = (project / "prepared" / "scenes_nyudv2" / "train.h5").read_bytes()
    (prepared / "train.h5").write_bytes(source[: len(source) // 2])
    args = ["-S", f"data.prepared_dir={tmp_path / 'prepared'}", "-S", f"train.runs_dir={tmp_path / 'runs'}"]
    code = _main(project, monkeypatch, "train", "--variant", "semseg", *args)
    err = [line for line in capsys.readouterr().err.splitlines() if "mlflow.store.db" not in line]
    assert code == 2 and len(err) == 1 and str(prepared / "train.h5") in err[0] and "truncated" in err[0], err
    assert not (tmp_path / "runs").exists()
    client = MlflowClient(f"sqlite:///{project}/mlruns/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not [r for r in client.search_runs(experiments) if r.data.tags.get("variant") == "semseg"]


def test_the_prefect_server_command_keeps_analytics_off_and_its_home_in_the_project(repo_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}  # not under make
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", "prefect-server"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    (command,) = [line for line in out.stdout.splitlines() if "prefect server start" in line]
    assert f"PREFECT_HOME={repo_root}/.prefect" in command and "PREFECT_SERVER_ANALYTICS_ENABLED=false" in command
    assert command.endswith("prefect server start --host 127.0.0.1")


def test_run_folder_housekeeping_is_invisible_to_dvc(repo_root: Path) -> None:
    """The lock (a pid), killed-write temps and moved-aside checkpoints must not make report / figures stale."""
    names = [
        "runs/mtl/s0/.lock",
        "runs/mtl/s0/.checkpoint.pt.tmp-12",
        "runs/mtl/s1/checkpoint.previous-20261202-151500.pt",
    ]
    dvc = [sys.executable, "-m", "dvc", "check-ignore", "-q"]
    for name in names:
        assert subprocess.run([*dvc, name], cwd=repo_root).returncode == 0, name
    assert subprocess.run([*dvc, "runs/mtl/s0/checkpoint.pt"], cwd=repo_root).returncode == 1
