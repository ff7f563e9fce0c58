"""DVC stage ``evaluate@<variant>-<seed>`` (a baseline's: ``evaluate_baseline@…``): score one trained run on the val
split at native resolution.

Inputs: runs/<variant>/s<seed>/checkpoint.pt (the model, rebuilt from the params stored in it), params.yaml section
``eval`` (the protocol), the val split the checkpoint was trained beside. Nothing else: editing ``loss``, ``model``
or ``train`` after training does not change the evaluation.
Outputs: runs/<variant>/s<seed>/eval/metrics.json (split-level metrics per task, protocols used),
per_image.parquet (one row per image and task), confusion.npz (semseg / parts) and figures/ (qualitative panel,
confusion matrices).
MLflow: re-opens the variant's training run and adds ``val/<task>/<metric>`` and those files.

    dvc repro evaluate@mtl_contrast-0   # or: python stages/evaluate.py mtl_contrast 0
"""

import argparse
import sys

from mtcontrast.config import load_params
from mtcontrast.errors import exit_on_user_error
from mtcontrast.evaluation import run_evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", help="a key of `baselines` or `variants` in params.yaml")
    parser.add_argument("seed", type=int, help="the run's seed (one of `seeds` in params.yaml)")
    args = parser.parse_args()
    run_evaluation(
        load_params("params.yaml"), args.variant, args.seed, source="dvc:evaluate", progress=sys.stderr.isatty()
    )


if __name__ == "__main__":
    with exit_on_user_error("evaluate"):
        main()
