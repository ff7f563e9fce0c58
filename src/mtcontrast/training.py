"""Train one variant and record it: the entry point behind ``mtc train``, the DVC stage ``train@`` and ablation
children. The engine trains; MLflow only records (metrics streamed by the run's callback and flushed before every
checkpoint, artifacts logged after the engine returns), so the training loop never depends on tracking.

    from mtcontrast.training import run_training
    result = run_training(load_params("params.yaml"), "mtl_contrast", source="cli:train")
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from mtcontrast.config import Params, resolve_variant
from mtcontrast.engine.checkpoint import run_lock
from mtcontrast.engine.trainer import TrainResult, check_can_train, train_variant


def run_training(
    params: Params,
    variant: str,
    *,
    source: str,
    resume: bool = True,
    progress: bool = True,
    log_checkpoint: bool = False,
    **run_kw: Any,
) -> TrainResult:
    """``train_variant`` inside the variant's MLflow run (FAILED on a crash); then the run's training artifacts.

    Bad inputs are refused before a run folder or an MLflow run exists; the run folder's lock is taken before the
    MLflow run is opened, so a second training of the same variant never writes into the first one's run.
    ``source`` says who started it (``dvc:train``, ``cli:train``, ``flow:ablation``); ``log_checkpoint`` also stores
    the resumable checkpoint (with optimiser state) in MLflow, not only the weights; ``run_kw`` go to
    :func:`mtcontrast.tracking.tracked_run` (``parent_run_id``, ``run_name``, ``extra_tags``)."""
    from mtcontrast.tracking import configure, log_training_artifacts, tracked_run

    resolved = resolve_variant(params, variant)
    check_can_train(resolved, variant)
    main = int(os.environ.get("RANK", "0")) == 0
    configure()
    with run_lock(resolved.train.run_paths(variant).dir) if main else contextlib.nullcontext():
        with tracked_run(params, variant, source=source, **run_kw) as run:
            result = train_variant(params, variant, resume=resume, progress=progress, callbacks=[run])
            if not result.reused and main:
                with tempfile.TemporaryDirectory() as tmp:
                    curves = _learning_curves(result, Path(tmp))
                    log_training_artifacts(run, result, figures=curves, log_checkpoint=log_checkpoint)
    return result


def _learning_curves(result: TrainResult, out_dir: Path) -> list[Path]:
    """The run's own learning curves (the ``figures`` stage draws all variants together); optional."""
    from mtcontrast.report.figures import learning_curves

    try:
        return [learning_curves({result.variant: result.paths.history}, out_dir / "learning_curves.png")]
    except (OSError, ValueError) as err:
        print(f"learning curves of {result.variant} not drawn: {err}")
        return []
