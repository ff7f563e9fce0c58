"""DVC stage ``figures``: the pictures of the trained variants in reports/figures/.

Inputs: params.yaml, runs/<variant>/{checkpoint.pt,history.jsonl} (and eval/confusion.npz when present), val.h5.
Outputs: learning_curves.png (every trained variant); per multi-task variant qualitative_<variant>.png (input | GT |
prediction per task) and confusion_<variant>_<task>.png; the paper's Fig. 1 analysis over the multi-task variants
(baseline vs regularised): separation.{csv,parquet}, separation_hist.png, separation_auc.png.
MLflow: the same files as artifacts (figures/report/) of each variant's run, where the variant has one.

    dvc repro figures                   # or: python stages/figures.py
"""

from pathlib import Path

import numpy as np

from mtcontrast.config import load_params, resolve_variant
from mtcontrast.engine.trainer import run_dir_of
from mtcontrast.report.figures import confusion_matrix_png, learning_curves, qualitative_panel
from mtcontrast.report.separation import feature_separation, multitask_variants
from mtcontrast.tasks import dataset_spec
from mtcontrast.tracking import client, configure, predict_val, run_id_of

OUT = Path("reports/figures")


def main() -> None:
    params = load_params("params.yaml")
    spec = dataset_spec(params.data.dataset)
    runs = {v: run_dir_of(params, v) for v in params.variants if (run_dir_of(params, v) / "checkpoint.pt").is_file()}
    written: dict[str, list[Path]] = {v: [] for v in runs}
    histories = {v: d / "history.jsonl" for v, d in runs.items() if (d / "history.jsonl").is_file()}
    if histories:
        curves = learning_curves(histories, OUT / "learning_curves.png")
        for v in histories:
            written[v].append(curves)
    multi = [v for v in multitask_variants(params) if v in runs]
    for v in multi:
        stored = runs[v] / "eval" / "confusion.npz"
        pred = predict_val(resolve_variant(params, v), v, confusion=not stored.is_file())
        ids, images, gts, preds = zip(*pred.panels)
        tasks = list(gts[0])
        written[v].append(
            qualitative_panel(
                list(images),
                {t: [g[t] for g in gts] for t in tasks},
                {t: [p[t] for p in preds] for t in tasks},
                OUT / f"qualitative_{v}.png",
                spec,
                ids=list(ids),
                title=f"{v}: input | ground truth | prediction",
            )
        )
        confusion = dict(np.load(stored)) if stored.is_file() else pred.confusion
        for task, conf in confusion.items():
            png = OUT / f"confusion_{v}_{task}.png"
            written[v].append(confusion_matrix_png(conf, spec.class_names[task], png, title=f"{v}: {task}"))
    if multi:
        feature_separation(params, multi, OUT)
        for v in multi:
            written[v] += [OUT / name for name in ("separation_hist.png", "separation_auc.png", "separation.csv")]
    configure()
    for v, files in written.items():
        run_id = run_id_of(runs[v])
        for path in files if run_id else []:
            client().log_artifact(run_id, str(path), "figures/report")
    print(f"figures in {OUT}/: " + ", ".join(sorted(p.name for p in OUT.iterdir() if not p.name.startswith("."))))


if __name__ == "__main__":
    main()
