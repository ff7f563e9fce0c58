"""What a run keeps besides numbers: checkpoint, inference model, evaluation files, figures and the report.

The inference model is the host alone (no projectors), logged once as a pyfunc (:mod:`mtcontrast.tracking.pyfunc`)
whose artifact is the weights-only ``host.pt``, with a signature inferred from a real val batch with the batch and
spatial axes left free (-1), since evaluation runs at native resolution. ``mlflow.pyfunc.load_model(uri)`` needs
``mtcontrast`` importable (it unpickles the small wrapper, refused where ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``);
:func:`host_file` + :func:`~mtcontrast.engine.trained.load_trained` reads the weights without running stored code.
The optimiser state never reaches MLflow unless asked (``log_checkpoint``).
Figures are drawn by the entry points (:mod:`mtcontrast.training`, :mod:`mtcontrast.evaluation`) and only logged
here; a failing optional artifact is a warning and a tag, never a failed run.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtcontrast.config import Params, RunPaths
from mtcontrast.tracking.runs import MlflowCallback, is_main_process, log_metrics, read_record
from mtcontrast.tracking.store import client, current_uri

if TYPE_CHECKING:
    import torch

    from mtcontrast.engine.evaluator import EvalResult
    from mtcontrast.engine.trained import Trained
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


def log_inference_model(run_id: str, experiment_id: str, trained: Trained, example: torch.Tensor) -> Any:
    """Log ``trained``'s host as the run's MLflow model (:class:`~mtcontrast.tracking.pyfunc.HostModel`: the
    weights-only ``host.pt`` plus a small wrapper, so the weights are stored once); returns the ``ModelInfo``
    (``.model_uri``). The caller's module keeps its device and train/eval mode."""
    import copy

    import torch

    import mtcontrast
    import mtcontrast._compat  # noqa: F401  (torchvision guard: before timm and mlflow)

    # isort: split
    import mlflow.pyfunc
    import timm
    from mlflow.models import Model

    import mtcontrast.tracking.pyfunc as pyfunc_host
    from mtcontrast.engine.trained import save_host

    host = trained.host
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
        with tempfile.TemporaryDirectory() as tmp:
            host_pt = save_host(replace(trained, host=model_host), Path(tmp) / "host.pt")
            # Created here (not by log_model) so the model lands in the run's experiment without a fluent active run.
            model = c.create_logged_model(experiment_id, name=MODEL_NAME, source_run_id=run_id)
            with _quiet_pickle_notice():
                info = Model.log(
                    artifact_path=None,
                    name=MODEL_NAME,
                    flavor=mlflow.pyfunc,
                    python_model=pyfunc_host.HostModel(),
                    artifacts={pyfunc_host.HOST_ARTIFACT: str(host_pt)},
                    signature=signature,
                    pip_requirements=requirements,
                    model_id=model.model_id,
                    run_id=run_id,
                )
    finally:
        host.train(was_training)
    c.set_tag(run_id, "mtc.model_uri", info.model_uri)
    return info


class _PickleNotice(logging.Filter):
    """Drops MLflow's "pickle / cloudpickle can execute arbitrary code" notice: we pickle the small
    :class:`~mtcontrast.tracking.pyfunc.HostModel` wrapper on purpose (the weights are ``weights_only``), and its
    "no input example" hint (the signature is given explicitly; an example would only add a file per run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _is_notice(record.getMessage())


def _is_notice(text: str) -> bool:
    text = text.lower()
    return ("pickle" in text and "arbitrary code" in text) or "input example was not provided" in text


@contextmanager
def _quiet_pickle_notice() -> Iterator[None]:
    """The pickle notice filtered out of MLflow's loggers for one call only; every other message passes."""
    import warnings

    notice = _PickleNotice()
    loggers = [logging.getLogger(name) for name in ("mlflow.pyfunc", "mlflow.pytorch", "mlflow.models.model")]
    for logger in loggers:
        logger.addFilter(notice)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"(?is).*pickle.*arbitrary code")
            warnings.filterwarnings("ignore", message=r"(?is).*input example was not provided")
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(notice)


def host_file(run_id: str, dst: str | Path) -> Path:
    """Download the weights-only ``host.pt`` of the run's logged model into ``dst``; load it with
    :func:`mtcontrast.engine.trained.load_trained` (no code runs)."""
    from mlflow.artifacts import download_artifacts

    from mtcontrast.tracking.pyfunc import HOST_ARTIFACT

    c = client()
    outputs = c.get_run(run_id).outputs
    ids = [o.model_id for o in (outputs.model_outputs if outputs is not None else [])]
    if not ids:
        raise FileNotFoundError(f"MLflow run {run_id} has no logged model (its training has not finished)")
    location = c.get_logged_model(ids[-1]).artifact_location.rstrip("/")
    return Path(download_artifacts(artifact_uri=f"{location}/artifacts/{HOST_ARTIFACT}.pt", dst_path=str(dst)))


def log_training_artifacts(
    run: MlflowCallback, result: TrainResult, figures: Sequence[Path] = (), *, log_checkpoint: bool = False
) -> None:
    """History, summary, learning curves and the inference model of a finished training, logged after the engine
    returned (the callback only streams metrics). The weights go in once, as the logged model's weights-only
    ``host.pt`` (:func:`host_file`). The resumable checkpoint (weights + optimiser state, ~3× the weights with
    Adam) stays in the run folder, tracked by DVC; ``log_checkpoint`` also copies it to the run as
    ``checkpoint/checkpoint.pt`` (``mtc train --log-checkpoint``)."""
    from mtcontrast.engine.trained import load_trained

    if not run.active:
        return
    run_id = str(run.run_id)
    c = client()
    paths = result.paths
    trained = load_trained(paths.checkpoint)
    for path in (paths.history, paths.summary, paths.label_mask):
        if path.is_file():
            c.log_artifact(run_id, str(path), "train")
    if paths.label_mask.is_file():  # the partial-label annotation this run saw, findable by its digest
        c.set_tag(run_id, "mtc.label_mask", json.loads(paths.label_mask.read_text())["digest"])
    for png in figures:
        c.log_artifact(run_id, str(png), "figures")
    if log_checkpoint:
        c.log_artifact(run_id, str(paths.checkpoint), "checkpoint")
    with _optional(run_id, "model"):
        log_inference_model(run_id, run.experiment_id or "", trained, val_example(trained.params, trained.host))


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
    """Δm (``val/delta_m``: against the run's seed's baselines, else their mean over ``baseline_seeds``;
    ``val/delta_m_vs_host`` for a regularised run, against the host of its seed) into every (variant, seed) run,
    with ``results.md`` / ``metrics.json`` as artifacts; returns ``{"<variant>·s<seed>": run_id}`` of the runs
    written."""
    from mtcontrast.tracking.runs import run_id_of

    if not is_main_process():
        return {}
    logged: dict[str, str] = {}
    c = client()
    for variant, by_seed in results.get("runs", {}).items():
        for seed_key, run in by_seed.items():
            seed = int(seed_key)
            run_id = run_id_of(params.train.run_paths(variant, seed).dir)
            if run_id is None:
                log.warning(
                    "mlflow: run %s seed %d has no recorded run in %s; report not logged for it",
                    variant,
                    seed,
                    current_uri(),
                )
                continue
            metrics = {}
            if "delta_m" in run:
                metrics["val/delta_m"] = run["delta_m"]
            for pair, entry in results.get("contrast_minus_host", {}).items():
                if pair.startswith(f"{variant}-") and seed_key in entry.get("per_seed", {}):
                    metrics["val/delta_m_vs_host"] = entry["per_seed"][seed_key]["delta_m"]
            if metrics:
                log_metrics(run_id, metrics, step=params.train.iterations)
            for name in ("results.md", "metrics.json"):
                if (Path(reports_dir) / name).is_file():
                    c.log_artifact(run_id, str(Path(reports_dir) / name), "report")
            logged[f"{variant}·s{seed}"] = run_id
    return logged
