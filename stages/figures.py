"""DVC stage ``figures``: the pictures that compare trained variants, in reports/figures/.

Inputs: params.yaml (``seeds``, ``baseline_seeds``, ``baselines``, ``variants``, ``train.runs_dir``),
runs/<variant>/s<seed>/{checkpoint.pt, history.jsonl}, reports/metrics.json (the report's paired effects) and the
val split the checkpoints were trained beside. Outputs: forest.png (the regulariser's paired effect per task metric
and on Δm, with the 95 % t interval over seeds and the bootstrap interval over val images); learning_curves.png
(every variant and baseline, its first seed); val_curves.png (each task's val metric during training, every run:
the convergence evidence); the paper's Fig. 1 analysis over the multi-task variants of the first seed (baseline vs
regularised): separation.{csv,parquet}, separation_hist.png, separation_auc.png. (Each run's qualitative panel and
confusion matrices come from its evaluation, in runs/<variant>/s<seed>/eval/figures/.)
MLflow: the same files as artifacts (figures/report/) of each run they draw (forest.png: every seed's run of both
variants of a pair).

    dvc repro figures                   # or: python stages/figures.py
"""

import json
from pathlib import Path

from mtcontrast.config import load_params, run_items
from mtcontrast.errors import exit_on_user_error
from mtcontrast.report.figures import forest_plot, learning_curves, val_curves
from mtcontrast.report.separation import feature_separation, multitask_variants
from mtcontrast.tracking import client, configure, run_id_of

OUT = Path("reports/figures")
METRICS = Path("reports/metrics.json")


def main() -> None:
    experiment = load_params("params.yaml")
    params = experiment.at_seed(experiment.seeds[0])  # Fig. 1: the first seed's runs
    first_seed: dict[str, int] = {}  # curves: each variant's first seed (a baseline's first of `baseline_seeds`)
    for v, seed in run_items(experiment):
        first_seed.setdefault(v, seed)
    runs = {
        v: experiment.train.run_paths(v, seed)
        for v, seed in first_seed.items()
        if experiment.train.run_paths(v, seed).checkpoint.is_file()
    }
    written: dict[Path, list[Path]] = {p.dir: [] for p in runs.values()}
    histories = {v: p.history for v, p in runs.items() if p.history.is_file()}
    if histories:
        curves = learning_curves(histories, OUT / "learning_curves.png")
        for v in histories:
            written[runs[v].dir].append(curves)
    every_run = {(v, s): experiment.train.run_paths(v, s) for v, s in run_items(experiment)}
    convergence = val_curves({k: p.history for k, p in every_run.items()}, OUT / "val_curves.png")
    if convergence is not None:
        for p in every_run.values():
            written.setdefault(p.dir, []).append(convergence)
    multi = [v for v in multitask_variants(params) if v in runs]
    if multi:
        feature_separation(params, multi, OUT)
        for v in multi:
            written[runs[v].dir] += [OUT / n for n in ("separation_hist.png", "separation_auc.png", "separation.csv")]
    if METRICS.is_file():
        results = json.loads(METRICS.read_text())
        forest = forest_plot(results, OUT / "forest.png")
        if forest is not None:
            for entry in results.get("contrast_minus_host", {}).values():
                for variant in (entry["with"], entry["without"]):
                    for seed in results.get("seeds", []):
                        written.setdefault(experiment.train.run_paths(variant, seed).dir, []).append(forest)
    configure()
    for run_dir, files in written.items():
        run_id = run_id_of(run_dir)
        for path in files if run_id else []:
            client().log_artifact(run_id, str(path), "figures/report")
    print(f"figures in {OUT}/: " + ", ".join(sorted(p.name for p in OUT.iterdir() if not p.name.startswith("."))))


if __name__ == "__main__":
    with exit_on_user_error("figures"):
        main()
