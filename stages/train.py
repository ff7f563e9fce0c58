"""DVC stage ``train@<variant>-<seed>`` (a single-task baseline's: ``train_baseline@<variant>-<seed>``): train one
variant (single-task baseline, host, or host + regulariser) with one seed.

Inputs: params.yaml (sections data, model, loss, train, baselines.<variant> or variants.<variant>; the seed from the
command line),
data/prepared/<data.name>/train.h5. DVC sees the params through runs/<variant>/s<seed>/recipe.json (stage
``recipe@<variant>-<seed>``: only the keys that can change this run), so an edit retrains only the runs it changes.
Outputs (in runs/<variant>/s<seed>/): checkpoint.pt (resolved params, git commit, weights, optimiser, RNG), history.jsonl (one
line per logged step, kept across resumes), history.csv (the same as a table, for ``dvc plots``),
train_summary.json. A killed run resumes from its last checkpoint when re-run with unchanged params.
MLflow (``mtc ui``): one run per training in experiment ``mtcontrast/<data.name>`` (id in runs/<variant>/s<seed>/
mlflow_run.json, tags ``variant`` and ``seed``) with params, per-step ``train/*`` metrics, the checkpoint and the
inference model.

    dvc repro train@mtl_contrast-0      # or: python stages/train.py mtl_contrast 0
"""

import argparse
import sys

from mtcontrast.config import load_params
from mtcontrast.errors import exit_on_user_error
from mtcontrast.training import run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", help="a key of `baselines` or `variants` in params.yaml")
    parser.add_argument("seed", type=int, help="the run's seed (one of `seeds` in params.yaml)")
    args = parser.parse_args()
    run_training(load_params("params.yaml"), args.variant, args.seed, source="dvc:train", progress=sys.stderr.isatty())


if __name__ == "__main__":
    with exit_on_user_error("train"):
        main()
