"""DVC stage ``report``: collect every (variant, seed) evaluation into reports/results.md (per-task mean ± 95 %
interval over seeds, Δm against the single-task baselines of the run's seed or, where it has none, their mean over
``baseline_seeds``, the regulariser's paired effect with its intervals and
verdict, trivial floors), reports/headline/<row>.json (the same table, one small file per row and per seed: the
metrics `dvc metrics show` and `dvc exp show` lead with) and reports/metrics.json (everything, for tools).

Inputs: params.yaml (``seeds``, ``baseline_seeds``, ``baselines``, ``variants``, ``eval``),
runs/<variant>/s<seed>/eval/{metrics.json,per_image.parquet} of every run (``run_items``), reports/floors.json.
MLflow: adds ``val/delta_m`` (and ``val/delta_m_vs_host`` for regularised runs, of the same seed) to each run, with
results.md and metrics.json as artifacts.

    dvc repro report                    # or: python stages/report.py
"""

from pathlib import Path

from mtcontrast.config import load_params
from mtcontrast.errors import exit_on_user_error
from mtcontrast.report.results import write_report
from mtcontrast.tracking import configure, log_report


def main() -> None:
    params = load_params("params.yaml")
    results = write_report(params, Path("reports"), floors_path=Path("reports/floors.json"))
    configure()
    log_report(params, results, Path("reports"))
    print(Path("reports/results.md").read_text())


if __name__ == "__main__":
    with exit_on_user_error("report"):
        main()
