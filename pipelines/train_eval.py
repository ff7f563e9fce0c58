"""Prefect flow ``train-eval``: ``dvc repro prepare`` → train → evaluate every variant → report.

Inputs: params.yaml (every section; ``overrides`` use the ``dvc exp run -S`` syntax and are validated by the schema
before anything runs), the raw dataset folder DVC prepares. Outputs: ``<train.runs_dir>/<variant>/`` (checkpoint,
history, eval) and ``<reports_dir>/results.md`` + ``metrics.json``; one MLflow run per variant
(``source=flow:train_eval``) with its ``val/*`` metrics and Δm; the results table as a Prefect artifact.

    python -m pipelines.train_eval                               # every variant of params.yaml
    python -m pipelines.train_eval --variant mtl --variant mtl_contrast -S train.iterations=50
    prefect deployment run 'train-eval/nightly' --watch          # when served by pipelines/schedule.py

DVC owns the data (``prepare`` reads params.yaml, so overrides of its ``data`` keys are refused); Prefect only
sequences and retries the I/O steps (the DVC command, the report's MLflow and artifact writes). Training and
evaluation go through ``mtcontrast.tracking.jobs`` like the DVC stages (only the ``source`` tag differs) and are never
retried or cached (the checkpoint resume rule handles an interrupted training).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from mtcontrast.config import Params, ParamsError, load_params, parse_overrides, resolve_variant

# data keys the DVC `prepare` stage reads from params.yaml; a flow override of them would not reach DVC
SOURCE = "flow:train_eval"  # the MLflow runs' `source` tag
PREPARE_KEYS = ("data.dataset", "data.root", "data.name", "data.prepared_dir", "data.limit", "data.compression")


@task(retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def dvc_repro_prepare() -> None:
    """``dvc repro prepare``: DVC rebuilds the prepared HDF5 (and the scenes it needs) only when inputs changed."""
    logger = get_run_logger()
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro", "prepare"], capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).strip().splitlines()[-20:]:
        logger.info(line)
    if proc.returncode != 0:
        raise RuntimeError(f"`dvc repro prepare` exited with {proc.returncode}:\n{proc.stderr.strip()[-2000:]}")


@task(cache_policy=NO_CACHE, task_run_name="train-{variant}")
def train(params: Params, variant: str) -> None:
    """Train one variant inside its MLflow run."""
    from mtcontrast.engine.trainer import format_summary
    from mtcontrast.tracking.jobs import tracked_train

    get_run_logger().info(format_summary(tracked_train(params, variant, source=SOURCE, progress=False)))


@task(cache_policy=NO_CACHE, task_run_name="evaluate-{variant}")
def evaluate(params: Params, variant: str) -> None:
    """Score one trained variant on val (native resolution); ``val/*`` and the figures go into its run."""
    from mtcontrast.engine.evaluator import format_eval_summary
    from mtcontrast.tracking.jobs import tracked_evaluate

    get_run_logger().info(format_eval_summary(tracked_evaluate(params, variant, source=SOURCE, progress=False)))


@task(cache_policy=NO_CACHE)
def report(params: Params, reports_dir: Path) -> dict[str, Any]:
    """``results.md`` + ``metrics.json`` (Δm against the single-task baselines; floors when DVC made them)."""
    from mtcontrast.report.results import write_report

    return write_report(params, reports_dir, floors_path=reports_dir / "floors.json")


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def publish_report(params: Params, results: dict[str, Any], reports_dir: Path) -> None:
    """Δm into each multi-task MLflow run, results.md as an MLflow and a Prefect artifact."""
    from mtcontrast.tracking import log_report

    log_report(params, results, reports_dir)
    key = "results-" + "".join(c if c.isalnum() else "-" for c in params.data.name.lower())
    create_markdown_artifact((reports_dir / "results.md").read_text(), key=key, description="train-eval results")


def check_overrides(overrides: Sequence[str], prepare: bool) -> None:
    """Refuse overrides of the keys DVC's ``prepare`` reads from params.yaml (DVC would prepare other data)."""
    if not prepare:
        return
    keys = [".".join(path) for path, _ in parse_overrides(overrides)]
    clash = [k for k in keys if any(k == p or k.startswith(p + ".") for p in PREPARE_KEYS) or k == "data"]
    if clash:
        raise ParamsError(
            f"train-eval overrides {clash}: `dvc repro prepare` reads these from params.yaml; edit params.yaml, "
            "or pass prepare=False with data already prepared"
        )


@flow(name="train-eval", log_prints=True)
def train_eval(
    variants: list[str] | None = None,
    overrides: list[str] | None = None,
    params_file: str = "params.yaml",
    prepare: bool = True,
    reports_dir: str = "reports",
) -> dict[str, Any]:
    """Prepare (DVC), train and evaluate ``variants`` (default: all in params) one after another, then report.

    ``overrides``: ``key.sub=value`` strings, validated by the params schema before anything runs."""
    overrides = list(overrides or [])
    params = load_params(params_file, overrides)
    names = list(variants or params.variants)
    for name in names:
        resolve_variant(params, name)  # unknown variant / task → ParamsError naming it, before any work
    check_overrides(overrides, prepare)
    if prepare:
        dvc_repro_prepare()
    for name in names:
        train(params, name)
        evaluate(params, name)
    out = Path(reports_dir)
    results = report(params, out)
    publish_report(params, results, out)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", dest="variants", help="train only this variant (repeatable)")
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    parser.add_argument("--no-prepare", action="store_true", help="skip `dvc repro prepare` (data already prepared)")
    parser.add_argument("--reports", default="reports", help="report folder (default: %(default)s)")
    args = parser.parse_args(argv)
    train_eval(args.variants, args.overrides, args.params, not args.no_prepare, args.reports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
