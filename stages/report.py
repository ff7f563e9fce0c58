"""DVC stage ``report``: collect every variant's evaluation into reports/results.md (tables with Δm against the
single-task baselines, regulariser minus host, trivial floors), reports/headline/<row>.json (the same table, one
small file per row: the metrics `dvc metrics show` and `dvc exp show` lead with) and reports/metrics.json
(everything, for tools).

Inputs: params.yaml, runs/<variant>/eval/metrics.json for every variant, reports/floors.json.
MLflow: adds ``val/delta_m`` (and ``val/delta_m_vs_host`` for regularised runs) to each variant's run, with
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
