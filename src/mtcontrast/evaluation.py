"""Evaluate one trained variant and record it: the entry point behind ``mtc evaluate``, the DVC stage
``evaluate@`` and ablation children.

The model is the checkpoint's (:func:`mtcontrast.engine.trained.load_trained`, rebuilt from the params it was
trained with); only the ``eval`` section comes from the current params. The evaluator scores it in one pass that
also keeps the qualitative panel and the confusion matrices; their figures are drawn here, once, into
``<run>/eval/figures/``; MLflow only records all of it into the run of the training it evaluates.

    from mtcontrast.evaluation import run_evaluation
    result = run_evaluation(load_params("params.yaml"), "mtl_contrast", source="cli:evaluate")

The offline route: :func:`export_predictions` writes a checkpoint's predictions in the files ``mtc score`` reads, and
:func:`score_predictions` scores such files with the same ``eval`` options, so predict → score gives the
evaluator's numbers (``mtc predict`` / ``mtc score``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mtcontrast.config import Params
from mtcontrast.engine.evaluator import EvalResult, evaluate_variant
from mtcontrast.engine.trained import load_trained
from mtcontrast.metrics.score import PROTOCOLS


def write_eval_figures(result: EvalResult, out_dir: Path) -> list[Path]:
    """``qualitative.png`` (input | GT | prediction per task) and ``confusion_<task>.png`` from one evaluation."""
    from mtcontrast.report.figures import confusion_matrix_png, qualitative_panel
    from mtcontrast.tasks import dataset_spec

    spec = dataset_spec(result.dataset)
    written = []
    if result.panels:
        ids, images, gts, preds = zip(*result.panels, strict=True)
        tasks = list(gts[0])
        written.append(
            qualitative_panel(
                list(images),
                {t: [g[t] for g in gts] for t in tasks},
                {t: [p[t] for p in preds] for t in tasks},
                out_dir / "qualitative.png",
                spec,
                ids=list(ids),
                title=f"{result.variant}: val (input | GT | prediction)",
            )
        )
    for task, conf in result.confusion.items():
        png = out_dir / f"confusion_{task}.png"
        written.append(confusion_matrix_png(conf, list(spec.class_names[task]), png, title=f"{result.variant}: {task}"))
    return written


def run_evaluation(
    params: Params, variant: str, seed: int | None = None, *, source: str, progress: bool = True, **run_kw: Any
) -> EvalResult:
    """Score the checkpoint of (``variant``, ``seed``; default: the first of ``seeds``), draw the evaluation figures, and log both into the training's MLflow run
    (re-opened through the checkpoint's own params, so later edits of ``loss`` or ``train`` do not split it).
    ``run_kw`` go to :func:`mtcontrast.tracking.tracked_run` (``parent_run_id``, ``run_name``, ``extra_tags``)."""
    from mtcontrast.tracking import configure, is_main_process, log_evaluation, tracked_run

    configure()
    params = params.at_seed(seed)
    paths = params.train.run_paths(variant, params.seed)
    trained = load_trained(paths.checkpoint)
    recipe = trained.params.model_copy(update={"eval": params.eval})
    with tracked_run(recipe, variant, source=source, run_dir=paths.dir, **run_kw):
        result = evaluate_variant(params, variant, trained=trained, progress=progress)
        if is_main_process():
            write_eval_figures(result, paths.figures_dir)
            log_evaluation(result, paths.dir)
    return result


# ------------------------------------------------------------------------------------------------ offline route
PNG_TASKS = ("semseg", "human_parts", "edge")  # class indices; edge: SEISM's uint8 PNG (the meter scores k/255)
NPY_TASKS = ("depth", "normals", "sal")  # float32 arrays: exactly the values the evaluator scores


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".png":
        Image.fromarray(array).save(tmp, format="PNG")
    else:
        with tmp.open("wb") as f:
            np.save(f, array, allow_pickle=False)
    tmp.replace(path)


def export_predictions(
    params: Params,
    variant: str,
    out_dir: Path,
    *,
    seed: int | None = None,
    split: str = "val",
    progress: bool = True,
) -> dict[str, Any]:
    """Write the checkpoint's predictions of ``split`` as ``<out_dir>/<task>/<id>.png|.npy``, the files
    :func:`mtcontrast.metrics.score_folder` (``mtc score``) reads, so the numbers can be recomputed offline or by
    another tool. The model is the checkpoint's, the data its stored params' (as in :func:`run_evaluation`);
    ``eval`` (padding, batch size, ``limit``) from ``params``. Also writes ``predictions.json`` (what was exported
    and the ``mtc score`` line that scores it). Returns that manifest."""
    import json

    from tqdm.auto import tqdm

    from mtcontrast.data.ids import check_id, path_inside
    from mtcontrast.engine.predict import predict
    from mtcontrast.metrics.edges.export import quantize_prob

    params = params.at_seed(seed)
    trained = load_trained(params.train.run_paths(variant, params.seed).checkpoint)
    p = trained.params.model_copy(update={"eval": params.eval})
    tasks = list(trained.host.tasks)
    out_dir = Path(out_dir)
    folders = {t: out_dir / t for t in tasks}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with tqdm(desc=f"predict {variant} ({split})", disable=not progress, dynamic_ncols=True) as bar:
        for pr in predict(trained.host, p, split=split):
            for task in tasks:
                folder = folders[task]
                name = check_id(pr.id, p.data.prepared_path(split))
                pred = pr.pred[task]
                if task == "edge":
                    _save_atomic(path_inside(folder, f"{name}.png"), quantize_prob(pred))
                elif task in PNG_TASKS:
                    _save_atomic(path_inside(folder, f"{name}.png"), np.asarray(pred, dtype=np.uint8))
                else:
                    _save_atomic(path_inside(folder, f"{name}.npy"), np.asarray(pred, dtype=np.float32))
            count += 1
            bar.update(1)
    prepared = p.data.prepared_path(split)
    manifest = {
        "variant": variant,
        "seed": params.seed,
        "split": split,
        "images": count,
        "tasks": tasks,
        "checkpoint": str(trained.checkpoint),
        "step": trained.step,
        "prepared": str(prepared),
        "formats": {t: "png" if t in PNG_TASKS else "npy" for t in tasks},
        "score": f"mtc score --prepared {prepared} --pred {out_dir}",
    }
    (out_dir / "predictions.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def score_predictions(
    params: Params,
    prepared: Path,
    pred_dir: Path,
    *,
    tasks: list[str] | None = None,
    protocol: str | None = None,
) -> dict[str, dict[str, float]]:
    """:func:`mtcontrast.metrics.score_folder` with every option the pipeline's evaluator takes from ``eval``
    (protocol variants, edge thinning / GT / matcher / threshold step, ``limit``, worker processes), so ``mtc score``
    on exported predictions gives the numbers of ``evaluate@``. ``protocol`` (a saliency or edge variant name)
    replaces the one ``eval`` selects for its task."""
    import os

    from mtcontrast.engine.evaluator import edge_options, protocol_of
    from mtcontrast.metrics import score_folder

    cfg = params.eval
    chosen: Any = dict(protocol_of(cfg))
    if protocol is not None:
        chosen = {task: protocol if protocol in variants else chosen[task] for task, variants in PROTOCOLS.items()}
        if protocol not in {v for variants in PROTOCOLS.values() for v in variants}:
            chosen = protocol  # score_folder names the unknown protocol
    return score_folder(
        prepared,
        pred_dir,
        tasks=tasks,
        protocol=chosen,
        workers=cfg.workers or os.cpu_count() or 1,
        edge_thin=cfg.edge_thin,
        edge_gt=cfg.edge_gt,
        edge_matcher=cfg.edge_matcher,
        edge_thresholds=edge_options(cfg, Path(pred_dir)).get("thresholds"),
        limit=cfg.limit,
    )
