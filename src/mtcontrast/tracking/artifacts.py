"""What a run keeps besides numbers: checkpoint, inference model, evaluation files, figures and the report.

The inference model is the exported host (``export_inference``: no projectors), logged with
``mlflow.pytorch.log_model(serialization_format="pickle")`` and a signature inferred from a real val batch with the
batch and spatial axes left free (-1), since evaluation runs at native resolution. Loading it back
(``mlflow.pytorch.load_model(uri)``) needs ``mtcontrast`` importable, and is refused where
``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``.
Figures come from :mod:`mtcontrast.report.figures`; a missing or failing figure is a warning, never a failed run.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtcontrast.config import Params, resolve_variant
from mtcontrast.tracking.runs import RECORD_FILE, is_main_process, log_metrics, run_id_of
from mtcontrast.tracking.store import client, current_uri

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

PANEL_IMAGES = 4  # val images shown input | GT | prediction per task
MODEL_NAME = "model"
CONFUSION_TASKS = ("semseg", "human_parts")


@contextmanager
def _optional(run_id: str, what: str) -> Iterator[None]:
    """Run an optional artifact step; on failure warn and tag the run instead of failing it."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - artifacts must never fail a finished training or evaluation
        log.warning("mlflow: %s not logged for run %s: %s: %s", what, run_id, type(err).__name__, err)
        client().set_tag(run_id, f"mtc.artifact_error.{what}", f"{type(err).__name__}: {err}"[:4000])


def _figures() -> Any:
    from mtcontrast.report import figures

    return figures


# ------------------------------------------------------------------------------------------------ model
def val_example(resolved: Params, host: torch.nn.Module) -> torch.Tensor:
    """The first val image as the model sees it at evaluation (normalised, centre-padded), batch of one."""
    from mtcontrast.data.dataset import MultiTaskDataset

    path = resolved.data.prepared_path("val")
    dataset = MultiTaskDataset(
        path, "eval", resolved.data, tasks=host.tasks, seed=resolved.seed, pad_multiple=host.pad_multiple
    )
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

    import mlflow.pytorch
    import timm
    import torch

    import mtcontrast
    import mtcontrast._compat  # noqa: F401  (torchvision guard: before timm)

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


def log_training_artifacts(run_id: str, experiment_id: str, resolved: Params, variant: str, result: Any) -> None:
    """Checkpoint, history, summary, learning curves and the inference model of a finished training."""
    import torch

    from mtcontrast.engine.evaluator import load_inference_host

    c = client()
    run_dir = Path(result.run_dir)
    with _optional(run_id, "checkpoint"):
        c.log_artifact(run_id, str(result.checkpoint), "checkpoint")
    for name in ("history.jsonl", "train_summary.json"):
        if (run_dir / name).is_file():
            c.log_artifact(run_id, str(run_dir / name), "train")
    with _optional(run_id, "learning_curves"), tempfile.TemporaryDirectory() as tmp:
        png = _figures().learning_curves({variant: run_dir / "history.jsonl"}, Path(tmp) / "learning_curves.png")
        c.log_artifact(run_id, str(png), "figures")
    with _optional(run_id, "model"):
        host = load_inference_host(resolved, variant, torch.device("cpu"))
        log_inference_model(run_id, experiment_id, host, val_example(resolved, host))


# ------------------------------------------------------------------------------------------------ evaluation
@dataclass
class ValPredictions:
    """Pooled confusion matrices and the first images' native-resolution predictions."""

    confusion: dict[str, np.ndarray]
    panels: list[tuple[str, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]]  # id, image, gts, preds


def predict_val(
    resolved: Params, variant: str, *, panels: int = PANEL_IMAGES, confusion: bool = True
) -> ValPredictions:
    """Re-run the trained host on val (the first ``panels`` images, or all ``eval.limit`` images when confusion
    matrices are needed), scoring exactly as the evaluator does (same meters, post-processing, crop)."""
    import torch

    from mtcontrast.data.dataset import MultiTaskDataset
    from mtcontrast.data.prepared import PreparedSplit
    from mtcontrast.data.transforms import crop_to_native
    from mtcontrast.engine.distributed import resolve_device
    from mtcontrast.engine.evaluator import build_meter, load_inference_host, postprocess
    from mtcontrast.tasks import dataset_spec

    device = resolve_device(resolved.train.device)
    host = load_inference_host(resolved, variant, device)
    spec = dataset_spec(resolved.data.dataset)
    path = resolved.data.prepared_path("val")
    dataset = MultiTaskDataset(
        path, "eval", resolved.data, tasks=host.tasks, seed=resolved.seed, pad_multiple=host.pad_multiple
    )
    n = len(dataset) if resolved.eval.limit is None else min(len(dataset), resolved.eval.limit)
    conf_tasks = [t for t in host.tasks if t in CONFUSION_TASKS] if confusion else []
    meters = {t: build_meter(t, spec, resolved.eval) for t in conf_tasks}
    out = ValPredictions({}, [])
    with torch.no_grad(), PreparedSplit(path, tasks=host.tasks) as gt_split:
        for i in range(n if conf_tasks else min(n, panels)):
            item = dataset[i]
            final = host(item["image"][None].to(device))["final"]
            gt = gt_split[i]
            preds = {}
            for t in host.tasks:
                pred = postprocess(t, final[t])[0].cpu().numpy()
                if pred.ndim == 3:  # H×W×3 normals: crop the spatial axes
                    pred = np.moveaxis(crop_to_native(np.moveaxis(pred, -1, 0), item["meta"]), 0, -1)
                else:
                    pred = crop_to_native(pred, item["meta"])
                preds[t] = np.ascontiguousarray(pred)
            for t, meter in meters.items():
                meter.update(preds[t], gt[t], id=gt["meta"]["id"])
            if i < panels:
                out.panels.append((gt["meta"]["id"], gt["image"], {t: gt[t] for t in host.tasks}, preds))
    dataset.close()
    out.confusion = {t: m.state()["confusion"] for t, m in meters.items()}
    return out


def _run_of(run_dir: Path, variant: str) -> str:
    run_id = run_id_of(run_dir)
    if run_id is None:
        raise FileNotFoundError(
            f"{Path(run_dir) / RECORD_FILE}: no MLflow run of variant {variant!r} in {current_uri()}; "
            "evaluate inside tracked_run(...) (the DVC stages and flows do)"
        )
    return run_id


def log_evaluation(params: Params, variant: str, result: Any, run_dir: Path) -> str | None:
    """Log ``val/<task>/<metric>`` (at the training's last step), the evaluation files, qualitative panels and
    confusion matrices into the variant's run; returns its id (None off rank 0)."""
    if not is_main_process():
        return None
    resolved = resolve_variant(params, variant)
    run_id = _run_of(Path(run_dir), variant)
    metrics = {f"val/{task}/{name}": value for task, values in result.metrics.items() for name, value in values.items()}
    metrics |= {"val/images": result.images, "val/seconds": result.seconds}
    log_metrics(run_id, metrics, step=resolved.train.iterations)
    c = client()
    for name in ("metrics.json", "per_image.parquet"):
        if (Path(result.out_dir) / name).is_file():
            c.log_artifact(run_id, str(Path(result.out_dir) / name), "eval")
    with _optional(run_id, "figures"), tempfile.TemporaryDirectory() as tmp:
        log_eval_figures(run_id, resolved, variant, Path(result.out_dir), Path(tmp))
    return run_id


def log_eval_figures(run_id: str, resolved: Params, variant: str, eval_dir: Path, tmp: Path) -> None:
    """Qualitative panels (input | GT | prediction per task) and confusion matrices. Confusions come from
    ``<eval_dir>/confusion.npz`` when the evaluator wrote it, otherwise from one more pass over val."""
    from mtcontrast.tasks import dataset_spec

    figures = _figures()
    stored = eval_dir / "confusion.npz"
    preds = predict_val(resolved, variant, confusion=not stored.is_file())
    confusion = dict(np.load(stored)) if stored.is_file() else preds.confusion
    c = client()
    if preds.panels:
        ids, images, gts, pred = zip(*preds.panels, strict=True)
        png = figures.qualitative_panel(
            list(images),
            {t: [g[t] for g in gts] for t in gts[0]},
            {t: [q[t] for q in pred] for t in pred[0]},
            tmp / "qualitative.png",
            resolved.data.dataset,
            ids=list(ids),
            title=f"{variant}: val (input | GT | pred)",
        )
        c.log_artifact(run_id, str(png), "figures")
    spec = dataset_spec(resolved.data.dataset)
    for task, conf in confusion.items():
        png = figures.confusion_matrix_png(
            conf,
            list(spec.class_names[task]),
            tmp / f"confusion_{task}.png",
            title=f"{variant}: {task} confusion (val)",
        )
        c.log_artifact(run_id, str(png), "figures")
    if stored.is_file():
        c.log_artifact(run_id, str(stored), "eval")
    elif confusion:
        np.savez(tmp / "confusion.npz", **confusion)
        c.log_artifact(run_id, str(tmp / "confusion.npz"), "eval")


# ------------------------------------------------------------------------------------------------ report
def log_report(params: Params, results: Mapping[str, Any], reports_dir: Path) -> dict[str, str]:
    """Δm (``val/delta_m``; ``val/delta_m_vs_host`` for a regularised run) into each variant's run, with
    ``results.md`` / ``metrics.json`` as artifacts; returns ``{variant: run_id}`` of the runs written."""
    from mtcontrast.engine.trainer import run_dir_of

    if not is_main_process():
        return {}
    logged: dict[str, str] = {}
    c = client()
    for variant in results.get("variants", {}):
        run_id = run_id_of(run_dir_of(params, variant))
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
            log_metrics(run_id, metrics, step=resolve_variant(params, variant).train.iterations)
        for name in ("results.md", "metrics.json"):
            if (Path(reports_dir) / name).is_file():
                c.log_artifact(run_id, str(Path(reports_dir) / name), "report")
        logged[variant] = run_id
    return logged
