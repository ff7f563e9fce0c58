"""Evaluate one trained variant and record it: the entry point behind ``mtc evaluate``, the DVC stage
``evaluate@`` and ablation children.

The model is the checkpoint's (:func:`mtcontrast.engine.trained.load_trained`, rebuilt from the params it was
trained with); only the ``eval`` section comes from the current params. The evaluator scores it in one pass that
also keeps the qualitative panel and the confusion matrices; their figures are drawn here, once, into
``<run>/eval/figures/``; MLflow only records all of it into the run of the training it evaluates.

    from mtcontrast.evaluation import run_evaluation
    result = run_evaluation(load_params("params.yaml"), "mtl_contrast", source="cli:evaluate")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtcontrast.config import Params
from mtcontrast.engine.evaluator import EvalResult, evaluate_variant
from mtcontrast.engine.trained import load_trained


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


def run_evaluation(params: Params, variant: str, *, source: str, progress: bool = True, **run_kw: Any) -> EvalResult:
    """Score the variant's checkpoint, draw the evaluation figures, and log both into the training's MLflow run
    (re-opened through the checkpoint's own params, so later edits of ``loss`` or ``train`` do not split it).
    ``run_kw`` go to :func:`mtcontrast.tracking.tracked_run` (``parent_run_id``, ``run_name``, ``extra_tags``)."""
    from mtcontrast.tracking import configure, is_main_process, log_evaluation, tracked_run

    configure()
    paths = params.train.run_paths(variant)
    trained = load_trained(paths.checkpoint)
    recipe = trained.params.model_copy(update={"eval": params.eval})
    with tracked_run(recipe, variant, source=source, run_dir=paths.dir, **run_kw):
        result = evaluate_variant(params, variant, trained=trained, progress=progress)
        if is_main_process():
            write_eval_figures(result, paths.figures_dir)
            log_evaluation(result, paths.dir)
    return result
