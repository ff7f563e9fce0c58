"""MLflow tracking: MLflow only records (DVC owns the pipeline, Prefect the scheduling).

One store (:func:`configure`: ``sqlite:///mlruns/mlflow.db``, artifacts in ``mlruns/artifacts``, or
``MLFLOW_TRACKING_URI``), one experiment per prepared dataset (:func:`experiment_for`), one run per training of a
variant (:func:`tracked_run`, which the evaluation and report re-open to add ``val/*`` and Δm). Logged: flattened
resolved params; ``train/*`` per step; ``val/<task>/<metric>``, ``val/delta_m``; tags (git commit, source, data
fingerprint, host, encoder, variant, profile); artifacts (the inference model with the weights stored once, the
resumable checkpoint only on request, per-image Parquet, figures, results.md). Run names say variant, seed and what
differs from the defaults (:mod:`~mtcontrast.tracking.names`); ``mtc gc`` frees deleted runs' space
(:mod:`~mtcontrast.tracking.gc`). Rank 0 only. The entry points that train / evaluate inside a run are
:func:`mtcontrast.training.run_training` and :func:`mtcontrast.evaluation.run_evaluation`.
"""

from mtcontrast.tracking.artifacts import (
    host_file,
    log_evaluation,
    log_inference_model,
    log_report,
    log_training_artifacts,
)
from mtcontrast.tracking.runs import (
    MlflowCallback,
    end_parent_run,
    is_main_process,
    run_id_of,
    start_parent_run,
    tracked_run,
)
from mtcontrast.tracking.store import client, configure, experiment_for, experiment_name, with_retry
from mtcontrast.tracking.ui import UiError, serve_ui

__all__ = [
    "MlflowCallback",
    "UiError",
    "client",
    "configure",
    "end_parent_run",
    "experiment_for",
    "experiment_name",
    "host_file",
    "is_main_process",
    "log_evaluation",
    "log_inference_model",
    "log_report",
    "log_training_artifacts",
    "run_id_of",
    "serve_ui",
    "start_parent_run",
    "tracked_run",
    "with_retry",
]
