"""Train one variant and record it: the entry point behind ``mtc train``, the DVC stage ``train@`` and ablation
children. The engine trains; MLflow only records (metrics streamed by the run's callback and flushed before every
checkpoint, artifacts logged after the engine returns), so the training loop never depends on tracking.

    from mtcontrast.training import run_training
    result = run_training(load_params("params.yaml"), "mtl_contrast", source="cli:train")
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mtcontrast.config import Params, resolve_variant
from mtcontrast.engine.checkpoint import run_lock
from mtcontrast.engine.trainer import TrainResult, check_can_train, train_variant


def run_training(
    params: Params,
    variant: str,
    seed: int | None = None,
    *,
    source: str,
    resume: bool = True,
    progress: bool = True,
    log_checkpoint: bool = False,
    **run_kw: Any,
) -> TrainResult:
    """``train_variant`` of (``variant``, ``seed``; default: the first of ``seeds``) inside its MLflow run (FAILED on a crash); then the run's training artifacts.

    Bad inputs are refused before a run folder or an MLflow run exists; the run folder's lock is taken before the
    MLflow run is opened, so a second training of the same variant never writes into the first one's run.
    ``source`` says who started it (``dvc:train``, ``cli:train``, ``flow:ablation``); ``log_checkpoint`` also stores
    the resumable checkpoint (with optimiser state) in MLflow, not only the weights; ``run_kw`` go to
    :func:`mtcontrast.tracking.tracked_run` (``parent_run_id``, ``run_name``, ``extra_tags``)."""
    from mtcontrast.tracking import configure, log_training_artifacts, tracked_run

    params = params.at_seed(seed)  # the run's params: everything below reads its one seed
    resolved = resolve_variant(params, variant)
    check_can_train(resolved, variant)
    main = int(os.environ.get("RANK", "0")) == 0
    configure()
    with run_lock(resolved.train.run_paths(variant, resolved.seed).dir) if main else contextlib.nullcontext():
        with tracked_run(params, variant, source=source, **run_kw) as run:
            callbacks: list[Any] = [run]
            if not (progress and sys.stderr.isatty()):  # a terminal has the tqdm bar; logs get lines
                callbacks.append(ProgressLog(variant, resolved.train.iterations, resolved.train.log_every))
            result = train_variant(params, variant, resume=resume, progress=progress, callbacks=callbacks)
            if not result.reused and main:
                with tempfile.TemporaryDirectory() as tmp:
                    curves = _learning_curves(result, Path(tmp))
                    log_training_artifacts(run, result, figures=curves, log_checkpoint=log_checkpoint)
    return result


PROGRESS_LINES = 20  # about this many progress lines per training, whatever its length


def progress_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    """Prefect's run logger inside a flow or task run (the line lands in the flow-run log in the UI); otherwise the
    plain ``mtcontrast.progress`` logger, writing to stderr when nothing else is configured (a DVC stage's output,
    which the ``train-eval`` flow streams into its task log line by line). Prefect is only asked when this process
    already imported it: a flow or task run needs it imported, and importing it costs ~4 s per stage process."""
    if "prefect" in sys.modules:
        from prefect.context import FlowRunContext, TaskRunContext

        if TaskRunContext.get() is not None or FlowRunContext.get() is not None:
            from prefect import get_run_logger

            return get_run_logger()
    logger = logging.getLogger("mtcontrast.progress")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


class ProgressLog:
    """A :class:`~mtcontrast.engine.trainer.TrainCallback` writing one line every ``every`` steps (a multiple of
    ``train.log_every`` giving about :data:`PROGRESS_LINES` lines), e.g. ``train mtl_contrast: step 100/250 (40%)
    loss 1.234 · 0.41 s/step · 1 min left``: tqdm bars redraw one line, which logs do not show until it ends."""

    def __init__(self, variant: str, iterations: int, log_every: int, logger: Any = None) -> None:
        self.variant, self.iterations = variant, iterations
        self.every = log_every * max(1, round(iterations / (log_every * PROGRESS_LINES)))
        self.logger = logger
        self._t0, self._start = time.monotonic(), 0

    def on_start(self, params: Params, variant: str, run_dir: Path, start: int) -> None:
        self._t0, self._start = time.monotonic(), start
        self.logger = self.logger or progress_logger()
        what = f"resumed at step {start}" if start else "started"
        self.logger.info("train %s: %s, %d steps", self.variant, what, self.iterations)

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        if step % self.every and step != self.iterations:
            return
        self.logger = self.logger or progress_logger()
        done = max(step - self._start, 1)
        per_step = (time.monotonic() - self._t0) / done
        left = per_step * (self.iterations - step)
        loss = metrics.get("train/loss", math.nan)
        self.logger.info(
            "train %s: step %d/%d (%d%%) loss %.4g · %.2f s/step · %s left",
            self.variant,
            step,
            self.iterations,
            100 * step // max(self.iterations, 1),
            loss,
            per_step,
            f"{left / 60:.0f} min" if left >= 60 else f"{left:.0f} s",
        )

    def on_checkpoint(self, step: int) -> None:
        pass

    def on_end(self, result: TrainResult) -> None:
        self.logger = self.logger or progress_logger()
        self.logger.info("train %s: %d steps in %.0f s", self.variant, result.steps, result.seconds)


def _learning_curves(result: TrainResult, out_dir: Path) -> list[Path]:
    """The run's own learning curves (the ``figures`` stage draws all variants together); optional."""
    from mtcontrast.report.figures import learning_curves

    try:
        return [learning_curves({result.variant: result.paths.history}, out_dir / "learning_curves.png")]
    except (OSError, ValueError) as err:
        print(f"learning curves of {result.variant} not drawn: {err}")
        return []
