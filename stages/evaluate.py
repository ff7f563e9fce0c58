"""DVC stage ``evaluate@<variant>``: score one trained variant on the val split at native resolution.

Inputs: params.yaml (sections data, model, eval, variants), runs/<variant>/checkpoint.pt, val.h5.
Outputs: runs/<variant>/eval/metrics.json (split-level metrics per task, protocols used),
runs/<variant>/eval/per_image.parquet (one row per image and task).

    dvc repro evaluate@mtl_contrast     # or: python stages/evaluate.py mtl_contrast
"""

import argparse

from mtcontrast.config import load_params
from mtcontrast.engine.evaluator import evaluate_variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", help="a key of `variants` in params.yaml")
    args = parser.parse_args()
    evaluate_variant(load_params("params.yaml"), args.variant)


if __name__ == "__main__":
    main()
