"""DVC stage ``floors``: score trivial predictors (majority class, train-mean depth, mean normal, all-background
edge / saliency), fitted on train and scored on val, so the report shows how far every model is from trivial.

Inputs: params.yaml (data, eval), data/prepared/<data.name>/{train,val}.h5. Output: reports/floors.json.

    dvc repro floors                    # or: python stages/floors.py
"""

import json
from pathlib import Path

from mtcontrast.config import load_params
from mtcontrast.errors import exit_on_user_error
from mtcontrast.report.floors import compute_floors


def main() -> None:
    params = load_params("params.yaml")
    floors = compute_floors(
        params.data.prepared_path("train"), params.data.prepared_path("val"), sal_protocol=params.eval.sal_protocol
    )
    out = Path("reports/floors.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(floors, indent=2))
    print(f"floors written to {out}")


if __name__ == "__main__":
    with exit_on_user_error("floors"):
        main()
