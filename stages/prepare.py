"""DVC stage ``prepare``: check and decode the raw dataset folder into validated HDF5.

Inputs: params.yaml (section data: dataset, root, name, prepared_dir, limit, compression), the raw folder
``data.root`` in the ``data.dataset`` layout (a real NYUDv2 / NYUD_MT / PASCAL-Context download or the scenes).
Outputs: ``<data.prepared_dir>/<data.name>/{train,val}.h5`` (schema, counts, fingerprint and the first-load check
summary in the attrs; the summary is also printed). Bad input stops with one line naming the file, exit code 2.

    dvc repro prepare                   # or: python stages/prepare.py  (same as `mtc prepare`)
"""

import sys

from mtcontrast.config import load_params
from mtcontrast.data import prepare_dataset
from mtcontrast.errors import exit_on_user_error


def main() -> None:
    params = load_params("params.yaml")
    prepare_dataset(params.data, progress=sys.stderr.isatty())


if __name__ == "__main__":
    with exit_on_user_error("prepare"):
        main()
