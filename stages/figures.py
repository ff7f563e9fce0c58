"""DVC stage ``figures``: the pictures that compare trained variants, in reports/figures/.

Inputs: params.yaml (``variants``, ``train.runs_dir``), runs/<variant>/{checkpoint.pt,history.jsonl}, and the val
split the checkpoints were trained beside. Outputs: learning_curves.png (every trained variant); the paper's Fig. 1
analysis over the multi-task variants (baseline vs regularised): separation.{csv,parquet}, separation_hist.png,
separation_auc.png. (Each variant's qualitative panel and confusion matrices come from its evaluation, in
runs/<variant>/eval/figures/.)
MLflow: the same files as artifacts (figures/report/) of each variant's run, where the variant has one.

    dvc repro figures                   # or: python stages/figures.py
"""

from pathlib import Path

from mtcontrast.config import load_params
from mtcontrast.errors import exit_on_user_error
from mtcontrast.report.figures import learning_curves
from mtcontrast.report.separation import feature_separation, multitask_variants
from mtcontrast.tracking import client, configure, run_id_of

OUT = Path("reports/figures")


def main() -> None:
    params = load_params("params.yaml")
    runs = {v: params.train.run_paths(v) for v in params.variants if params.train.run_paths(v).checkpoint.is_file()}
    written: dict[str, list[Path]] = {v: [] for v in runs}
    histories = {v: p.history for v, p in runs.items() if p.history.is_file()}
    if histories:
        curves = learning_curves(histories, OUT / "learning_curves.png")
        for v in histories:
            written[v].append(curves)
    multi = [v for v in multitask_variants(params) if v in runs]
    if multi:
        feature_separation(params, multi, OUT)
        for v in multi:
            written[v] += [OUT / name for name in ("separation_hist.png", "separation_auc.png", "separation.csv")]
    configure()
    for v, files in written.items():
        run_id = run_id_of(runs[v].dir)
        for path in files if run_id else []:
            client().log_artifact(run_id, str(path), "figures/report")
    print(f"figures in {OUT}/: " + ", ".join(sorted(p.name for p in OUT.iterdir() if not p.name.startswith("."))))


if __name__ == "__main__":
    with exit_on_user_error("figures"):
        main()
