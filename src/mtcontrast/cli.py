"""``mtc``: the command line of mtcontrast. Every command reads params.yaml through the one schema.

mtc scenes                    # write the built-in procedural dataset in the real layouts
mtc prepare --limit 20        # raw layout -> validated data/prepared/<name>/{train,val}.h5
mtc train --variant mtl_contrast            # the first of `seeds`; --seed 1 for another (runs/<variant>/s<seed>/)
mtc evaluate --variant mtl_contrast --seed 1
mtc report                    # reports/results.md + reports/metrics.json (floors included when present)
mtc predict --variant mtl_contrast --out preds/mtl_contrast   # export predictions in the protocol files
mtc score --prepared data/prepared/nyudv2/val.h5 --pred my_invpt_outputs/   # score any model's exports
mtc ui --port 5000            # MLflow UI over every tracked run (Ctrl-C stops it)
mtc gc                        # free the space of runs deleted in the MLflow UI
mtc ablate --grid 'loss.contrast.weight=[0.3, 1]' -S 'seeds=[0, 1]'   # Prefect ablation flow (params: ablation)
mtc <command> -S data.dataset=pascal_context -S data.root=/data/PASCALContext
mtc train --variant mtl_contrast --profile profiles/paper_nyudv2.yaml   # a paper recipe: params.yaml + its deltas
mtc profile profiles/paper_nyudv2.yaml   # the same deltas as -S arguments: dvc exp run $(mtc profile FILE)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mtcontrast.config import Params, load_params, profile_overrides


def _cmd_scenes(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.scenes import generate_scenes

    generate_scenes(params.scenes, progress=not args.quiet)


def _cmd_prepare(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.data.prepare import prepare_dataset

    data = params.data if args.limit is None else params.data.model_copy(update={"limit": args.limit})
    prepare_dataset(data, progress=not args.quiet, force=args.force)


def _cmd_train(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.training import run_training

    run_training(
        params,
        args.variant,
        args.seed,
        source="cli:train",
        resume=not args.fresh,
        progress=not args.quiet,
        log_checkpoint=args.log_checkpoint,
    )


def _cmd_evaluate(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.evaluation import run_evaluation

    run_evaluation(params, args.variant, args.seed, source="cli:evaluate", progress=not args.quiet)


def _cmd_report(params: Params, args: argparse.Namespace) -> None:
    from pathlib import Path

    from mtcontrast.report.results import write_report

    write_report(params, Path(args.out), floors_path=Path(args.out) / "floors.json")
    print((Path(args.out) / "results.md").read_text())


def _cmd_ui(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.tracking import UiError, experiment_name, serve_ui

    try:
        code = serve_ui(port=args.port, experiment=experiment_name(params))
    except UiError as err:
        print(f"mtc ui: error: {err}", file=sys.stderr)
        code = 2
    if code:
        sys.exit(code)


def _cmd_gc(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.tracking.gc import GcError, collect_garbage

    try:
        result = collect_garbage(older_than=args.older_than)
    except GcError as err:
        sys.exit(f"mtc gc: error: {err}")
    mb = 1024 * 1024
    print(
        f"mtc gc: removed {len(result.runs)} deleted run(s) and {len(result.models)} logged model(s); "
        f"store {result.bytes_before / mb:.1f} MB -> {result.bytes_after / mb:.1f} MB ({result.freed / mb:.1f} MB freed)"
    )


def _cmd_ablate(params: Params, args: argparse.Namespace) -> None:
    from mtcontrast.study import AblationChildError, parse_grid
    from pipelines.ablation import ablation  # installed beside mtcontrast: works from any directory

    try:
        ablation(parse_grid(args.grid), args.name, args.max_parallel, args.overrides, args.params)
    except AblationChildError as err:
        sys.exit(f"mtc ablate: error: {err}")


def _cmd_score(params: Params, args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    from mtcontrast.evaluation import score_predictions

    result = score_predictions(params, Path(args.prepared), Path(args.pred), tasks=args.task, protocol=args.protocol)
    print(json.dumps(result, indent=2))


def _cmd_predict(params: Params, args: argparse.Namespace) -> None:
    from pathlib import Path

    from mtcontrast.evaluation import export_predictions

    manifest = export_predictions(
        params, args.variant, Path(args.out), seed=args.seed, split=args.split, progress=not args.quiet
    )
    print(
        f"{manifest['images']} {args.split} predictions of {args.variant} seed {manifest['seed']} "
        f"(step {manifest['step']}) in {args.out}/"
    )
    print(f"score them: {manifest['score']}")


def _cmd_profile(params: Params, args: argparse.Namespace) -> None:
    """One ``-S key=value`` per line with no spaces inside a value, so the shell's word splitting of
    ``$(mtc profile FILE)`` hands DVC (and ``mtc``) exactly these arguments."""
    for override in profile_overrides(args.profile, args.params):
        print(f"-S {override}")


COMMANDS: dict[str, tuple[Callable[[Params, argparse.Namespace], None], str]] = {
    "scenes": (_cmd_scenes, "write the procedural scenes dataset (params: scenes) in the real on-disk layouts"),
    "prepare": (_cmd_prepare, "decode a raw dataset folder (params: data), check it and write validated HDF5"),
    "train": (
        _cmd_train,
        "train one variant with one seed (params: baselines.<name> or variants.<name>); resumes an interrupted run",
    ),
    "evaluate": (_cmd_evaluate, "score a trained variant on val at native resolution (params: eval)"),
    "report": (_cmd_report, "write reports/results.md and reports/metrics.json from all evaluated variants"),
    "predict": (_cmd_predict, "export a trained variant's predictions in the files `mtc score` reads"),
    "score": (_cmd_score, "score saved predictions (protocol export formats) against a prepared split (params: eval)"),
    "ablate": (_cmd_ablate, "run the Prefect ablation flow: grid children as MLflow runs under one parent, summary"),
    "gc": (_cmd_gc, "free the disk space of runs deleted in the MLflow UI (mlflow gc + their models + VACUUM)"),
    "ui": (_cmd_ui, "open the MLflow UI on the project's runs (mlruns/mlflow.db) at http://127.0.0.1:PORT"),
    "profile": (_cmd_profile, "print a profile's deltas as -S arguments, for `dvc exp run $(mtc profile FILE)`"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtc",
        description="Multi-task dense prediction with a cross-task contrastive regulariser.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    params_file = argparse.ArgumentParser(add_help=False)
    params_file.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    common = argparse.ArgumentParser(add_help=False, parents=[params_file])
    common.add_argument(
        "--profile",
        default=None,
        metavar="FILE",
        help="apply a profile's deltas (e.g. profiles/paper_nyudv2.yaml) to the params file, before any -S",
    )
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
        if name == "profile":  # its FILE is the profile itself: no --profile, -S or progress bars
            p = sub.add_parser(name, parents=[params_file], help=help_text, description=help_text)
            p.add_argument("profile", metavar="FILE", help="a profile, e.g. profiles/paper_nyudv2.yaml")
            p.set_defaults(overrides=[], quiet=True)
            continue
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        if name == "prepare":
            p.add_argument("--limit", type=int, default=None, help="keep the first N ids of each split")
            p.add_argument("--force", action="store_true", help="rewrite the HDF5 even when it looks up to date")
        if name in ("train", "evaluate", "predict"):
            p.add_argument(
                "--variant", required=True, help="a key of `baselines` or `variants` in params.yaml, e.g. mtl_contrast"
            )
            p.add_argument(
                "--seed",
                type=int,
                default=None,
                help="the run's seed: folder runs/<variant>/s<seed>/ (default: the first of `seeds` in params.yaml)",
            )
        if name == "train":
            p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
            p.add_argument(
                "--log-checkpoint",
                action="store_true",
                help="also store the resumable checkpoint (weights + optimiser state) in MLflow; default: weights only",
            )
        if name == "report":
            p.add_argument("--out", default="reports", help="output folder (default: %(default)s)")
        if name == "predict":
            p.add_argument("--split", default="val", choices=("train", "val"), help="default: %(default)s")
            p.add_argument("--out", required=True, help="output folder: <out>/<task>/<id>.png|.npy")
        if name == "score":
            p.add_argument("--prepared", required=True, help="prepared split, e.g. data/prepared/nyudv2/val.h5")
            p.add_argument("--pred", required=True, help="folder with <task>/<id>.png|.npy predictions")
            p.add_argument("--task", action="append", help="score only this task (repeatable)")
            p.add_argument(
                "--protocol",
                default=None,
                help="a saliency (invpt | atrc | mtinet) or edge (nms | plain) variant; default: the eval params'",
            )
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
        if name == "gc":
            p.add_argument("--older-than", default=None, help="only runs deleted at least this long ago, e.g. 30d")
        if name == "ui":
            p.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from mtcontrast.errors import exit_on_user_error

    args = build_parser().parse_args(argv)
    try:
        with exit_on_user_error(f"mtc {args.command}"):
            params = load_params(args.params, args.overrides, profile=args.profile)
            if args.profile is not None:  # a command that re-reads params from args (the ablation flow) gets the same
                args.overrides = [*profile_overrides(args.profile, args.params), *args.overrides]
            COMMANDS[args.command][0](params, args)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):  # a command's own `sys.exit(message)`
            raise
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
