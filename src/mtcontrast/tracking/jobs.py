"""Tracked jobs: training and evaluation of one variant, recorded as (the same) MLflow run.

Stage scripts, the CLI, the Prefect flows and the ablation children all call these, so a run logs the same
things whichever way it was started; only ``source`` (``dvc:train``, ``cli:train``, ``flow:ablation``, ...) differs.
"""

from __future__ import annotations

from typing import Any

from mtcontrast.config import Params
from mtcontrast.engine.evaluator import EvalResult, evaluate_variant
from mtcontrast.engine.trainer import TrainResult, run_dir_of, train_variant
from mtcontrast.tracking.artifacts import log_evaluation
from mtcontrast.tracking.runs import tracked_run
from mtcontrast.tracking.store import configure


def tracked_train(
    params: Params, variant: str, *, source: str, resume: bool = True, progress: bool = True, **run_kw: Any
) -> TrainResult:
    """``train_variant`` inside the variant's MLflow run (FAILED on a crash)."""
    configure()
    with tracked_run(params, variant, source=source, run_dir=run_dir_of(params, variant), **run_kw) as run:
        return train_variant(params, variant, resume=resume, progress=progress, callbacks=[run])


def tracked_evaluate(params: Params, variant: str, *, source: str, progress: bool = True, **run_kw: Any) -> EvalResult:
    """``evaluate_variant`` + ``log_evaluation`` into the run of the training it evaluates."""
    configure()
    run_dir = run_dir_of(params, variant)
    with tracked_run(params, variant, source=source, run_dir=run_dir, **run_kw):
        result = evaluate_variant(params, variant, progress=progress)
        log_evaluation(params, variant, result, run_dir)
        return result
