"""``mtc``: the command line of mtcontrast. Every command reads params.yaml through the one schema.

mtc scenes                    # write the built-in procedural dataset in the real layouts
mtc prepare --limit 20        # raw layout -> validated data/prepared/<name>/{train,val}.h5
mtc train --variant mtl_contrast
mtc evaluate --variant mtl_contrast
mtc report                    # reports/results.md + reports/metrics.json (floors included when present)
mtc score --prepared data/prepared/nyudv2/val.h5 --pred my_invpt_outputs/   # score any model's exports
mtc ui --port 5000            # MLflow UI over every tracked run (Ctrl-C stops it)
mtc ablate --grid 'loss.contrast.weight=[0.3, 1]' --grid 'seed=[0, 1]'   # Prefect ablation flow (params: ablation)
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


def _cmd_train(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.tracking import tracked_train

    tracked_train(params, args.variant, source="cli:train", resume=not args.fresh, progress=not args.quiet)


def _cmd_evaluate(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.tracking import tracked_evaluate

    tracked_evaluate(params, args.variant, source="cli:evaluate", progress=not args.quiet)


def _cmd_report(params: Params, args: argparse.Namespace) -> None:
    from pathlib import Path

    from mtcontrast.report.results import write_report

    write_report(params, Path(args.out), floors_path=Path(args.out) / "floors.json")
    print((Path(args.out) / "results.md").read_text())


def _cmd_ui(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.tracking import UiError, serve_ui

    try:
        code = serve_ui(port=args.port)
    except UiError as err:
        print(f"mtc ui: error: {err}", file=sys.stderr)
        code = 2
    if code:
        sys.exit(code)


def _cmd_ablate(params: Params, args: argparse.Namespace) -> None:
    import os
    from pathlib import Path

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from prefect.flows import load_flow_from_entrypoint

    from mtcontrast.ablation import AblationChildError, parse_grid

    entry = Path("pipelines/ablation.py")
    if not entry.is_file():
        raise FileNotFoundError(f"{entry.resolve()}: run `mtc ablate` from the project root (it holds pipelines/)")
    flow = load_flow_from_entrypoint(f"{entry}:ablation", use_placeholder_flow=False)
    try:
        flow(parse_grid(args.grid), args.name, args.max_parallel, args.overrides, args.params)
    except AblationChildError as err:
        sys.exit(f"mtc ablate: error: {err}")


def _cmd_score(params: Params, args: argparse.Namespace) -> None:
    import json

    from mtcontrast.metrics import score_folder

    result = score_folder(args.prepared, args.pred, tasks=args.task or None, protocol=args.protocol)
    print(json.dumps(result, indent=2))


COMMANDS: dict[str, tuple[Callable[[Params, argparse.Namespace], None], str]] = {
    "scenes": (_cmd_scenes, "write the procedural scenes dataset (params: scenes) in the real on-disk layouts"),
    "prepare": (_cmd_prepare, "decode a raw dataset folder (params: data), check it and write validated HDF5"),
    "train": (_cmd_train, "train one variant (params: variants.<name>); resumes an interrupted run"),
    "evaluate": (_cmd_evaluate, "score a trained variant on val at native resolution (params: eval)"),
    "report": (_cmd_report, "write reports/results.md and reports/metrics.json from all evaluated variants"),
    "score": (_cmd_score, "score saved predictions (protocol export formats) against a prepared split"),
    "ablate": (_cmd_ablate, "run the Prefect ablation flow: grid children as MLflow runs under one parent, summary"),
    "ui": (_cmd_ui, "open the MLflow UI on the project's runs (mlruns/mlflow.db) at http://127.0.0.1:PORT"),
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
        "-S",
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one param, e.g. -S data.limit=10 (repeatable; same syntax as `dvc exp run -S`)",
    )
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        if name == "prepare":
            p.add_argument("--limit", type=int, default=None, help="keep the first N ids of each split")
        if name in ("train", "evaluate"):
            p.add_argument("--variant", required=True, help="a key of `variants` in params.yaml, e.g. mtl_contrast")
        if name == "train":
            p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
        if name == "report":
            p.add_argument("--out", default="reports", help="output folder (default: %(default)s)")
        if name == "score":
            p.add_argument("--prepared", required=True, help="prepared split, e.g. data/prepared/nyudv2/val.h5")
            p.add_argument("--pred", required=True, help="folder with <task>/<id>.png|.npy predictions")
            p.add_argument("--task", action="append", help="score only this task (repeatable)")
            p.add_argument("--protocol", default=None, help="saliency protocol: invpt | atrc | mtinet")
        if name == "ablate":
            p.add_argument(
                "--grid",
                action="append",
                default=[],
                metavar="KEY=[V1, V2]",
                help="a grid axis (repeatable, YAML values); replaces ablation.grid when given",
            )
            p.add_argument("--name", default=None, help="grid name: folders and parent run (default: ablation.name)")
            p.add_argument("--max-parallel", type=int, default=None, help="children at once (ablation.max_parallel)")
        if name == "ui":
            p.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        params = load_params(args.params, args.overrides)
        COMMANDS[args.command][0](params, args)
    except (ParamsError, DataError, FileNotFoundError) as err:
        print(f"mtc {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
