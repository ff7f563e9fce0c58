"""The training / evaluation engine on a tiny real pipeline: kill-and-resume, the non-finite guard, DDP metrics.

Everything runs the real code paths (the `mtc` CLI in subprocesses, torchrun with gloo) on procedural scenes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np
import pytest
import torch
import yaml

from mtcontrast.config import Params
from mtcontrast.data import prepare_dataset
from mtcontrast.engine.checkpoint import load_checkpoint
from mtcontrast.engine.evaluator import evaluate_variant
from mtcontrast.engine.sampler import IterationSampler
from mtcontrast.engine.trainer import NonFiniteLossError, train_variant, val_steps
from mtcontrast.metrics.delta_m import DELTA_M_METRICS
from mtcontrast.scenes import generate_scenes

if TYPE_CHECKING:
    from conftest import TinyRecipe


@pytest.fixture(scope="module")
def tiny(tiny_recipe: TinyRecipe, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Procedural scenes (8 + 4 images, 64×80) prepared once for the module; each test trains in its own runs dir."""
    root = tmp_path_factory.mktemp("engine")
    params = tiny_recipe.at(root)
    generate_scenes(params.scenes, progress=False)
    prepare_dataset(params.data, progress=False)
    return root


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db", "OMP_NUM_THREADS": "1"}


def test_killed_run_resumes_to_the_same_final_metrics(tiny_recipe: TinyRecipe, tiny: Path) -> None:
    iterations = 200
    steps = [f"train.iterations={iterations}", "train.checkpoint_every=5"]
    p_full = tiny_recipe.at(tiny, f"train.runs_dir={tiny}/full", *steps)
    p_kill = tiny_recipe.at(tiny, f"train.runs_dir={tiny}/killed", *steps)
    train_variant(p_full, "mtl_contrast", progress=False)

    cmd = [
        sys.executable,
        "-m",
        "mtcontrast.cli",
        "train",
        "--variant",
        "mtl_contrast",
        "-q",
        "--params",
        str(tiny_recipe.write(tiny / "killed.yaml", p_kill)),
    ]
    ckpt = p_kill.train.run_paths("mtl_contrast", 0).checkpoint
    proc = subprocess.Popen(cmd, env=_env(tiny), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed_at = None
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if ckpt.is_file():
            step = load_checkpoint(ckpt)["step"]
            if 0 < step < iterations:
                proc.send_signal(signal.SIGKILL)
                killed_at = step
                break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert killed_at is not None, f"run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    assert proc.returncode == -signal.SIGKILL

    resumed = train_variant(p_kill, "mtl_contrast", progress=False)
    assert resumed.resumed_from == killed_at
    full_state = load_checkpoint(p_full.train.run_paths("mtl_contrast", 0).checkpoint)["model"]
    kill_state = load_checkpoint(ckpt)["model"]
    assert full_state.keys() == kill_state.keys()
    assert all(torch.equal(full_state[k], kill_state[k]) for k in full_state)
    m_full = evaluate_variant(p_full, "mtl_contrast", progress=False).metrics
    m_kill = evaluate_variant(p_kill, "mtl_contrast", progress=False).metrics
    assert m_full == m_kill


def _poison_depth(path: Path, index: int) -> None:
    with h5py.File(path, "r+") as f:
        depth = f["depth"][index]
        f["depth"][index] = np.where(depth > 0, np.inf, 0.0)  # valid pixels with infinite labels: the loss is inf


def test_nonfinite_steps_are_skipped_and_counted(tiny_recipe: TinyRecipe, tiny: Path, tmp_path: Path) -> None:
    params = tiny_recipe.at(tiny, f"train.runs_dir={tiny}/poisoned", f"data.prepared_dir={tmp_path}/prepared")
    prepare_dataset(params.data, progress=False)
    _poison_depth(params.data.prepared_path("train"), 0)
    result = train_variant(params, "depth", progress=False)
    sampler = IterationSampler(8, 2, seed=params.seeds[0])  # train_variant's default: the first seed
    expected = sum(0 in idx for _, idx in zip(range(params.train.iterations), (b for _, b in sampler.batches(0))))
    assert expected > 0 and result.skipped_steps == expected
    assert all(
        torch.isfinite(v).all() for v in load_checkpoint(result.checkpoint)["model"].values() if v.is_floating_point()
    )


def test_consecutive_nonfinite_losses_abort_with_a_clear_error(
    tiny_recipe: TinyRecipe, tiny: Path, tmp_path: Path
) -> None:
    params = tiny_recipe.at(
        tiny, f"train.runs_dir={tiny}/allbad", f"data.prepared_dir={tmp_path}/prepared", "train.max_nonfinite=3"
    )
    prepare_dataset(params.data, progress=False)
    for i in range(8):
        _poison_depth(params.data.prepared_path("train"), i)
    with pytest.raises(NonFiniteLossError, match="3 consecutive non-finite losses at step 2"):
        train_variant(params, "depth", progress=False)


def _torchrun(root: Path, params_file: Path, *args: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "mtcontrast.cli",
        *args,
        "-q",
        "--params",
        str(params_file),
    ]
    out = subprocess.run(cmd, env=_env(root), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]


def test_ddp_training_runs_and_ddp_metrics_equal_single_process(tiny_recipe: TinyRecipe, tiny: Path) -> None:
    params: Params = tiny_recipe.at(tiny, f"train.runs_dir={tiny}/ddp")
    params_file = tiny_recipe.write(tiny / "ddp.yaml", params)
    _torchrun(tiny, params_file, "train", "--variant", "mtl")
    ckpt = load_checkpoint(params.train.run_paths("mtl", 0).checkpoint)
    assert ckpt["step"] == params.train.iterations and len(ckpt["rng"]) == 2  # both ranks' RNG states saved
    single = evaluate_variant(params, "mtl", progress=False).metrics
    metrics_file = params.train.run_paths("mtl", 0).metrics
    metrics_file.unlink()
    _torchrun(tiny, params_file, "evaluate", "--variant", "mtl")
    ddp = json.loads(metrics_file.read_text())
    assert ddp["images"] == 4
    for task, values in single.items():
        for key, value in values.items():
            assert ddp["tasks"][task][key] == pytest.approx(value, rel=1e-9, abs=1e-12), (task, key)


def test_evaluation_depends_on_the_checkpoint_and_eval_only(
    tiny_recipe: TinyRecipe, tiny: Path, repo_root: Path
) -> None:
    """Edits of ``loss``, ``model`` or ``train.augment`` after training change nothing about the evaluation: the model
    is rebuilt from the params stored in the checkpoint, and dvc.yaml declares exactly that."""
    params = tiny_recipe.at(tiny, f"train.runs_dir={tiny}/frozen")
    train_variant(params, "mtl_contrast", progress=False)
    before = evaluate_variant(params, "mtl_contrast", progress=False).metrics
    edited = tiny_recipe.at(
        tiny,
        f"train.runs_dir={tiny}/frozen",
        "loss.contrast.weight=0.3",
        "loss.weights.depth=3.0",
        "train.augment.scale=[0.5, 2.0]",
        "model.head_channels=8",
    )
    assert evaluate_variant(edited, "mtl_contrast", progress=False).metrics == before
    other = evaluate_variant(tiny_recipe.at(tiny, f"train.runs_dir={tiny}/frozen", "eval.limit=2"), "mtl_contrast")
    assert other.images == 2 and other.metrics != before  # while `eval` does change it
    stages = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]
    assert stages["evaluate"]["params"] == ["eval"]


def _first_batches(p: Params, steps: int = 3) -> tuple[dict[str, torch.Tensor], list[list[int]], list[torch.Tensor]]:
    """What a training of resolved params ``p`` starts from: the host's initial state, the indices of its first
    batches and their augmented images, built by the trainer's own functions."""
    from mtcontrast.data.dataset import build_dataset
    from mtcontrast.engine.trainer import _batches, _EpochIndexed, build_training_model

    model = build_training_model(p)
    dataset = build_dataset(p, "train", tasks=model.host.tasks)
    sampler = IterationSampler(len(dataset), p.train.batch_size, seed=p.seed)
    batches, images = [], []
    for _, batch in zip(range(steps), _batches(sampler, 0), strict=False):
        batches.append([i for _, i in batch])
        images.append(torch.stack([torch.as_tensor(_EpochIndexed(dataset)[item]["image"]) for item in batch]))
    return {k: v.clone() for k, v in model.host.state_dict().items()}, batches, images


def test_host_and_regularised_runs_of_one_seed_share_initial_weights_and_data(
    tiny_recipe: TinyRecipe, tiny: Path
) -> None:
    """Each seed is a paired comparison: `mtl` and `mtl_contrast` of one seed start from the same host weights
    (bitwise) and read the same batches; the projectors are built after the host, from their own draws."""
    from mtcontrast.config import resolve_variant

    params = tiny_recipe.at(tiny)
    host_state, host_batches, host_images = _first_batches(resolve_variant(params, "mtl", 1))
    reg_state, reg_batches, reg_images = _first_batches(resolve_variant(params, "mtl_contrast", 1))
    assert host_state.keys() == reg_state.keys()
    assert all(torch.equal(host_state[k], reg_state[k]) for k in host_state)
    assert host_batches == reg_batches
    assert all(torch.equal(a, b) for a, b in zip(host_images, reg_images, strict=True))
    other_state, other_batches, _ = _first_batches(resolve_variant(params, "mtl", 2))  # another seed: another pair
    assert other_batches != host_batches
    assert not all(torch.equal(host_state[k], other_state[k]) for k in host_state if k.endswith("weight"))


def test_same_params_and_seed_give_bit_identical_metrics_in_fresh_processes(
    tiny_recipe: TinyRecipe, tiny: Path, tmp_path: Path
) -> None:
    """Two fresh processes, one thread each, same params and seed: the same weights and the same metrics, bit for
    bit (the regulariser's draws included). README *Determinism* lists what this does not cover."""
    script = (
        "import sys; from mtcontrast.config import load_params;"
        "from mtcontrast.engine.trainer import train_variant; from mtcontrast.engine.evaluator import evaluate_variant;"
        "p = load_params(sys.argv[1]).at_seed(1);"
        "train_variant(p, 'mtl_contrast', progress=False); evaluate_variant(p, 'mtl_contrast', progress=False)"
    )
    outputs = []
    for name in ("a", "b"):
        params = tiny_recipe.at(tiny, f"train.runs_dir={tmp_path}/{name}")
        file = tiny_recipe.write(tmp_path / f"{name}.yaml", params)
        cmd = [sys.executable, "-c", script, str(file)]  # the engine's train + evaluate, in a process of its own
        out = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        paths = params.train.run_paths("mtl_contrast", 1)
        outputs.append((json.loads(paths.metrics.read_text())["tasks"], load_checkpoint(paths.checkpoint)["model"]))
    (metrics_a, weights_a), (metrics_b, weights_b) = outputs
    assert metrics_a == metrics_b  # exact float equality, every task and metric
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_val_steps_are_evenly_spaced_and_end_at_the_last_step() -> None:
    assert val_steps(250, 5) == {50, 100, 150, 200, 250}  # the last two: 80 % and 100 % of the steps
    assert val_steps(6, 5) == {1, 2, 4, 5, 6}
    assert val_steps(3, 5) == {1, 2, 3}  # more evaluations than steps: one per step at most
    assert val_steps(100, 0) == frozenset()


def test_val_evals_log_the_evaluator_metric_and_change_no_weight(tiny_recipe: TinyRecipe, tiny: Path) -> None:
    """``train.val_evals`` scores the host on val during training with the evaluator's own meters: the point at the
    last step equals `evaluate@`'s number, and evaluating changes nothing in the training (same weights)."""
    same = "train.val_edge_threshold_step=1"  # all thresholds, as evaluate@ (eval.edge_threshold_step = 1)
    runs = {
        n: tiny_recipe.at(tiny, f"train.runs_dir={tiny}/val{n}", f"train.val_evals={n}", same).at_seed(0)
        for n in (0, 3)
    }
    for params in runs.values():
        train_variant(params, "mtl", progress=False)
    state = {n: load_checkpoint(p.train.run_paths("mtl", p.seed).checkpoint)["model"] for n, p in runs.items()}
    assert all(torch.equal(state[0][k], state[3][k]) for k in state[0])
    history = {n: p.train.run_paths("mtl", p.seed).history for n, p in runs.items()}
    rows = [json.loads(line) for line in history[3].read_text().splitlines()]
    val_rows = {r["step"]: {k: v for k, v in r.items() if k.startswith("val/")} for r in rows if "val/depth_rmse" in r}
    assert sorted(val_rows) == [2, 4, 6]
    assert set(val_rows[6]) == {"val/semseg_miou", "val/depth_rmse", "val/normals_mean", "val/edge_odsf"}
    final = evaluate_variant(runs[3], "mtl", progress=False).metrics
    assert val_rows[6] == {f"val/{t}_{m}": final[t][m] for t, (m, _) in DELTA_M_METRICS.items() if t in final}
    assert not any(k.startswith("val/") for line in history[0].read_text().splitlines() for k in json.loads(line))
    summary = json.loads((runs[3].train.run_paths("mtl", runs[3].seed).dir / "train_summary.json").read_text())
    assert 0 < summary["val_seconds"] < summary["seconds"]
