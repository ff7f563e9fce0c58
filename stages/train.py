"""DVC stage ``train@<variant>``: train one variant (single-task baseline, host, or host + regulariser).

Inputs: params.yaml (sections seed, data, model, loss, train, variants.<variant>), data/prepared/<data.name>/train.h5.
DVC sees the params through runs/<variant>/recipe.json (stage ``recipe@<variant>``: only the keys that can change
this variant), so an edit retrains only the variants it changes.
Outputs: runs/<variant>/checkpoint.pt (resolved params, git commit, weights, optimiser, RNG), history.jsonl (one
line per logged step, kept across resumes), history.csv (the same as a table, for ``dvc plots``),
train_summary.json. A killed run resumes from its last checkpoint when re-run with unchanged params.
MLflow (``mtc ui``): one run per training in experiment ``mtcontrast/<data.name>`` (id in runs/<variant>/
mlflow_run.json) with params, per-step ``train/*`` metrics, tags, the checkpoint and the inference model.

    dvc repro train@mtl_contrast        # or: python stages/train.py mtl_contrast
"""

import argparse
import sys

from mtcontrast.config import load_params
from mtcontrast.errors import exit_on_user_error
from mtcontrast.training import run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", help="a key of `variants` in params.yaml")
    args = parser.parse_args()
    run_training(load_params("params.yaml"), args.variant, source="dvc:train", progress=sys.stderr.isatty())


if __name__ == "__main__":
    with exit_on_user_error("train"):
        main()
