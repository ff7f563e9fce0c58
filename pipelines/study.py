"""Prefect flow ``study`` (``make study``): host vs host + regulariser in each data regime of ``study.regimes``,
paired by seed, with 95 % intervals; docs/study.md.

Inputs: params.yaml (section ``study``; the regulariser's settings are ``loss.contrast``), the DVC-prepared data
(``dvc repro prepare``). Outputs: ``<study.runs_dir>/<name>/<regime>/<child>/s<seed>/`` (each a full run folder
with ``params.yaml`` and ``child.log``), ``<study.out_dir>/<name>.md`` and ``.json``,
``<study.out_dir>/<name>.png`` (a forest plot of Δm vs host per regime and arm), all logged to one MLflow
parent run with every child nested under it (tags ``study.regime``, ``ablation.setting``).

    make study                                   # every regime of params.yaml
    python -m pipelines.study --regime full      # one regime
    python -m pipelines.study -S scenes.seed=3   # base overrides before the regimes' own

One code path: the children are planned by the ablation's planner and run by its Prefect sub-flow
(``pipelines.ablation.train_children``: one process per child, ``mtcontrast.study.spawn_child``), one at a time
(on 2 cores a second child only splits the cores). A re-run reuses every child whose checkpoint is complete and
whose recipe is unchanged (the trainer's resume), so an interrupted study continues where it stopped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from mtcontrast.config import Params, ParamsError, load_params
from mtcontrast.study import (
    AblationChildError,
    ChildPlan,
    ChildResult,
    child_threads,
    require_prepared,
    write_child_dir,
)
from mtcontrast.study.regimes import BASELINES, plan_baselines, plan_study, write_study
from pipelines.ablation import close_parent_run, train_children


@task(cache_policy=NO_CACHE)
def open_study_run(params: Params, children: int) -> str:
    """The MLflow parent run of the study (not retried: a repeat could leave a second, empty parent)."""
    from mtcontrast.tracking import start_parent_run

    tags = {"source": "flow:study", "study.name": params.study.name, "study.children": str(children)}
    return start_parent_run(params, f"study-{params.study.name}", tags)


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def publish_study(paths: dict[str, Path], parent_run_id: str) -> None:
    """The report files as artifacts of the parent run."""
    from mtcontrast.tracking import client

    for path in paths.values():
        client().log_artifact(parent_run_id, str(path), "study")


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def tag_children(regime: str, children: list[ChildResult]) -> None:
    """``study.regime`` on each child's MLflow run, so the UI groups a regime's runs."""
    from mtcontrast.tracking import client

    for child in children:
        if child.run_id:
            client().set_tag(child.run_id, "study.regime", regime)


def run_group(
    params: Params, group: str, children: list[ChildPlan], parent: str, tracking_uri: str
) -> tuple[list[ChildResult], list[str]]:
    """Train + evaluate one group of children (a regime, or the baselines) one at a time, tag them with the group:
    the finished children and the labels of the failed ones."""
    run_dirs = [write_child_dir(plan, f"{params.study.name}/{group}") for plan in children]
    runner = ThreadPoolTaskRunner(max_workers=1)
    results = train_children.with_options(task_runner=runner, name=f"study-{group}")(
        run_dirs, parent, child_threads(1), tracking_uri
    )
    finished = [r for r in results if r is not None]
    tag_children(group, finished)
    return finished, [f"{group}/{p.name}·s{p.seed}" for p, r in zip(children, results) if r is None]


@flow(name="study", log_prints=True)
def study(
    overrides: list[str] | None = None, regimes: list[str] | None = None, params_file: str = "params.yaml"
) -> dict[str, str]:
    """Train + evaluate the single-task baselines (``study.baselines``) and every child of every regime (or of
    ``regimes``), and write the study report."""
    from mtcontrast.tracking import configure

    logger = get_run_logger()
    params = load_params(params_file, list(overrides or []))
    plans = plan_study(params, params.study)  # every child of every regime validated before any training
    unknown = sorted(set(regimes or ()) - set(plans))
    if unknown:
        raise ParamsError(f"study regimes {unknown}: not in study.regimes ({', '.join(plans)})")
    plans = {r: p for r, p in plans.items() if not regimes or r in regimes}
    baselines = plan_baselines(params, params.study)
    for prepared in {str(p.params.data.prepared_path("train")): p.params for ps in plans.values() for p in ps}.values():
        require_prepared(prepared)
    groups = {**({BASELINES: baselines} if baselines else {}), **plans}
    total = sum(len(p) for p in groups.values())
    logger.info(
        "study %s: %d children: %s", params.study.name, total, ", ".join(f"{r} {len(p)}" for r, p in groups.items())
    )
    tracking_uri = configure()
    parent = open_study_run(params, total)
    finished: dict[str, list[ChildResult]] = {}
    failed: list[str] = []
    try:
        for group, children in groups.items():
            finished[group], lost = run_group(params, group, children, parent, tracking_uri)
            failed += lost
        reference = finished.pop(BASELINES, [])
        histories = {
            regime: {f"{p.name}·s{p.seed}": p.params.train.run_paths(p.name, p.seed).history for p in children}
            for regime, children in plans.items()
        }
        paths = write_study(params, finished, histories, reference)
        publish_study(paths, parent)
    except BaseException as err:
        close_parent_run(parent, "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
        raise
    close_parent_run(parent, "FAILED" if failed else "FINISHED")
    if failed:
        raise AblationChildError(
            f"study {params.study.name}: children failed: {', '.join(failed)} (see their child.log)"
        )
    print(paths["markdown"].read_text())
    return {k: str(v) for k, v in paths.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regime", action="append", default=[], help="run only this regime (repeatable)")
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    args = parser.parse_args(argv)
    study(args.overrides, args.regime or None, args.params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
