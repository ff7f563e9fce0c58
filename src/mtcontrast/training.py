"""Train one variant and record it: the entry point behind ``mtc train``, the DVC stage ``train@`` and ablation
children. The engine trains; MLflow only records (metrics streamed by the run's callback, artifacts logged after
the engine returns), so the training loop never depends on tracking.

    from mtcontrast.training import run_training
    result = run_training(load_params("params.yaml"), "mtl_contrast", source="cli:train")
"""

from __future__ import annotations

from typing import Any

from mtcontrast.config import Params
from mtcontrast.engine.trainer import TrainResult, train_variant


def run_training(
    params: Params, variant: str, *, source: str, resume: bool = True, progress: bool = True, **run_kw: Any
) -> TrainResult:
    """``train_variant`` inside the variant's MLflow run (FAILED on a crash); then the run's training artifacts.

    ``source`` says who started it (``dvc:train``, ``cli:train``, ``flow:ablation``); ``run_kw`` go to
    :func:`mtcontrast.tracking.tracked_run` (``parent_run_id``, ``run_name``, ``extra_tags``)."""
    from mtcontrast.tracking import configure, log_training_artifacts, tracked_run

    configure()
    with tracked_run(params, variant, source=source, **run_kw) as run:
        result = train_variant(params, variant, resume=resume, progress=progress, callbacks=[run])
        log_training_artifacts(run, result)
    return result
