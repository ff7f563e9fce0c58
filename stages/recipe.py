"""DVC stage ``recipe@<variant>-<seed>`` (a baseline's: ``recipe_baseline@…``): write the params that can change
this run's trained weights.

Inputs: params.yaml (every section a training reads). Output: runs/<variant>/s<seed>/recipe.json, the run's resolved
params minus what cannot change its weights (``mtcontrast.config.variant_recipe``: ``eval``, other variants and baselines, the
speed-only train keys, the regulariser's settings when it is off, the loss weights of other tasks; its own seed
only). ``train@<variant>-<seed>`` depends on this file, not on params.yaml, so DVC retrains a run only when its own
recipe changed: ``dvc exp run -S loss.contrast.weight=0.3`` retrains ``mtl_contrast``'s seeds alone, ``-S eval.…``
retrains nothing, and a seed added to ``seeds`` trains only the new runs.

    dvc repro recipe@mtl_contrast-0     # or: python stages/recipe.py mtl_contrast 0
"""

import argparse
import json
import os

from mtcontrast.config import load_params, variant_recipe
from mtcontrast.errors import exit_on_user_error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", help="a key of `baselines` or `variants` in params.yaml")
    parser.add_argument("seed", type=int, help="the run's seed (one of `seeds` in params.yaml)")
    args = parser.parse_args()
    params = load_params("params.yaml")
    path = params.train.run_paths(args.variant, args.seed).recipe
    text = json.dumps(variant_recipe(params, args.variant, args.seed), indent=2, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)
    print(f"{path}: {len(text.splitlines())} lines")


if __name__ == "__main__":
    with exit_on_user_error("recipe"):
        main()
