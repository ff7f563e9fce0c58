"""Prefect flow ``ablation``: a grid over regulariser settings, each child trained + evaluated as an MLflow run
nested under one parent run, summarised over seeds.

Inputs: params.yaml (section ``ablation``: name, variant, grid, max_parallel, runs_dir, out_dir; flow parameters
override them), the DVC-prepared data (``dvc repro prepare``). Outputs: ``<ablation.runs_dir>/<name>/<child>/s<seed>/`` (grid × ``seeds``)
(never the DVC pipeline's runs), ``<ablation.out_dir>/<name>/summary.{parquet,md,png}`` + ``children.parquet``,
published as Prefect table / markdown artifacts and as artifacts of the MLflow parent run.

    mtc ablate                                                   # the grid in params.yaml
    mtc ablate --grid 'loss.contrast.weight=[0.1, 0.3, 1, 3]' -S 'seeds=[0, 1, 2]' --max-parallel 2
    python -m pipelines.ablation --grid 'loss.contrast.source_mode=[random, all, random_with_self]' --name sources

Fan-out: one Prefect task per child on a ``ThreadPoolTaskRunner(max_workers=max_parallel)``, held by the subflow
``ablation-children`` (a flow's runner is fixed when it is defined, ``max_parallel`` is only known from params at
run time, so the flow hands it to ``train_children.with_options``). Each task runs its child in a separate process
(``mtcontrast.study.spawn_child``) with ``cores / max_parallel`` torch threads, so parallel children neither
share torch's process-global thread pool nor crash each other. Planning, running a child and summarising live in
``mtcontrast.study`` (shared with any other study over seeds; its docstring says why children are library calls,
not DVC experiments). Bad grid keys or values fail before any training, naming the key. A failed child does not
stop the others; the summary covers the finished ones and the flow then fails, naming the failed children.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from mtcontrast.config import Params, apply_overrides, load_params
from mtcontrast.config.ablation import AblationParams
from mtcontrast.study import (
    AblationChildError,
    ChildResult,
    child_deltas,
    child_threads,
    parse_grid,
    plan_ablation,
    primary_metrics,
    require_prepared,
    spawn_child,
    write_child_dir,
    write_summary,
)


@task(cache_policy=NO_CACHE, task_run_name="child-{run_dir.name}")
def train_evaluate_child(run_dir: Path, parent_run_id: str, threads: int, tracking_uri: str | None) -> ChildResult:
    """Train + evaluate one child in its own process (log: ``<run_dir>/child.log``, also streamed into this task's
    log: training progress every few steps); never retried or cached."""
    logger = get_run_logger()
    result = spawn_child(run_dir, parent_run_id, threads=threads, tracking_uri=tracking_uri, on_line=logger.info)
    shown = "  ".join(f"{k}={v:.4g}" for k, v in primary_metrics(result.metrics).items())
    logger.info("%s (%s) in %.0f s: %s", result.name, result.setting, result.seconds, shown)
    return result


@flow(name="ablation-children")
def train_children(
    run_dirs: list[Path], parent_run_id: str, threads: int, tracking_uri: str | None
) -> list[ChildResult | None]:
    """Fan out over the children on the caller's bounded task runner; ``None`` marks a failed child."""
    futures = train_evaluate_child.map(run_dirs, unmapped(parent_run_id), unmapped(threads), unmapped(tracking_uri))
    results: list[ChildResult | None] = []
    for future in futures:
        future.wait()
        results.append(future.result() if future.state.is_completed() else None)
    return results


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def log_child_deltas(params: Params, children: list[ChildResult]) -> dict[str, dict[str, float]]:
    """Δm vs host (paired by seed) and, when the DVC pipeline's single-task ``baselines`` in ``train.runs_dir`` are
    evaluated, Δm against them (the child's seed's, else their mean over ``baseline_seeds``: the report's rule,
    ``baseline_reference``), into each child's MLflow run (``val/delta_m_vs_host``, ``val/delta_m``)."""
    from mtcontrast.report.results import baseline_reference, load_eval, single_task_baselines
    from mtcontrast.tracking import client
    from mtcontrast.tracking.runs import log_metrics

    child_seeds = sorted({child.seed for child in children})
    by_seed = {}
    for seed in sorted({*child_seeds, *params.baseline_seeds}):
        evals = {
            name: load_eval(params, name, seed)
            for name in params.baselines
            if params.train.run_paths(name, seed).metrics.is_file()
        }
        by_seed[seed] = single_task_baselines(params, evals)
    baselines = {seed: baseline_reference(params, by_seed, seed)[1] for seed in child_seeds}
    deltas = child_deltas(children, baselines)
    for child in children:
        if child.run_id and deltas.get(child.key):
            log_metrics(child.run_id, deltas[child.key], step=params.train.iterations)
            if "val/delta_m" in deltas[child.key]:
                client().set_tag(child.run_id, "mtc.delta_m_baselines", str(params.train.runs_dir))
    get_run_logger().info(
        "Δm logged for %d children (single-task baselines: %s)",
        sum(bool(d) for d in deltas.values()),
        ", ".join(f"s{s}: {'+'.join(sorted(b)) or 'none'}" for s, b in baselines.items())
        or f"none evaluated in {params.train.runs_dir}",
    )
    return deltas


@task(cache_policy=NO_CACHE)
def open_parent_run(params: Params, cfg: AblationParams, children: int) -> str:
    """The MLflow parent run. Not retried: a repeat could leave a second, empty parent (the store's client already
    retries lock contention)."""
    from mtcontrast.tracking import start_parent_run

    tags = {
        "source": "flow:ablation",
        "ablation.grid": cfg.name,
        "ablation.variant": cfg.variant,
        "ablation.children": str(children),
        "ablation.keys": ", ".join(cfg.grid),
    }
    return start_parent_run(params, f"ablation-{cfg.name}", tags)


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def publish_summary(cfg: AblationParams, paths: dict[str, Path], parent_run_id: str) -> None:
    """The summary as Prefect artifacts (table + markdown) and as files of the MLflow parent run."""
    import pandas as pd

    from mtcontrast.tracking import client

    key = "ablation-" + "".join(c if c.isalnum() else "-" for c in cfg.name.lower())
    markdown = paths["markdown"].read_text()
    summary = pd.read_parquet(paths["summary"])
    rows = [{k: (None if v != v else v) for k, v in row.items()} for row in summary.to_dict("records")]  # NaN → null
    create_table_artifact(rows, key=key + "-table", description=f"ablation {cfg.name}: mean/std over seeds")
    create_markdown_artifact(markdown, key=key, description=f"ablation {cfg.name}")
    for path in paths.values():
        client().log_artifact(parent_run_id, str(path), "ablation")


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def close_parent_run(parent_run_id: str, status: str) -> None:
    from mtcontrast.tracking import end_parent_run

    end_parent_run(parent_run_id, status)


def ablation_config(
    params: Params, grid: dict[str, list[Any]] | None, name: str | None, max_parallel: int | None
) -> AblationParams:
    """``params.ablation`` with the flow parameters that were given, validated by the schema (errors name the key)."""
    given = {"grid": grid, "name": name, "max_parallel": max_parallel}
    updates = {f"ablation.{k}": v for k, v in given.items() if v is not None}
    return apply_overrides(params, updates, "ablation flow parameters").ablation


@flow(name="ablation", log_prints=True)
def ablation(
    grid: dict[str, list[Any]] | None = None,
    name: str | None = None,
    max_parallel: int | None = None,
    overrides: list[str] | None = None,
    params_file: str = "params.yaml",
) -> dict[str, str]:
    """Train + evaluate every child of the grid (default: ``ablation.grid``) and publish the summary.

    ``overrides``: ``key.sub=value`` strings applied to params before the grid (the base of every child)."""
    from mtcontrast.tracking import configure

    logger = get_run_logger()
    params = load_params(params_file, list(overrides or []))
    cfg = ablation_config(params, grid, name, max_parallel)
    plans = plan_ablation(params, cfg)  # every child validated here: a bad key fails before any training
    for prepared in {str(p.params.data.prepared_path("train")): p.params for p in plans}.values():
        require_prepared(prepared)
    logger.info(
        "ablation %s: %d children, %d at a time: %s",
        cfg.name,
        len(plans),
        cfg.max_parallel,
        ", ".join(f"{p.name}·s{p.seed}" for p in plans),
    )
    tracking_uri = configure()
    parent = open_parent_run(params, cfg, len(plans))
    try:
        run_dirs = [write_child_dir(plan, cfg.name) for plan in plans]
        runner = ThreadPoolTaskRunner(max_workers=cfg.max_parallel)
        results = train_children.with_options(task_runner=runner)(
            run_dirs, parent, child_threads(cfg.max_parallel), tracking_uri
        )
        finished = [r for r in results if r is not None]
        failed = [f"{plan.name}·s{plan.seed}" for plan, r in zip(plans, results) if r is None]
        log_child_deltas(params, finished)
        title = f"Ablation {cfg.name}: {cfg.variant} on {params.data.name}"
        paths = write_summary(finished, Path(cfg.out_dir) / cfg.name, title, failed=failed)
        publish_summary(cfg, paths, parent)
    except BaseException as err:
        close_parent_run(parent, "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
        raise
    close_parent_run(parent, "FAILED" if failed else "FINISHED")
    if failed:
        raise AblationChildError(f"ablation {cfg.name}: children failed: {', '.join(failed)} (see their child.log)")
    print(paths["markdown"].read_text())
    return {k: str(v) for k, v in paths.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=[V1, V2]",
        help="a grid axis (repeatable; YAML values); replaces ablation.grid when given",
    )
    parser.add_argument("--name", default=None, help="grid name (folders, parent run); default: ablation.name")
    parser.add_argument("--max-parallel", type=int, default=None, help="children at once (ablation.max_parallel)")
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    args = parser.parse_args(argv)
    ablation(parse_grid(args.grid), args.name, args.max_parallel, args.overrides, args.params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
