"""Prefect flow ``train-eval``: the DVC pipeline (``dvc.yaml``), run as DVC commands, one Prefect task each.

DVC owns the dependency graph; Prefect only sequences the commands, shows their progress, retries the I/O steps
and schedules the flow (``pipelines/schedule.py``). Without overrides the tasks are ``dvc repro prepare``, then
``dvc repro train@<v> evaluate@<v>`` per variant, then ``dvc repro`` (floors, report, figures), so ``dvc.lock``
records every output and ``dvc status`` is clean afterwards. With ``-S`` overrides it is one ``dvc exp run -S …``
(an experiment ``dvc exp show`` lists; DVC writes the values into params.yaml, as it does on the command line).

Inputs: the DVC project in ``repo_dir`` (params.yaml, dvc.yaml, the raw data). Outputs: what ``dvc.yaml`` declares
(``runs/<variant>/``, ``reports/{results.md,metrics.json,floors.json,figures/}``), the MLflow runs the stages
record, and ``reports/results.md`` as the Prefect markdown artifact ``results-<data.name>``.

    python -m pipelines.train_eval                               # dvc repro, one task per step
    python -m pipelines.train_eval --variant mtl --variant mtl_contrast      # only these variants' train/evaluate
    python -m pipelines.train_eval -S train.iterations=50 -n short           # dvc exp run -S train.iterations=50
    prefect deployment run 'train-eval/nightly' --watch          # when served by pipelines/schedule.py

Overrides and variant names are checked against the params schema before any DVC command runs, so a typo never
reaches params.yaml. Only ``prepare`` and the final ``dvc repro`` are retried (data and report I/O; DVC re-runs
only what did not finish); training and evaluation never are (a killed training resumes from its checkpoint on the
next run). The commands run one after another: DVC locks the repository for the length of each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from mtcontrast.config import load_params, resolve_variant

PARAMS_FILE = "params.yaml"  # DVC's default params file: the one dvc.yaml reads
REPORTS = Path("reports")  # where dvc.yaml's floors / report / figures stages write
LOG_TAIL = 40  # lines of a failed command's output in the error


class DvcCommandError(RuntimeError):
    """A DVC command that exited non-zero; the message holds the tail of its output."""


@dataclass(frozen=True)
class Step:
    """One DVC command of the flow: its Prefect task name, arguments after ``dvc`` and whether a retry is safe."""

    name: str
    args: tuple[str, ...]
    retry: bool = False

    @property
    def command(self) -> str:
        return " ".join(("dvc", *self.args))


def plan_steps(
    variants: Sequence[str], overrides: Sequence[str] = (), exp_name: str | None = None, *, subset: bool = False
) -> list[Step]:
    """The DVC commands of one flow run, in order (pure: tested without DVC).

    ``dvc repro prepare``, ``dvc repro train@<v> evaluate@<v>`` for each of ``variants`` (one task each, so the
    Prefect UI shows progress), then ``dvc repro`` for the rest. ``subset``: ``variants`` are not all of params, so
    no final ``dvc repro`` (it would train the others). ``overrides`` or an ``exp_name`` make it one
    ``dvc exp run`` (a subset's ``evaluate@`` stages as its targets): DVC runs an experiment as one command."""
    if overrides or exp_name:
        args = ["exp", "run", *(a for o in overrides for a in ("-S", o))]
        if exp_name:
            args += ["-n", exp_name]
        args += [f"evaluate@{v}" for v in variants] if subset else []
        return [Step("dvc-exp-run", tuple(args))]
    steps = [Step("dvc-repro-prepare", ("repro", "prepare"), retry=True)]
    steps += [Step(f"dvc-repro-{v}", ("repro", f"train@{v}", f"evaluate@{v}")) for v in variants]
    if not subset:
        steps.append(Step("dvc-repro", ("repro",), retry=True))
    return steps


def dvc_env() -> dict[str, str]:
    """The stages' ``python`` is this interpreter (its folder first on PATH)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_dvc(args: Sequence[str], repo_dir: Path) -> None:
    """``python -m dvc <args>`` in ``repo_dir``, each output line into the task log as it comes.

    A progress bar redraws one line with ``\\r``: only its last state is logged, not every redraw."""
    logger = get_run_logger()
    cmd = [sys.executable, "-m", "dvc", *args]
    tail: deque[str] = deque(maxlen=LOG_TAIL)
    with subprocess.Popen(cmd, cwd=repo_dir, env=dvc_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:  # bytes, split on \n only
            line = raw.decode(errors="replace").rstrip("\r\n").split("\r")[-1].rstrip()
            if line:
                tail.append(line)
                logger.info(line)
    if proc.returncode != 0:
        shown = "\n".join(tail)
        raise DvcCommandError(f"`dvc {' '.join(args)}` exited with {proc.returncode}; its output ends:\n{shown}")


@task(cache_policy=NO_CACHE)
def dvc_step(step: Step, repo_dir: Path) -> None:
    """One DVC command (retries: set per step by :func:`train_eval`)."""
    run_dvc(step.args, repo_dir)


@task(cache_policy=NO_CACHE)
def dvc_status(repo_dir: Path) -> dict[str, Any]:
    """``dvc status --json``: the stages whose inputs changed since they ran (``{}`` when all is up to date)."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json"], cwd=repo_dir, env=dvc_env(), capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise DvcCommandError(f"`dvc status` exited with {proc.returncode}:\n{proc.stderr.strip()[-2000:]}")
    status = json.loads(proc.stdout or "{}")
    logger = get_run_logger()
    if status:
        logger.warning("dvc status: not up to date: %s", ", ".join(status))
    else:
        logger.info("dvc status: data and pipelines are up to date")
    return status


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def publish_results(results_md: Path, data_name: str) -> None:
    """``results.md`` as the Prefect markdown artifact ``results-<data.name>``."""
    key = "results-" + "".join(c if c.isalnum() else "-" for c in data_name.lower())
    create_markdown_artifact(results_md.read_text(), key=key, description="train-eval results")


@flow(name="train-eval", log_prints=True)
def train_eval(
    variants: list[str] | None = None,
    overrides: list[str] | None = None,
    exp_name: str | None = None,
    repo_dir: str = ".",
) -> dict[str, Any]:
    """Bring the DVC pipeline in ``repo_dir`` up to date (``dvc repro``, or ``dvc exp run -S`` with
    ``overrides`` / ``exp_name``); ``variants`` (default: all) limits training / evaluation to those.

    Returns ``metrics`` (``reports/metrics.json`` when the report ran), ``dvc_status`` (``{}``: up to date) and
    the ``commands`` run."""
    repo = Path(repo_dir)
    overrides = list(overrides or [])
    params = load_params(repo / PARAMS_FILE, overrides)  # bad keys / values → ParamsError before any DVC command
    names = list(variants or params.variants)
    for name in names:
        resolve_variant(params, name)  # unknown variant / task → ParamsError naming it
    steps = plan_steps(names, overrides, exp_name, subset=bool(variants))
    for step in steps:
        retries = {"retries": 2, "retry_delay_seconds": 10} if step.retry else {}
        dvc_step.with_options(name=step.name, task_run_name=step.command, **retries)(step, repo)
    status = dvc_status(repo)
    results_md, metrics = repo / REPORTS / "results.md", repo / REPORTS / "metrics.json"
    reported = not variants and results_md.is_file()
    if reported:
        publish_results(results_md, params.data.name)
    return {
        "metrics": json.loads(metrics.read_text()) if reported and metrics.is_file() else {},
        "dvc_status": status,
        "commands": [s.command for s in steps],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", dest="variants", help="train only this variant (repeatable)")
    parser.add_argument(
        "-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="dvc exp run -S"
    )
    parser.add_argument("-n", "--name", dest="exp_name", default=None, help="run as the named `dvc exp run`")
    parser.add_argument("--repo", default=".", help="the DVC project (default: the current directory)")
    args = parser.parse_args(argv)
    train_eval(args.variants, args.overrides, args.exp_name, args.repo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
