"""The README's "Your first experiment", line by line, in a fresh clone on a tiny recipe (slow: ~5-8 min on 2 cores).

The commands are read from the README section itself, so the walk and this test cannot drift apart. The clone's
params.yaml gets the tiny recipe (two tasks, a few steps) through DVC's own ``-S`` rewrite and is committed; then
``dvc repro`` stands in for ``make run`` (which would install a virtual environment of its own), and every line of
the walk runs as written, with the clone's ``.venv`` a link to this one. ``mtc ui`` gets ``--port`` (a free port).

    make test-slow        # or: .venv/bin/python -m pytest -m slow tests/slow/test_first_experiment.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mtcontrast.config import load_params, run_items

if TYPE_CHECKING:
    from conftest import TinyRecipe

# the tiny recipe of tests/conftest.py (4 steps) on two tasks (no edge task: no odsF), in `dvc exp run -S` syntax
WALK_CHANGES = [
    "train.iterations=4",
    "~baselines.semseg",
    "~baselines.edge",
    "variants.mtl.tasks=[depth,normals]",
    "variants.mtl_contrast.tasks=[depth,normals]",
    "seeds=[0, 1]",
]


def readme_walk(readme: Path) -> list[str]:
    """The commands of the first bash block under "## Your first experiment" (comments and blank lines dropped)."""
    text = readme.read_text()
    section = text.split("## Your first experiment", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README: no bash block in 'Your first experiment'"
    lines = [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_readme_first_experiment_runs_as_written(repo_root: Path, tmp_path: Path, tiny_recipe: TinyRecipe) -> None:
    from dvc.utils.hydra import apply_overrides

    walk = readme_walk(repo_root / "README.md")
    assert walk[0] == "source .venv/bin/activate" and walk[-1] == "mtc ui"
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo_root), str(clone)], check=True)
    assert readme_walk(clone / "README.md") == walk
    (clone / ".venv").symlink_to(Path(sys.prefix))
    tiny = [o for o in tiny_recipe.overrides if not o.startswith("train.iterations=")]
    apply_overrides(str(clone / "params.yaml"), [*tiny, *WALK_CHANGES])
    params = load_params(clone / "params.yaml")
    assert list(params.baselines) == ["depth", "normals"] and list(params.variants) == ["mtl", "mtl_contrast"]
    assert params.baseline_seeds == [0]
    ident = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "VIRTUAL_ENV")} | ident
    for key, value in (("user.name", "t"), ("user.email", "t@t")):
        subprocess.run(["git", "config", key, value], cwd=clone, check=True)
    subprocess.run(["git", "commit", "-qam", "tiny recipe"], cwd=clone, check=True, env=env)

    def bash(line: str) -> str:
        out = subprocess.run(
            ["bash", "-c", f"{walk[0]} && {line}"], cwd=clone, env=env, capture_output=True, text=True, timeout=1500
        )
        assert out.returncode == 0, f"{line} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out.stdout + out.stderr

    bash("dvc repro")  # what `make run` does once .venv is installed
    outputs = {line: bash(line) for line in walk[1:-1]}

    shown = outputs["dvc metrics show"]
    assert max(map(len, shown.splitlines())) <= 120, shown
    rows = {line.split()[0] for line in shown.splitlines()[1:]}
    compared = [*params.variants, "mtl_contrast-mtl"]  # the mean over seeds and every seed's own row
    expected = {"floor", *params.baselines, *compared, *(f"{r}.s{seed}" for r in compared for seed in params.seeds)}
    expected |= {f"{b}.s0" for b in params.baselines}  # the baselines: seed 0 only
    assert rows == {f"reports/headline/{r}.json" for r in expected}

    run = next(out for line, out in outputs.items() if line.startswith("dvc exp run"))
    ran = re.findall(r"Running stage '([^']+)'", run)
    trained = sorted(s for s in ran if s.startswith("train@"))
    assert trained == ["train@mtl_contrast-0", "train@mtl_contrast-1"], ran  # the baselines, mtl: kept
    assert {"evaluate@mtl_contrast-0", "evaluate@mtl_contrast-1", "report"} <= set(ran)
    assert not {"evaluate@mtl-0", "evaluate@mtl-1", "prepare"} & set(ran)
    assert "didn't change, skipping" in run
    diff = subprocess.run(
        ["git", "diff", "-U0", "HEAD", "--", "params.yaml"], cwd=clone, capture_output=True, text=True
    )
    changed = [d for d in diff.stdout.splitlines() if d[:1] in "+-" and d[:3] not in ("+++", "---")]
    assert [d[0] + d[1:].split("#")[0].strip() for d in changed] == ["-weight: 1.0", "+weight: 0.3"]  # one line

    moved = outputs["dvc metrics diff"]
    assert "reports/headline/mtl_contrast.json" in moved and "reports/headline/depth.json" not in moved
    exps = next(out for line, out in outputs.items() if line.startswith("dvc exp show"))
    assert "lambda-0.3" in exps and "delta_m" in exps

    page = clone / "dvc_plots" / "index.html"
    html = page.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", html) and "vegaEmbed(" in html
    specs = [json.loads(s) for s in re.findall(r"var spec = (\{.*?\});\n\s*vegaEmbed", html, re.S)]
    assert len(specs) == len(run_items(params)) == 2 + 2 * 2  # one chart per run
    for spec in specs:
        assert {p["rev"] for p in spec["data"]["values"]} == {"HEAD", "lambda-0.3"}  # both experiments' curves
        assert {int(p["step"]) for p in spec["data"]["values"]} == {1, 2, 3, 4}

    port = _free_port()
    ui = subprocess.Popen(
        ["bash", "-c", f"{walk[0]} && exec {walk[-1]} --port {port}"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline, seen = time.monotonic() + 240, ""
        while time.monotonic() < deadline and f"http://127.0.0.1:{port}" not in seen:
            line = ui.stdout.readline() if ui.stdout else ""
            if not line and ui.poll() is not None:
                break
            seen += line
        assert f"http://127.0.0.1:{port}" in seen, seen
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGTERM)
        ui.communicate(timeout=60)
