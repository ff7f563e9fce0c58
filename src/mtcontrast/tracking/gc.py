"""``mtc gc``: give back the disk space of runs deleted in the MLflow UI (a deleted run only changes its lifecycle
stage; its files stay until a garbage collection).

Three steps on the project's SQLite store: the logged models of the deleted runs (where their weights are,
:mod:`mtcontrast.tracking.pyfunc`) are deleted with their files, ``mlflow gc`` then removes the runs' metadata and
artifacts, and ``VACUUM`` shrinks the database file. A tracking server collects its own garbage (``mlflow gc`` on
the server's machine); ``mtc gc`` refuses it.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from mtcontrast.tracking.store import client, configure, is_database_uri, resolve_uri, sqlite_path


class GcError(RuntimeError):
    """The store cannot be collected here (a server URI, ``mlflow gc`` failing)."""


@dataclass(frozen=True)
class GcResult:
    runs: list[str]  # ids of the runs removed for good
    models: list[str]  # ids of their logged models, removed with their files
    bytes_before: int  # database + artifact folder
    bytes_after: int

    @property
    def freed(self) -> int:
        return self.bytes_before - self.bytes_after


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def _local_dir(uri: str) -> Path | None:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme in ("", "file") else None


def collect_garbage(uri: str | None = None, older_than: str | None = None) -> GcResult:
    """Remove for good the runs in the ``deleted`` stage (deleted at least ``older_than`` ago, e.g. ``30d``, when
    given), their logged models and their files; returns what went and the bytes freed."""
    from mlflow.entities import ViewType

    uri = resolve_uri(uri)
    db = sqlite_path(uri)
    if not is_database_uri(uri) or db is None:
        raise GcError(f"{uri} is not the project's SQLite store; run `mlflow gc` where that store lives")
    configure(uri)
    root = db.parent / "artifacts"
    before = _size(db) + _size(root)
    c = client()
    experiments = [e.experiment_id for e in c.search_experiments(view_type=ViewType.ALL)]
    deleted = c.search_runs(experiments, run_view_type=ViewType.DELETED_ONLY, max_results=50000) if experiments else []
    run_ids = [r.info.run_id for r in deleted]
    cmd = [sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", uri]
    if older_than:
        cmd += ["--older-than", older_than]
    models: list[str] = []
    if run_ids:
        outputs = {r.info.run_id: r.outputs for r in deleted}
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise GcError(f"`mlflow gc` exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}")
        remaining = {r.info.run_id for r in c.search_runs(experiments, run_view_type=ViewType.DELETED_ONLY)}
        gone = [run_id for run_id in run_ids if run_id not in remaining]
        for run_id in gone:  # mlflow gc keeps the logged models of the runs it removes: their weights
            run_outputs = outputs[run_id]
            for output in run_outputs.model_outputs if run_outputs is not None else []:
                folder = _local_dir(c.get_logged_model(output.model_id).artifact_location)
                c.delete_logged_model(output.model_id)
                if folder is not None and folder.name == "artifacts":
                    folder = folder.parent  # <root>/<experiment>/models/<model id>/artifacts
                if folder is not None and folder.is_dir() and folder.resolve().is_relative_to(root.resolve()):
                    shutil.rmtree(folder)  # only ever inside the store's own artifact folder
                models.append(output.model_id)
        run_ids = gone
    with sqlite3.connect(db) as conn:
        conn.execute("VACUUM")
    return GcResult(run_ids, models, before, _size(db) + _size(root))
