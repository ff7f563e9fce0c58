"""Evaluate one trained variant and record it: the entry point behind ``mtc evaluate``, the DVC stage
``evaluate@`` and ablation children. The evaluator scores the checkpoint; MLflow only records the result into the
run of the training it evaluates.

    from mtcontrast.evaluation import run_evaluation
    result = run_evaluation(load_params("params.yaml"), "mtl_contrast", source="cli:evaluate")
"""

from __future__ import annotations

from typing import Any

from mtcontrast.config import Params
from mtcontrast.engine.evaluator import EvalResult, evaluate_variant


def run_evaluation(params: Params, variant: str, *, source: str, progress: bool = True, **run_kw: Any) -> EvalResult:
    """``evaluate_variant`` + ``log_evaluation`` into the run of the training it evaluates."""
    from mtcontrast.tracking import configure, log_evaluation, tracked_run

    configure()
    with tracked_run(params, variant, source=source, **run_kw) as run:
        result = evaluate_variant(params, variant, progress=progress)
        log_evaluation(run, result)
    return result
