"""Serve the ``train-eval`` and ``ablation`` flows as deployments with cron schedules on a local Prefect server.

Inputs: a running ``make prefect-server`` (``prefect server start --host 127.0.0.1``) reached through ``PREFECT_API_URL``; the DVC project in
the serving process's directory (each run inherits it), whose params.yaml each scheduled run reads when it starts
(so edits apply to the next run). Outputs: the deployments ``train-eval/nightly`` and ``ablation/weekly``; their
runs write what the flows write. The deployments name the flows by module (``pipelines.train_eval.train_eval``),
which the installed package resolves wherever the runner starts them.

    make prefect-server                                        # terminal 1: API + UI at http://127.0.0.1:4200
    export PREFECT_API_URL=http://127.0.0.1:4200/api           # terminals 2 and 3
    python -m pipelines.schedule                               # terminal 2: serve both (Ctrl-C stops serving)
    prefect deployment run 'train-eval/nightly' --watch        # terminal 3: run now and follow to the end
    prefect deployment run 'ablation/weekly' -p max_parallel=2 --watch

Cron defaults: train-eval every night at 02:00, ablation on Saturdays at 03:00 (``--timezone``, default UTC).
The serving process runs each flow in a subprocess of its own; nothing runs while it is stopped.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from prefect import serve
from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron

from pipelines.ablation import ablation
from pipelines.train_eval import train_eval

TRAIN_EVAL_CRON = "0 2 * * *"
ABLATION_CRON = "0 3 * * 6"


def build_deployments(
    train_eval_cron: str = TRAIN_EVAL_CRON,
    ablation_cron: str = ABLATION_CRON,
    timezone: str = "UTC",
    params_file: str = "params.yaml",
) -> list[Any]:
    """``train-eval/nightly`` and ``ablation/weekly`` with cron schedules (Prefect ``RunnerDeployment`` objects).

    ``params_file`` is the ablation's; ``train-eval`` runs DVC, which reads the project's params.yaml."""
    return [
        train_eval.to_deployment(
            "nightly",
            schedules=[Cron(train_eval_cron, timezone=timezone)],
            tags=["mtcontrast"],
            description="dvc repro: prepare → train@ / evaluate@ per variant → floors, report, figures",
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        ablation.to_deployment(
            "weekly",
            schedules=[Cron(ablation_cron, timezone=timezone)],
            parameters={"params_file": params_file},
            tags=["mtcontrast", "ablation"],
            description="the params.yaml ablation grid as nested MLflow runs",
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
    ]


def server_url() -> str:
    """The API of the running server; cron schedules need a persistent server, not Prefect's temporary one."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise SystemExit(
            "schedule: PREFECT_API_URL is not set. Start a server with `make prefect-server`, "
            "then `export PREFECT_API_URL=http://127.0.0.1:4200/api`"
        )
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=5) as reply:
            reply.read()
    except (urllib.error.URLError, OSError) as err:
        raise SystemExit(
            f"schedule: no Prefect server answers at {url} ({err}); is `make prefect-server` running?"
        ) from None
    return url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-eval-cron", default=TRAIN_EVAL_CRON, help="default: %(default)r")
    parser.add_argument("--ablation-cron", default=ABLATION_CRON, help="default: %(default)r")
    parser.add_argument("--timezone", default="UTC", help="IANA name for the cron times, e.g. Europe/Berlin")
    parser.add_argument(
        "--params", default="params.yaml", help="params file of the ablation runs (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    url = server_url()
    print(
        f"serving train-eval/nightly ({args.train_eval_cron}) and ablation/weekly ({args.ablation_cron}) "
        f"[{args.timezone}] on {url}"
    )
    serve(*build_deployments(args.train_eval_cron, args.ablation_cron, args.timezone, args.params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
