"""DVC stage ``scenes``: write the built-in procedural dataset in the real raw layouts.

Inputs: params.yaml (section scenes: out_dir, layouts, seed, image_size, pascal_max_side, train, val, objects,
pascal_objects, persons, unannotated_person_rate, hole_fraction, noise).
Outputs: ``<scenes.out_dir>/<layout>/`` for each layout in ``scenes.layouts`` (``nyudv2``: PNG / NPY package,
``nyud_mt``: JPG / NPY package, ``pascal_context``: JPEG, LabelMap / PASCAL-Part .mat, distilled PNGs, ImageSets),
each with a ``scenes_manifest.json`` (generator version, seed, sizes, counts, params, class coverage). A one-line
summary (images, seconds, images/s, classes covered) is printed.

    dvc repro scenes                    # or: python stages/scenes.py  (same as `mtc scenes`)
"""

import sys

from mtcontrast.config import load_params
from mtcontrast.errors import exit_on_user_error
from mtcontrast.scenes import generate_scenes


def main() -> None:
    params = load_params("params.yaml")
    generate_scenes(params.scenes, progress=sys.stderr.isatty())


if __name__ == "__main__":
    with exit_on_user_error("scenes"):
        main()
