"""``mtc``: the command line of mtcontrast. Every command reads params.yaml through the one schema.

    mtc scenes                    # write the built-in procedural dataset in the real layouts
    mtc prepare --limit 20        # raw layout -> validated data/prepared/<name>/{train,val}.h5
    mtc <command> -S data.dataset=pascal_context -S data.root=/data/PASCALContext
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mtcontrast.config import Params, ParamsError, load_params
from mtcontrast.data.errors import DataError


def _cmd_scenes(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.scenes import generate_scenes

    generate_scenes(params.scenes, progress=not args.quiet)


def _cmd_prepare(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.data.prepare import prepare_dataset

    data = params.data if args.limit is None else params.data.model_copy(update={"limit": args.limit})
    prepare_dataset(data, progress=not args.quiet)


COMMANDS: dict[str, tuple[Callable[[Params, argparse.Namespace], None], str]] = {
    "scenes": (_cmd_scenes, "write the procedural scenes dataset (params: scenes) in the real on-disk layouts"),
    "prepare": (_cmd_prepare, "decode a raw dataset folder (params: data), check it and write validated HDF5"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtc",
        description="Multi-task dense prediction with a cross-task contrastive regulariser.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    common.add_argument(
        "-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one param, e.g. -S data.limit=10 (repeatable; same syntax as `dvc exp run -S`)",
    )  # fmt: skip
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        if name == "prepare":
            p.add_argument("--limit", type=int, default=None, help="keep the first N ids of each split")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        params = load_params(args.params, args.overrides)
        COMMANDS[args.command][0](params, args)
    except (ParamsError, DataError) as err:
        print(f"mtc {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
