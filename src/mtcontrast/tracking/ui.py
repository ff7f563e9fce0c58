"""``mtc ui``: the MLflow UI over the project's store, on 127.0.0.1, stopped cleanly.

The server runs in its own process group (``mlflow server`` forks uvicorn / gunicorn workers); Ctrl-C or SIGTERM
to ``mtc ui`` terminates that whole group, then kills whatever is left after a grace period, so no worker outlives
the command.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from mtcontrast.tracking.store import configure, is_database_uri, resolve_uri, sqlite_path

HOST = "127.0.0.1"
STOP_GRACE_S = 10.0
READY_TIMEOUT_S = 120.0


class UiError(RuntimeError):
    """The UI cannot start (port taken, store not a database)."""


def server_command(uri: str, port: int, artifact_root: str | None) -> list[str]:
    """``python -m mlflow server`` on 127.0.0.1 with the project's backend store and artifact root."""
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if artifact_root is not None:  # new experiments and proxied uploads land beside the database, not in ./mlartifacts
        cmd += ["--default-artifact-root", artifact_root, "--artifacts-destination", artifact_root]
    return cmd


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop_group(proc: subprocess.Popen[Any], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the server's process group, SIGKILL it after ``grace_s``, and reap the leader."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(proc.pid):
                return
            time.sleep(0.1)
    proc.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runs_url(base: str, experiment_id: str | None) -> str:
    """The page with an experiment's runs table. MLflow 3 opens on its GenAI home (traces) by default;
    ``workflowType=machine_learning`` selects the classic ML runs view."""
    if experiment_id is None:
        return f"{base}/#/experiments?workflowType=machine_learning"
    return f"{base}/#/experiments/{experiment_id}?workflowType=machine_learning"


def serve_ui(port: int = 5000, uri: str | None = None, experiment: str | None = None) -> int:
    """Start the UI, print the URL of ``experiment``'s runs (e.g. ``mtcontrast/scenes_nyudv2``; all experiments
    when it does not exist yet), block until the server exits or Ctrl-C / SIGTERM; returns the exit code."""
    from mtcontrast.tracking.store import artifact_root_for, client

    uri = resolve_uri(uri)
    if not is_database_uri(uri):
        print(f"MLFLOW_TRACKING_URI is a tracking server ({uri}): open it in a browser; nothing to start")
        return 0
    if not _port_free(port):
        raise UiError(f"port {port} on {HOST} is in use (another `mtc ui`?); pick another with --port")
    configure(uri)
    db = sqlite_path(uri)
    url = f"http://{HOST}:{port}"
    found = client().get_experiment_by_name(experiment) if experiment else None
    page = runs_url(url, found.experiment_id if found is not None else None)
    print(f"MLflow UI: {page}   (store: {db or uri}; Ctrl-C stops it)", flush=True)
    proc = subprocess.Popen(server_command(uri, port, artifact_root_for(uri)), start_new_session=True)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline and not _ready(url):
            time.sleep(0.5)
        if proc.poll() is None:
            print(f"MLflow UI ready at {page}", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        print("stopping MLflow UI", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_group(proc)
