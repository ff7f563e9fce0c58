"""`dvc repro` end to end in a temporary git clone with a tiny profile (slow: ~3-5 min on 2 cores).

make test-slow        # or: .venv/bin/python -m pytest -m slow tests/slow
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mtcontrast.config import all_variants, load_params, run_items

TINY = [
    "scenes.image_size=[64, 80]",
    "scenes.train=8",
    "scenes.val=4",
    "train.crop_size=[64, 80]",
    "model.head_channels=16",
    "model.fuse_channels=32",
    "loss.contrast.anchors_per_image=16",
    "loss.contrast.proj_dim=16",
    "train.batch_size=2",
    "train.iterations=4",
    "train.log_every=2",
    "train.checkpoint_every=2",
    "train.threads=1",
    "seeds=[0, 1]",  # two seeds: the matrix expansion and the paired report, end to end
]


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.mark.slow
def test_dvc_repro_runs_the_whole_pipeline_in_a_fresh_clone(repo_root: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo_root), str(clone)], check=True)
    params = load_params(clone / "params.yaml", TINY)
    (clone / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # `python` in dvc.yaml = this venv
    dvc = [sys.executable, "-m", "dvc"]

    _run([*dvc, "repro"], clone, env)
    results = (clone / "reports" / "results.md").read_text()
    for variant in all_variants(params):
        assert f"| {variant} |" in results
    metrics = json.loads((clone / "reports" / "metrics.json").read_text())
    assert set(metrics["delta_m"]) == {"mtl", "mtl_contrast"}
    assert metrics["seeds"] == [0, 1] and set(metrics["runs"]["mtl"]) == {"0", "1"}
    effect = metrics["contrast_minus_host"]["mtl_contrast-mtl"]["effects"]["delta_m"]
    assert effect["n"] == 2 and effect["low"] <= effect["mean"] <= effect["high"] and effect["bootstrap"] is not None
    assert "95 % t interval over seeds" in results and "**Verdict: " in results
    for v, seed in run_items(params):
        assert (clone / "runs" / v / f"s{seed}" / "eval" / "metrics.json").is_file()
    assert len(run_items(params)) == 4 + 2 * 2 and not (clone / "runs" / "semseg" / "s1").exists()  # baselines: s0
    assert "Δm: against the single-task baselines of seed 0 (trained on seed 0 only)" in results
    assert (clone / "reports" / "figures" / "forest.png").is_file()
    assert set(metrics["floors"]) == {"semseg", "depth", "normals", "edge"}
    assert (clone / "reports" / "figures").is_dir() and any((clone / "reports" / "figures").glob("*.png"))
    assert (clone / "mlruns" / "mlflow.db").is_file()
    assert "up to date" in _run([*dvc, "repro"], clone, env)  # nothing re-runs
    shown = _run([*dvc, "metrics", "show", "--json"], clone, env)
    assert "delta_m" in shown and "reports/headline/mtl_contrast-mtl.s1.json" in shown
