"""Studies over params: plan children from a grid, run each child, summarise per setting over seeds.

The ``ablation`` flow (``pipelines/ablation.py``, ``mtc ablate``) is a thin sequence of these steps, and a
multi-seed study (paired seeds, confidence intervals) is meant to reuse the same three:

1. :mod:`~mtcontrast.study.plan`: :func:`plan_children` expands a grid of dotted params keys × ``seeds`` (the
   experiment's seeds, as ``dvc repro`` expands variant × seed) into children and validates each child's full
   params through the schema, before any training.
2. :mod:`~mtcontrast.study.run`: :func:`spawn_child` trains + evaluates one child in its own Python process
   (``python -m mtcontrast.study.run <child dir>``) as an MLflow run nested under the study's parent run.
3. :mod:`~mtcontrast.study.summary`: :func:`summarize` groups finished children by setting (the grid keys): mean ±
   std over seeds and Δm against the host-only child of the same seed.

**Decision: children are library calls in child processes, not DVC experiments.** ``dvc exp run --queue`` /
``--temp`` would list the children in ``dvc exp show``, but

- a DVC experiment reproduces ``dvc.yaml``, whose run layout is fixed (``<train.runs_dir>/<variant>``) and whose
  ``train`` stage loops over every key of ``variants``: a child would have to rewrite ``variants`` and target
  ``train@/evaluate@`` stages, and its results would live in git refs, read back through ``dvc exp show --json``;
- ``--temp`` and the queue need a git repository with a commit and copy the workspace (and check out the
  prepared data) per child, so ``mtc ablate`` would no longer work from any directory, and tests would need a
  clone;
- the queue runs children in DVC's own workers: the torch thread budget per child (``cores / max_parallel``), the
  MLflow parent run id and a crash that takes down only one child would all be DVC's to get right, not ours.

A child process running :func:`mtcontrast.training.run_training` and :func:`mtcontrast.evaluation.run_evaluation`
(the same entry points as the DVC stages) keeps its own torch thread pool (``torch.set_num_threads`` is
process-global, so threads in one process would oversubscribe it), its own MLflow client, and fails alone. Every
child folder holds its full ``params.yaml`` (``mtc train --params <dir>/params.yaml --variant <child>`` repeats it),
and the MLflow parent / child runs are where children are compared. Children live under
``<ablation.runs_dir>/<name>/<child>/s<seed>/``, never in the DVC pipeline's run folders.

:mod:`~mtcontrast.study.run` is imported on first use of its names, so that ``python -m mtcontrast.study.run``
does not import itself twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtcontrast.study.plan import (
    SEED_KEY,
    SWITCH_KEY,
    ChildPlan,
    ChildResult,
    expand_grid,
    format_value,
    parse_grid,
    plan_ablation,
    plan_children,
    require_prepared,
    setting_of,
    short_keys,
)
from mtcontrast.study.summary import (
    DELTA_M_COLUMN,
    SUMMARY_COLUMNS,
    child_deltas,
    child_table,
    primary_metrics,
    summarize,
    summary_markdown,
    write_summary,
)

if TYPE_CHECKING:
    from mtcontrast.study.run import (
        AblationChildError,
        ChildFiles,
        child_threads,
        run_child,
        spawn_child,
        write_child_dir,
    )

_RUN_NAMES = ("AblationChildError", "ChildFiles", "child_threads", "run_child", "spawn_child", "write_child_dir")

__all__ = [
    "DELTA_M_COLUMN",
    "SEED_KEY",
    "SUMMARY_COLUMNS",
    "SWITCH_KEY",
    "ChildPlan",
    "ChildResult",
    "child_deltas",
    "child_table",
    "expand_grid",
    "format_value",
    "parse_grid",
    "plan_ablation",
    "plan_children",
    "primary_metrics",
    "require_prepared",
    "setting_of",
    "short_keys",
    "summarize",
    "summary_markdown",
    "write_summary",
    # mtcontrast.study.run, imported on first use
    "AblationChildError",
    "ChildFiles",
    "child_threads",
    "run_child",
    "spawn_child",
    "write_child_dir",
]


def __getattr__(name: str) -> Any:
    """The names of :mod:`mtcontrast.study.run`, imported on first use (see the module docstring)."""
    if name in _RUN_NAMES:
        from mtcontrast.study import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
