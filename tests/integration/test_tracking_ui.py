"""``mtc ui``: serves the MLflow UI on 127.0.0.1 over a temporary store and stops without leaving processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from mtcontrast.tracking.ui import UiError, runs_url, serve_ui, server_command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def test_server_command_uses_the_store_and_artifacts_beside_it(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    cmd = server_command(uri, 5123, (tmp_path / "mlruns" / "artifacts").as_uri())
    assert cmd[:4] == [sys.executable, "-m", "mlflow", "server"]
    pairs = dict(zip(cmd[4::2], cmd[5::2], strict=True))
    assert pairs == {
        "--backend-store-uri": uri,
        "--host": "127.0.0.1",
        "--port": "5123",
        "--workers": "1",
        "--default-artifact-root": (tmp_path / "mlruns" / "artifacts").as_uri(),
        "--artifacts-destination": (tmp_path / "mlruns" / "artifacts").as_uri(),
    }


def test_the_printed_url_opens_the_ml_runs_of_the_experiment() -> None:
    base = "http://127.0.0.1:5000"
    assert runs_url(base, "3") == f"{base}/#/experiments/3?workflowType=machine_learning"
    assert runs_url(base, None) == f"{base}/#/experiments?workflowType=machine_learning"


def test_a_taken_port_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(UiError, match=f"port {port} .* in use.*--port"):
            serve_ui(port=port)
    assert not (tmp_path / "mlflow.db").exists()  # refused before touching the store


def test_a_server_uri_needs_no_ui(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert serve_ui(port=_free_port()) == 0
    assert "tracking server (http://127.0.0.1:9)" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_mtc_ui_answers_on_localhost_and_stops_cleanly(tmp_path: Path, repo_root: Path) -> None:
    from mlflow import MlflowClient

    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db"}
    (tmp_path / "mlruns").mkdir()
    where = (tmp_path / "mlruns" / "artifacts" / "scenes_nyudv2").as_uri()
    exp_id = MlflowClient(env["MLFLOW_TRACKING_URI"]).create_experiment("mtcontrast/scenes_nyudv2", where)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtcontrast.cli", "ui", "--port", str(port), "--params", str(repo_root / "params.yaml")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, status = time.monotonic() + 180, 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                time.sleep(0.5)
        assert status == 200, f"no answer on port {port}; mtc ui exited with {proc.poll()}"
        assert b"MLflow" in body or b"mlflow" in body
        health = _get(f"http://127.0.0.1:{port}/health")
        assert health[0] == 200
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children  # the server (and its workers) run in their own group under mtc ui
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert f"MLflow UI: http://127.0.0.1:{port}/#/experiments/{exp_id}?workflowType=machine_learning" in out
    assert "stopping MLflow UI" in out
    psutil.wait_procs(children, timeout=10)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left running: {[(c.pid, c.name()) for c in alive]}"
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/health")
    assert not (tmp_path / "mlartifacts").exists() and not (tmp_path / "mlruns" / "0").exists()
