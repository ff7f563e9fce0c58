"""DVC stage ``evaluate@<variant>``: score one trained variant on the val split at native resolution.

Inputs: params.yaml (sections data, model, eval, variants), runs/<variant>/checkpoint.pt, val.h5.
Outputs: runs/<variant>/eval/metrics.json (split-level metrics per task, protocols used),
runs/<variant>/eval/per_image.parquet (one row per image and task).
MLflow: re-opens the variant's training run and adds ``val/<task>/<metric>``, the evaluation files, qualitative
panels and confusion matrices.

    dvc repro evaluate@mtl_contrast     # or: python stages/evaluate.py mtl_contrast
"""

import argparse

from mtcontrast.config import load_params
from mtcontrast.tracking import tracked_evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", help="a key of `variants` in params.yaml")
    args = parser.parse_args()
    tracked_evaluate(load_params("params.yaml"), args.variant, source="dvc:evaluate")


if __name__ == "__main__":
    main()
