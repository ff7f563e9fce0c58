"""Prefect flow ``train-eval``: the DVC pipeline (``dvc.yaml``), run as DVC commands, one Prefect task each.

DVC owns the dependency graph; Prefect only orders the commands, runs independent ones side by side, shows their
progress, retries the I/O steps and schedules the flow (``pipelines/schedule.py``). Without overrides the tasks are
``dvc repro prepare``, then per run (baseline × ``baseline_seeds`` and variant × ``seeds``,
``mtcontrast.config.run_items``: the expansion of dvc.yaml's ``matrix``) ``dvc repro --single-item recipe@<v>-<s>``,
``... train@<v>-<s>`` and ``... evaluate@<v>-<s>`` (a baseline's: ``recipe_baseline@<v>-<s>`` …; tasks
``<v>-<s> · recipe`` / ``· train`` / ``· evaluate``, nested in the task ``<v>-<s>``: the UI groups them by run;
``--single-item`` does not run upstream stages, so the recipe is its own step), then
``dvc repro`` (floors, report, figures), so ``dvc.lock`` records every output and ``dvc status`` is clean afterwards.
With ``-S`` overrides it is one ``dvc exp run -S …`` (an experiment ``dvc exp show`` lists; DVC writes the values
into params.yaml, as it does on the command line).

**Runs go concurrently** (``max_parallel``, default: one per CPU core, each with ``cores / max_parallel`` torch
threads). DVC supports that for independent stages (dvc.org/doc/command-reference/repro, "Parallel stage
execution"): a ``dvc repro`` holds the repository lock only while it collects and commits stages, not while a
stage's command runs. Two details make it work: ``--single-item`` (without it every ``dvc repro train@v`` also
checks ``prepare`` upstream and asks for a write lock on its output, which the other runs hold a read lock on:
"data is busy", treeverse/dvc#5795, #11054), and a retry when two commands reach the repository lock at the same
moment ("Unable to acquire lock", treeverse/dvc#10465; nothing has run when DVC says so, so repeating is safe).

Inputs: the DVC project in ``repo_dir`` (params.yaml, dvc.yaml, the raw data). Outputs: what ``dvc.yaml`` declares
(``runs/<variant>/s<seed>/``, ``reports/{results.md,metrics.json,floors.json,figures/}``), the MLflow runs the stages
record, and ``reports/results.md`` as the Prefect markdown artifact ``results-<data.name>``.

    python -m pipelines.train_eval                               # dvc repro, one task per step
    python -m pipelines.train_eval --variant mtl --variant mtl_contrast      # only these variants' runs (their seeds)
    python -m pipelines.train_eval -S train.iterations=50 -n short           # dvc exp run -S train.iterations=50
    prefect deployment run 'train-eval/nightly' --watch          # when served by pipelines/schedule.py

Overrides and variant names are checked against the params schema before any DVC command runs, so a typo never
reaches params.yaml. Only ``prepare`` and the final ``dvc repro`` are retried (data and report I/O; DVC re-runs
only what did not finish); training and evaluation never are (a killed training resumes from its checkpoint on the
next run). A failed variant does not stop the others; the flow then fails naming it, without the final ``dvc repro``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from mtcontrast.config import all_variants, load_params, resolve_variant, run_items, stage_item, stage_name

PARAMS_FILE = "params.yaml"  # DVC's default params file: the one dvc.yaml reads
REPORTS = Path("reports")  # where dvc.yaml's floors / report / figures stages write
LOG_TAIL = 40  # lines of a failed command's output in the error
LOCK_MARKERS = ("unable to acquire lock", "is busy, it is being blocked by")  # DVC's repository / rwlock refusals
LOCK_RETRIES = 40  # ~3 min of waiting for another command's lock


class DvcCommandError(RuntimeError):
    """A DVC command that exited non-zero; the message holds the tail of its output."""


@dataclass(frozen=True)
class Step:
    """One DVC command of the flow: its Prefect task name, arguments after ``dvc``, whether a retry is safe and the
    run (``<variant>-<seed>``) it belongs to (its steps run in order, concurrently with other runs')."""

    name: str
    args: tuple[str, ...]
    retry: bool = False
    variant: str | None = None

    @property
    def command(self) -> str:
        return " ".join(("dvc", *self.args))


def plan_steps(
    items: Sequence[tuple[str, int]],
    overrides: Sequence[str] = (),
    exp_name: str | None = None,
    *,
    subset: bool = False,
    baselines: Collection[str] = (),
) -> list[Step]:
    """The DVC commands of one flow run, in order (pure: tested without DVC).

    ``dvc repro prepare``, ``dvc repro --single-item recipe@<v>-<s>``, ``train@<v>-<s>`` and ``evaluate@<v>-<s>``
    for each (variant, seed) of ``items`` (``run_items(params)`` or a part of it; their ``variant`` set to the item:
    the flow runs items concurrently; the names in ``baselines`` run as ``recipe_baseline@`` … stages), then ``dvc repro`` for the rest. ``subset``: ``items`` are not all of params,
    so no final ``dvc repro`` (it would train the others). ``overrides`` or an ``exp_name`` make it one
    ``dvc exp run`` (a subset's ``evaluate@`` stages as its targets): DVC runs an experiment as one command."""
    if overrides or exp_name:
        args = ["exp", "run", *(a for o in overrides for a in ("-S", o))]
        if exp_name:
            args += ["-n", exp_name]
        args += [stage_name("evaluate", v, s, baselines) for v, s in items] if subset else []
        return [Step("dvc-exp-run", tuple(args))]
    steps = [Step("dvc-repro-prepare", ("repro", "prepare"), retry=True)]
    for v, s in items:  # --single-item skips upstream stages: the run's recipe@ comes first, explicitly
        item = stage_item(v, s)
        for stage in ("recipe", "train", "evaluate"):
            args = ("repro", "--single-item", stage_name(stage, v, s, baselines))
            steps.append(Step(f"{item} · {stage}", args, retry=stage == "recipe", variant=item))
    if not subset:
        steps.append(Step("dvc-repro", ("repro",), retry=True))
    return steps


def dvc_env(threads: int | None = None) -> dict[str, str]:
    """The stages' ``python`` is this interpreter (its folder first on PATH); ``threads`` caps torch's threads
    (``OMP_NUM_THREADS``) when commands run side by side."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def _run_once(args: Sequence[str], repo_dir: Path, threads: int | None) -> tuple[int, list[str]]:
    logger = get_run_logger()
    cmd = [sys.executable, "-m", "dvc", *args]
    tail: deque[str] = deque(maxlen=LOG_TAIL)
    env = dvc_env(threads)
    with subprocess.Popen(cmd, cwd=repo_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:  # bytes, split on \n only
            line = raw.decode(errors="replace").rstrip("\r\n").split("\r")[-1].rstrip()
            if line:
                tail.append(line)
                logger.info(line)
    return proc.returncode, list(tail)


def run_dvc(args: Sequence[str], repo_dir: Path, threads: int | None = None) -> None:
    """``python -m dvc <args>`` in ``repo_dir``, each output line into the task log as it comes; repeated while
    another DVC command holds the lock it needs.

    A progress bar redraws one line with ``\\r``: only its last state is logged, not every redraw."""
    for attempt in range(LOCK_RETRIES + 1):
        code, tail = _run_once(args, repo_dir, threads)
        locked = code != 0 and any(m in line.lower() for line in tail for m in LOCK_MARKERS)
        if not locked or attempt == LOCK_RETRIES:
            break
        delay = min(8.0, 0.5 * 2**attempt) * (0.5 + random.random())
        get_run_logger().info("another DVC command holds the lock; `dvc %s` again in %.1f s", " ".join(args), delay)
        time.sleep(delay)
    if code != 0:
        shown = "\n".join(tail)
        raise DvcCommandError(f"`dvc {' '.join(args)}` exited with {code}; its output ends:\n{shown}")


@task(cache_policy=NO_CACHE)
def dvc_step(step: Step, repo_dir: Path, threads: int | None = None) -> None:
    """One DVC command (retries: set per step by :func:`train_eval`)."""
    run_dvc(step.args, repo_dir, threads)


@task(cache_policy=NO_CACHE, task_run_name="{variant}")
def variant_steps(variant: str, steps: list[Step], repo_dir: Path, threads: int) -> str:
    """One variant's commands in order, each a nested task named ``<variant> · <stage>`` (grouped under this one)."""
    for step in steps:
        dvc_step.with_options(name=step.name, task_run_name=step.name)(step, repo_dir, threads)
    return variant


@flow(name="train-eval-variants")
def run_variants(steps_by_variant: dict[str, list[Step]], repo_dir: Path, threads: int) -> list[str]:
    """Every variant's steps on the caller's bounded task runner; returns the variants that failed."""
    futures = {v: variant_steps.submit(v, steps, repo_dir, threads) for v, steps in steps_by_variant.items()}
    failed = []
    for variant, future in futures.items():
        future.wait()
        if not future.state.is_completed():
            failed.append(variant)
    return failed


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


def _run_step(step: Step, repo: Path) -> None:
    retries = {"retries": 2, "retry_delay_seconds": 10} if step.retry else {}
    dvc_step.with_options(name=step.name, task_run_name=step.command, **retries)(step, repo)


@flow(name="train-eval", log_prints=True)
def train_eval(
    variants: list[str] | None = None,
    overrides: list[str] | None = None,
    exp_name: str | None = None,
    repo_dir: str = ".",
    max_parallel: int | None = None,
) -> dict[str, Any]:
    """Bring the DVC pipeline in ``repo_dir`` up to date (``dvc repro``, or ``dvc exp run -S`` with
    ``overrides`` / ``exp_name``); ``variants`` (default: all, baselines included) limits training / evaluation to
    those variants' runs (a baseline's seeds are ``baseline_seeds``, the others' ``seeds``); ``max_parallel`` runs at once (default: one per CPU core).

    Returns ``metrics`` (``reports/metrics.json`` when the report ran), ``dvc_status`` (``{}``: up to date) and
    the ``commands`` run."""
    repo = Path(repo_dir)
    overrides = list(overrides or [])
    params = load_params(repo / PARAMS_FILE, overrides)  # bad keys / values → ParamsError before any DVC command
    names = list(variants or all_variants(params))
    for name in names:
        resolve_variant(params, name)  # unknown variant / task → ParamsError naming it
    items = [(v, s) for v, s in run_items(params) if v in names]
    steps = plan_steps(items, overrides, exp_name, subset=bool(variants), baselines=params.baselines)
    by_variant: dict[str, list[Step]] = {}
    for step in steps:
        if step.variant is not None:
            by_variant.setdefault(step.variant, []).append(step)
    first = next((i for i, step in enumerate(steps) if step.variant is not None), len(steps))
    for step in steps[:first]:
        _run_step(step, repo)
    if by_variant:
        parallel = max(1, min(max_parallel or os.cpu_count() or 1, len(by_variant)))
        threads = max(1, (os.cpu_count() or 1) // parallel)
        get_run_logger().info("%d runs, %d at a time, %d torch threads each", len(by_variant), parallel, threads)
        runner = ThreadPoolTaskRunner(max_workers=parallel)
        failed = run_variants.with_options(task_runner=runner)(by_variant, repo, threads)
        if failed:
            raise DvcCommandError(f"runs failed: {', '.join(failed)} (see their task logs)")
    for step in steps[first + sum(len(v) for v in by_variant.values()) :]:
        _run_step(step, repo)
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
    parser.add_argument("--max-parallel", type=int, default=None, help="variants at once (default: CPU cores)")
    args = parser.parse_args(argv)
    train_eval(args.variants, args.overrides, args.exp_name, args.repo, args.max_parallel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
