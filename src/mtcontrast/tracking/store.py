"""Where runs are recorded: one tracking URI for every stage, flow and CLI command, one experiment per dataset.

The default store is ``sqlite:///<project>/mlruns/mlflow.db`` with artifacts under ``<project>/mlruns/artifacts``
(MLflow 3 refuses a bare ``./mlruns`` file store unless opted in); ``MLFLOW_TRACKING_URI`` points every process at
a shared server instead. SQLite serialises writers, so parallel runs (DVC ``foreach``, Prefect children) can hit
``database is locked``: every client call goes through :class:`RetryingClient`, which retries those with backoff.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import random
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mtcontrast.config import Params

log = logging.getLogger(__name__)

ENV_URI = "MLFLOW_TRACKING_URI"
TAG_PID, TAG_HOST = "mtc.pid", "mtc.host"  # the process that holds a run open (for the sweep of dead runs)
EXPERIMENT_PREFIX = "mtcontrast"
_DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_RETRY_MARKERS = ("database is locked", "database table is locked", "database is busy", "sqlite_busy")
_RETRY_ATTEMPTS = 12
_RETRY_BASE_S = 0.05
_RETRY_MAX_S = 2.0

T = TypeVar("T")


class _State:
    uri: str | None = None
    artifact_root: str | None = None
    initialised: set[str] = set()


def default_uri(root: Path | None = None) -> str:
    """``sqlite:///<abs root>/mlruns/mlflow.db`` (root = the current directory, i.e. the project root)."""
    return f"sqlite:///{(Path(root or Path.cwd()).resolve() / 'mlruns' / 'mlflow.db').as_posix()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for any other store)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///")).resolve()


def artifact_root_for(uri: str) -> str | None:
    """Artifacts live next to a SQLite database (``<db dir>/artifacts``); a server decides for itself (None)."""
    db = sqlite_path(uri)
    return (db.parent / "artifacts").as_uri() if db is not None else None


def is_database_uri(uri: str) -> bool:
    """A store this process (or ``mtc ui``) opens directly, as opposed to an HTTP tracking server."""
    return uri.split(":", 1)[0].split("+", 1)[0] in _DB_SCHEMES


def resolve_uri(uri: str | None = None) -> str:
    """``uri``, else ``MLFLOW_TRACKING_URI``, else the project's SQLite file; SQLite paths made absolute (a later
    ``cd`` must not move the store)."""
    uri = uri or os.environ.get(ENV_URI) or default_uri()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{sqlite_path(uri).as_posix()}"  # type: ignore[union-attr]
    return uri


def configure(uri: str | None = None) -> str:
    """Select the store (:func:`resolve_uri`) for this process and its children: exports ``MLFLOW_TRACKING_URI``
    so subprocesses (DVC stages, flow children) agree, and creates the database schema once under a file lock
    (parallel first runs would otherwise race on the migrations)."""
    import mlflow

    uri = resolve_uri(uri)
    os.environ[ENV_URI] = uri
    mlflow.set_tracking_uri(uri)
    _State.uri, _State.artifact_root = uri, artifact_root_for(uri)
    if uri not in _State.initialised:
        _initialise(uri)
        _State.initialised.add(uri)
        sweep_dead_runs()
    return uri


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep_dead_runs() -> list[str]:
    """Close as KILLED the RUNNING runs of this machine whose process is gone (``kill -9``, a power cut), so no run
    stays RUNNING forever; runs of other machines are left to them. Returns the ids closed; never raises."""
    closed: list[str] = []
    try:
        c = client()
        host = socket.gethostname()
        experiments = [e.experiment_id for e in c.search_experiments()]
        if not experiments:
            return closed
        running = c.search_runs(
            experiments, filter_string=f"attributes.status = 'RUNNING' and tags.`{TAG_HOST}` = '{host}'"
        )
        for run in running:
            pid = int(run.data.tags.get(TAG_PID, "0") or 0)
            if pid and pid != os.getpid() and not _alive(pid):
                c.set_tag(run.info.run_id, "mtc.error", f"process {pid} on {host} ended without closing the run")
                c.set_terminated(run.info.run_id, status="KILLED")
                closed.append(run.info.run_id)
    except Exception as err:  # noqa: BLE001 - housekeeping must never stop the command that opened the store
        log.warning("mlflow: could not sweep dead runs: %s: %s", type(err).__name__, err)
    return closed


def current_uri() -> str:
    """The configured URI, (re)configuring when ``MLFLOW_TRACKING_URI`` changed since (e.g. between tests)."""
    env = os.environ.get(ENV_URI)
    if _State.uri is None or (env is not None and env != _State.uri):
        return configure(env)
    return _State.uri


def _initialise(uri: str) -> None:
    db = sqlite_path(uri)
    if db is None:
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client().search_experiments(max_results=1)  # creating the store runs the migrations
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def is_retryable(err: BaseException) -> bool:
    """SQLite lock contention (the only error worth repeating a tracking call for)."""
    text = str(err).lower()
    return any(marker in text for marker in _RETRY_MARKERS)


def with_retry(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn``; on lock contention retry with jittered exponential backoff (~15 s in all), then re-raise.
    A locked write rolls back completely, so repeating it cannot duplicate anything."""
    for attempt in range(_RETRY_ATTEMPTS):
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            if attempt == _RETRY_ATTEMPTS - 1 or not is_retryable(err):
                raise
            delay = min(_RETRY_MAX_S, _RETRY_BASE_S * 2**attempt) * (0.5 + random.random())
            log.debug("tracking store busy (%s); retry %d in %.2f s", err, attempt + 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


class RetryingClient:
    """``MlflowClient`` whose every method call is wrapped in :func:`with_retry`."""

    def __init__(self, uri: str) -> None:
        from mlflow import MlflowClient

        self._client = MlflowClient(tracking_uri=uri)
        self.tracking_uri = uri

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr
        return functools.partial(with_retry, attr)


def client() -> RetryingClient:
    return RetryingClient(current_uri())


def experiment_name(params: Params) -> str:
    """``mtcontrast/<data.name>``: one experiment per prepared dataset, so scenes runs never mix with real ones."""
    return f"{EXPERIMENT_PREFIX}/{params.data.name}"


def experiment_for(params: Params) -> str:
    """Id of the dataset's experiment, created (artifacts under the store's artifact root) when missing."""
    from mlflow.entities import LifecycleStage
    from mlflow.exceptions import MlflowException

    c = client()
    name = experiment_name(params)
    exp = c.get_experiment_by_name(name)
    if exp is None:
        location = None
        if _State.artifact_root is not None:
            location = f"{_State.artifact_root}/{re.sub(r'[^A-Za-z0-9_.-]+', '_', params.data.name)}"
        try:
            return str(c.create_experiment(name, artifact_location=location, tags={"mtc.dataset": params.data.dataset}))
        except MlflowException as err:  # another process created it in between
            exp = c.get_experiment_by_name(name)
            if exp is None:
                raise err from None
    if exp.lifecycle_stage == LifecycleStage.DELETED:
        c.restore_experiment(exp.experiment_id)
    return str(exp.experiment_id)
