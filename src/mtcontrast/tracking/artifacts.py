"""What a run keeps besides numbers: checkpoint, inference model, evaluation files, figures and the report.

The inference model is the exported host (``export_inference``: no projectors), logged with
``mlflow.pytorch.log_model(serialization_format="pickle")`` and a signature inferred from a real val batch with the
batch and spatial axes left free (-1), since evaluation runs at native resolution. Loading it back
(``mlflow.pytorch.load_model(uri)``) needs ``mtcontrast`` importable, and is refused where
``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``.
Figures are drawn by the entry points (:mod:`mtcontrast.training`, :mod:`mtcontrast.evaluation`) and only logged
here; a failing optional artifact is a warning and a tag, never a failed run.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtcontrast.config import Params, RunPaths
from mtcontrast.tracking.runs import MlflowCallback, is_main_process, log_metrics, read_record
from mtcontrast.tracking.store import client, current_uri

if TYPE_CHECKING:
    import torch

    from mtcontrast.engine.evaluator import EvalResult
    from mtcontrast.engine.trainer import TrainResult

log = logging.getLogger(__name__)

MODEL_NAME = "model"


@contextmanager
def _optional(run_id: str, what: str) -> Iterator[None]:
    """Run an optional artifact step; on failure warn and tag the run instead of failing it."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - artifacts must never fail a finished training or evaluation
        log.warning("mlflow: %s not logged for run %s: %s: %s", what, run_id, type(err).__name__, err)
        client().set_tag(run_id, f"mtc.artifact_error.{what}", f"{type(err).__name__}: {err}"[:4000])


# ------------------------------------------------------------------------------------------------ model
def val_example(params: Params, host: torch.nn.Module) -> torch.Tensor:
    """The first val image as the model sees it at evaluation (normalised, centre-padded), batch of one."""
    from mtcontrast.data.dataset import build_dataset

    dataset = build_dataset(params, "val", tasks=host.tasks, pad_multiple=host.pad_multiple)
    try:
        return dataset[0]["image"][None]
    finally:
        dataset.close()


def inference_signature(host: torch.nn.Module, image: torch.Tensor) -> Any:
    """MLflow signature from one real forward pass: input ``image`` B×3×H×W, outputs ``final[task]`` B×C×H×W,
    with B, H, W free."""
    import torch
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import Schema, TensorSpec

    with torch.no_grad():
        final = host(image)["final"]
    inferred = infer_signature(image.cpu().numpy(), {t: v.detach().cpu().numpy() for t, v in final.items()})

    def free(schema: Any) -> Any:
        return Schema([TensorSpec(s.type, (-1, s.shape[1], *(-1 for _ in s.shape[2:])), s.name) for s in schema.inputs])

    return ModelSignature(free(inferred.inputs), free(inferred.outputs))


def log_inference_model(run_id: str, experiment_id: str, host: torch.nn.Module, example: torch.Tensor) -> Any:
    """Log ``host`` (in eval mode, on CPU: a copy when it lives elsewhere) as the run's MLflow model; returns the
    ``ModelInfo`` (``.model_uri``). The caller's module keeps its device and train/eval mode."""
    import copy

    import torch

    import mtcontrast
    import mtcontrast._compat  # noqa: F401  (torchvision guard: before timm and mlflow.pytorch)

    # isort: split
    import mlflow.pytorch
    import timm

    was_training = host.training
    on_cpu = all(t.device.type == "cpu" for t in [*host.parameters(), *host.buffers()])
    model_host = (host if on_cpu else copy.deepcopy(host).cpu()).eval()
    requirements = [
        f"torch=={torch.__version__.split('+')[0]}",
        f"timm=={timm.__version__}",
        f"mtcontrast=={mtcontrast.__version__}",
    ]
    c = client()
    try:
        signature = inference_signature(model_host, example.cpu())
        # Created here (not by log_model) so the model lands in the run's experiment without a fluent active run.
        model = c.create_logged_model(experiment_id, name=MODEL_NAME, source_run_id=run_id)
        info = mlflow.pytorch.log_model(
            model_host,
            name=MODEL_NAME,
            model_id=model.model_id,
            run_id=run_id,
            signature=signature,
            serialization_format="pickle",
            pip_requirements=requirements,
        )
    finally:
        host.train(was_training)
    c.set_tag(run_id, "mtc.model_uri", info.model_uri)
    return info


def log_training_artifacts(run: MlflowCallback, result: TrainResult, figures: Sequence[Path] = ()) -> None:
    """History, summary, learning curves and the inference model of a finished training, logged after the engine
    returned (the callback only streams metrics). The model goes in twice: ``inference/host.pt`` (weights and
    params, ``weights_only``-loadable: the safe way to load it, with :func:`mtcontrast.engine.trained.load_trained`)
    and MLflow's pickled logged model (for the UI and ``mlflow.pytorch.load_model``, which runs pickled code). The
    resumable checkpoint (with optimiser state) stays in the run folder, tracked by DVC."""
    from mtcontrast.engine.trained import load_trained, save_host

    if not run.active:
        return
    run_id = str(run.run_id)
    c = client()
    paths = result.paths
    trained = load_trained(paths.checkpoint)
    with _optional(run_id, "host"), tempfile.TemporaryDirectory() as tmp:
        c.log_artifact(run_id, str(save_host(trained, Path(tmp) / "host.pt")), "inference")
    for path in (paths.history, paths.summary, paths.label_mask):
        if path.is_file():
            c.log_artifact(run_id, str(path), "train")
    if paths.label_mask.is_file():  # the partial-label annotation this run saw, findable by its digest
        c.set_tag(run_id, "mtc.label_mask", json.loads(paths.label_mask.read_text())["digest"])
    for png in figures:
        c.log_artifact(run_id, str(png), "figures")
    with _optional(run_id, "model"):
        log_inference_model(run_id, run.experiment_id or "", trained.host, val_example(trained.params, trained.host))


def _run_of(run_dir: Path) -> str | None:
    """The run recorded in ``run_dir`` for the current store (None off rank 0); an error when there is none."""
    if not is_main_process():
        return None
    record = read_record(run_dir)
    if record is None or record.get("tracking_uri") != current_uri():
        raise FileNotFoundError(
            f"{RunPaths(run_dir).mlflow_record}: no MLflow run recorded in {current_uri()}; "
            "evaluate inside tracked_run(...) (mtcontrast.evaluation.run_evaluation does)"
        )
    return str(record["run_id"])


def log_evaluation(result: EvalResult, run_dir: Path) -> str | None:
    """Log ``val/<task>/<metric>`` (at the evaluated checkpoint's step), the evaluation files and the evaluation
    figures (``<eval>/figures/*.png``) into the run recorded in ``run_dir``; returns its id (None off rank 0)."""
    run_id = _run_of(Path(run_dir))
    if run_id is None:
        return None
    metrics = {f"val/{task}/{name}": value for task, values in result.metrics.items() for name, value in values.items()}
    metrics |= {"val/images": result.images, "val/seconds": result.seconds}
    log_metrics(run_id, metrics, step=result.step)
    c = client()
    for key, value in result.protocols.items():  # which protocol variant produced these numbers
        c.set_tag(run_id, f"eval.{key}", json.dumps(value) if not isinstance(value, str) else value)
    paths = RunPaths(Path(run_dir))
    for path in (paths.metrics, paths.per_image, paths.confusion):
        if path.is_file():
            c.log_artifact(run_id, str(path), "eval")
    for png in sorted(paths.figures_dir.glob("*.png")):
        c.log_artifact(run_id, str(png), "figures")
    return run_id


# ------------------------------------------------------------------------------------------------ report
def log_report(params: Params, results: Mapping[str, Any], reports_dir: Path) -> dict[str, str]:
    """Δm (``val/delta_m``; ``val/delta_m_vs_host`` for a regularised run) into each variant's run, with
    ``results.md`` / ``metrics.json`` as artifacts; returns ``{variant: run_id}`` of the runs written."""
    from mtcontrast.tracking.runs import run_id_of

    if not is_main_process():
        return {}
    logged: dict[str, str] = {}
    c = client()
    for variant in results.get("variants", {}):
        run_id = run_id_of(params.train.run_paths(variant).dir)
        if run_id is None:
            log.warning(
                "mlflow: variant %s has no recorded run in %s; report not logged for it", variant, current_uri()
            )
            continue
        metrics = {}
        if variant in results.get("delta_m", {}):
            metrics["val/delta_m"] = results["delta_m"][variant]
        for pair, entry in results.get("contrast_minus_host", {}).items():
            if pair.startswith(f"{variant}-"):
                metrics["val/delta_m_vs_host"] = entry["delta_m_vs_host"]
        if metrics:
            log_metrics(run_id, metrics, step=params.train.iterations)
        for name in ("results.md", "metrics.json"):
            if (Path(reports_dir) / name).is_file():
                c.log_artifact(run_id, str(Path(reports_dir) / name), "report")
        logged[variant] = run_id
    return logged
