"""Run one child of a study: write its folder, train + evaluate it in a process of its own, read its result.

``python -m mtcontrast.study.run <child dir> [--parent-run-id ID]`` is the child process; :func:`spawn_child`
starts it. Why a process per child: see the docstring of :mod:`mtcontrast.study`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from mtcontrast.config import load_params
from mtcontrast.study.plan import ChildPlan, ChildResult

SOURCE = "flow:ablation"  # the default `source` tag of the children's MLflow runs


class AblationChildError(RuntimeError):
    """A child process that exited non-zero; the message holds the tail of its log."""


@dataclass(frozen=True)
class ChildFiles:
    """The study's own files in a child's run folder (beside the run's :class:`RunPaths` files): the one home of
    these names."""

    dir: Path

    @property
    def params(self) -> Path:  # the child's full params: `mtc train --params <this> --variant <child>` repeats it
        return self.dir / "params.yaml"

    @property
    def meta(self) -> Path:  # its place in the grid
        return self.dir / "child.json"

    @property
    def log(self) -> Path:
        return self.dir / "child.log"

    @property
    def result(self) -> Path:  # written last, only by a child that finished
        return self.dir / "child_result.json"


def write_child_dir(plan: ChildPlan, grid_name: str) -> Path:
    """``params.yaml`` + ``child.json`` in the child's run folder: everything :func:`run_child` needs, in plain
    files (so a child can be repeated or inspected by hand)."""
    files = ChildFiles(plan.run_dir)
    files.dir.mkdir(parents=True, exist_ok=True)
    files.params.write_text(yaml.safe_dump(plan.params.model_dump(mode="json"), sort_keys=False))
    meta = {
        "name": plan.name,
        "seed": plan.seed,
        "setting": plan.setting,
        "overrides": plan.overrides,
        "grid": grid_name,
    }
    files.meta.write_text(json.dumps(meta, indent=2))
    files.result.unlink(missing_ok=True)
    return files.dir


def run_child(run_dir: Path, parent_run_id: str | None, source: str = SOURCE) -> ChildResult:
    """Train + evaluate the child in ``run_dir`` as one MLflow run nested under ``parent_run_id``; writes
    ``child_result.json``. Runs inside the child process."""
    files = ChildFiles(Path(run_dir))
    meta = json.loads(files.meta.read_text())
    params = load_params(files.params)

    import mtcontrast._compat  # noqa: F401  (torchvision guard before timm / mlflow.pytorch)
    from mtcontrast.config import resolve_variant
    from mtcontrast.evaluation import run_evaluation
    from mtcontrast.tracking import run_id_of
    from mtcontrast.tracking.names import run_name
    from mtcontrast.training import run_training

    name, seed = meta["name"], params.seed  # the child's params hold its one seed
    tags = {"ablation.grid": meta["grid"], "ablation.setting": meta["setting"], "ablation.child": name}
    grid_keys = list(meta["overrides"])  # shown even where a value equals the default: the child's grid point
    label = run_name(resolve_variant(params, name), name, label=params.ablation.variant, always=grid_keys)
    run = {"parent_run_id": parent_run_id, "run_name": label, "extra_tags": tags}  # the same run for both
    trained = run_training(params, name, source=source, progress=False, **run)
    evaluated = run_evaluation(params, name, source=source, progress=False, **run)
    result = ChildResult(
        name,
        meta["setting"],
        meta["overrides"],
        evaluated.metrics,
        run_id_of(params.train.run_paths(name, seed).dir),
        round(trained.seconds + evaluated.seconds, 2),
        {"train_seconds": round(trained.seconds, 2)},
        seed,
    )
    files.result.write_text(json.dumps(asdict(result), indent=2))
    return result


def child_threads(max_parallel: int) -> int:
    """torch threads per child: the cores shared evenly between the children that train at once."""
    return max(1, (os.cpu_count() or 1) // max_parallel)


def spawn_child(
    run_dir: Path,
    parent_run_id: str | None,
    *,
    threads: int,
    tracking_uri: str | None = None,
    on_line: Callable[[str], None] | None = None,
) -> ChildResult:
    """Run :func:`run_child` in a fresh Python process (log: ``child.log``) and read its result. ``on_line`` gets
    each line of the child's output as it comes (the ablation flow puts them in its task log: training progress)."""
    files = ChildFiles(Path(run_dir))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    cmd = [sys.executable, "-m", "mtcontrast.study.run", str(files.dir)]
    if parent_run_id:
        cmd += ["--parent-run-id", parent_run_id]
    with (
        files.log.open("w") as log,
        subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if on_line is not None and line.strip():
                on_line(line.rstrip())
    code = proc.returncode
    if code != 0 or not files.result.is_file():
        tail = "\n".join(files.log.read_text(errors="replace").splitlines()[-25:])
        raise AblationChildError(
            f"ablation child {files.dir.parent.name}/{files.dir.name} failed (exit code {code}); {files.log} ends:\n{tail}"
        )
    return ChildResult(**json.loads(files.result.read_text()))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mtcontrast.study.run <child dir> [--parent-run-id ID]``: the child process of
    :func:`spawn_child`."""
    from mtcontrast.study.summary import primary_metrics

    parser = argparse.ArgumentParser(prog="python -m mtcontrast.study.run", description=main.__doc__)
    parser.add_argument("run_dir", type=Path, help="a child folder written by write_child_dir")
    parser.add_argument("--parent-run-id", default=None, help="MLflow run id of the study's parent run")
    parser.add_argument("--source", default=SOURCE, help="the run's `source` tag")
    args = parser.parse_args(argv)
    result = run_child(args.run_dir, args.parent_run_id, args.source)
    print(json.dumps({"child": result.key, "run_id": result.run_id, **primary_metrics(result.metrics)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
