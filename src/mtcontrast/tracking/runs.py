"""One MLflow run per training of a variant, re-opened by its evaluation and by a resumed training.

``tracked_run`` records the run id in ``<run_dir>/mlflow_run.json`` next to the checkpoint. A later stage on the
same run dir (evaluate, report, a resumed training) re-opens that run when the recipe is unchanged
(:func:`mtcontrast.config.recipe_digest`, the same digest that decides whether a checkpoint resumes), so one run
holds the training curves,
the validation metrics, Δm and every artifact. A training that starts again after a completed one gets a new run.
(A resumed training re-logs the steps between its checkpoint and the crash: those steps show two points.)
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mtcontrast.config import Params, RunPaths, flatten, recipe_digest, resolve_variant
from mtcontrast.tracking.names import run_name as default_run_name
from mtcontrast.tracking.store import TAG_HOST, TAG_PID, client, experiment_for

log = logging.getLogger(__name__)

FLUSH_METRICS = 1000  # MLflow's per-request metric limit
FLUSH_SECONDS = 10.0  # the UI lags at most this much behind the trainer
_PARAMS_PER_BATCH = 100
_TAGS_PER_BATCH = 100
# other runs' settings (the run's own variant is in its tags) and the design's baseline seeds (a run holds its own)
_PARAMS_EXCLUDES = ("baselines.", "variants.", "ablation.", "baseline_seeds")
TAG_COMPLETE = "mtc.train_complete"


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or a plain process (only rank 0 talks to the store)."""
    return int(os.environ.get("RANK", "0")) == 0


def now_ms() -> int:
    return int(time.time() * 1000)


# ------------------------------------------------------------------------------------------------ run identity
def train_fingerprint(params: Params) -> str:
    """``source_fingerprint`` of the prepared train split ('' when it is not prepared): part of the recipe."""
    from mtcontrast.data.errors import DataError
    from mtcontrast.data.prepared import PreparedSplit

    try:
        return PreparedSplit(params.data.prepared_path("train")).info.source_fingerprint
    except DataError:
        return ""


def param_values(resolved: Params) -> dict[str, str]:
    """Flattened resolved params as MLflow strings, without the other runs' settings (``baselines``, ``variants``, ``ablation``)."""
    out = {}
    for key, value in flatten(resolved).items():
        if key.startswith(_PARAMS_EXCLUDES):
            continue
        out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def base_tags(source: str, profile: str | None = None) -> dict[str, str]:
    """Provenance shared by variant runs and flow parents."""
    from mtcontrast.engine.checkpoint import git_commit

    commit = git_commit()
    return {
        "source": source,
        "git_commit": commit,
        "profile": profile or os.environ.get("MTC_PROFILE", "default"),
        "mlflow.source.git.commit": commit.removesuffix("-dirty"),
        "mlflow.source.name": Path(sys.argv[0]).name if sys.argv and sys.argv[0] else source,
        "mlflow.source.type": "LOCAL",
        "mlflow.user": getpass.getuser(),
        TAG_PID: str(os.getpid()),
        TAG_HOST: socket.gethostname(),
    }


def variant_tags(resolved: Params, variant: str, fingerprint: str) -> dict[str, str]:
    from mtcontrast.tasks import dataset_spec

    chosen = resolved.model.tasks
    tasks = [t for t in dataset_spec(resolved.data.dataset).tasks if chosen is None or t in chosen]
    return {
        "variant": variant,  # with `seed`: the MLflow UI groups a variant's runs across seeds (tags.variant = 'mtl')
        "seed": str(resolved.seed),
        "host": resolved.model.host,
        "encoder": resolved.model.encoder.name,
        "tasks": ",".join(tasks),
        "contrast": str(resolved.loss.contrast.enabled).lower(),
        "dataset": resolved.data.dataset,
        "data_name": resolved.data.name,
        "data_fingerprint": fingerprint,
    }


# ------------------------------------------------------------------------------------------------ run record
def read_record(run_dir: Path) -> dict[str, Any] | None:
    path = RunPaths(Path(run_dir)).mlflow_record
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "run_id" in record else None


def write_record(run_dir: Path, record: Mapping[str, Any]) -> None:
    """Atomic write, and none at all when unchanged (the file is inside a DVC dependency: ``runs/``)."""
    path = RunPaths(Path(run_dir)).mlflow_record
    text = json.dumps(dict(record), indent=2, sort_keys=True) + "\n"
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def run_id_of(run_dir: Path) -> str | None:
    """The run recorded for a run dir in the current store (None when untracked or recorded in another store)."""
    from mtcontrast.tracking.store import current_uri

    record = read_record(Path(run_dir))
    if record is None or record.get("tracking_uri") != current_uri():
        return None
    return str(record["run_id"])


def _batched(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def log_params_and_tags(run_id: str, params: Mapping[str, str], tags: Mapping[str, str]) -> None:
    from mlflow.entities import Param, RunTag

    c = client()
    for chunk in _batched([Param(k, v) for k, v in params.items()], _PARAMS_PER_BATCH):
        c.log_batch(run_id, params=chunk)
    for chunk in _batched([RunTag(k, str(v)) for k, v in tags.items()], _TAGS_PER_BATCH):
        c.log_batch(run_id, tags=chunk)


def log_metrics(run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
    """A dict of scalars in as few requests as MLflow allows."""
    from mlflow.entities import Metric

    ts = now_ms()
    entries = [Metric(k, float(v), ts, step) for k, v in metrics.items()]
    for chunk in _batched(entries, FLUSH_METRICS):
        client().log_batch(run_id, metrics=chunk)


# ------------------------------------------------------------------------------------------------ the callback
class MlflowCallback:
    """A :class:`~mtcontrast.engine.trainer.TrainCallback` logging into one run: per-step metrics batched with
    ``log_batch``; at the end the checkpoint, history, learning curves and the inference model. Inactive (every
    method a no-op, ``run_id`` None) on ranks other than 0."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.params: Params | None = None
        self.variant = ""
        self.run_dir = Path()
        self._identity = ""
        self._run_name = ""
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        self._reopened_status: str | None = None
        self._train_complete = False
        self._buffer: list[Any] = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._logged_through = 0  # steps already in the run (a resumed training does not log them again)

    @property
    def active(self) -> bool:
        return self.run_id is not None

    # -- opening / closing ------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        resolved: Params,
        variant: str,
        *,
        source: str,
        run_dir: Path,
        parent_run_id: str | None = None,
        run_name: str | None = None,
        extra_tags: Mapping[str, Any] | None = None,
    ) -> MlflowCallback:
        from mlflow.exceptions import MlflowException

        cb = cls()
        cb.params, cb.variant, cb.run_dir = resolved, variant, Path(run_dir)
        c = client()
        cb.experiment_id = experiment_for(resolved)
        fingerprint = train_fingerprint(resolved)
        cb._identity = recipe_digest(resolved, fingerprint)
        extra = {k: str(v) for k, v in (extra_tags or {}).items()}
        cb._params = param_values(resolved)
        cb._tags = {
            **base_tags(source, extra.pop("profile", None)),
            **variant_tags(resolved, variant, fingerprint),
            **extra,
        }
        if parent_run_id:
            cb._tags["mlflow.parentRunId"] = parent_run_id
        cb._run_name = run_name or default_run_name(resolved, variant)

        record = read_record(cb.run_dir)
        run = None
        if record and record.get("tracking_uri") == c.tracking_uri and record.get("identity") == cb._identity:
            try:
                run = c.get_run(record["run_id"])
            except MlflowException:
                run = None
            if run is not None and run.info.lifecycle_stage != "active":
                run = None
        if run is None:
            cb._create_run(source)
        else:
            cb._reopen(run, source)
        return cb

    def _create_run(self, source: str) -> None:
        c = client()
        run = c.create_run(self.experiment_id, tags={**self._tags, "mtc.sources": source}, run_name=self._run_name)
        self.run_id = run.info.run_id
        self._reopened_status, self._train_complete = None, False
        log_params_and_tags(self.run_id, self._params, {})
        write_record(
            self.run_dir,
            {
                "run_id": self.run_id,
                "experiment_id": self.experiment_id,
                "tracking_uri": c.tracking_uri,
                "identity": self._identity,
            },
        )
        log.info("mlflow run %s (%s) started in experiment %s", self.run_id, self.variant, self.experiment_id)

    def _reopen(self, run: Any, source: str) -> None:
        """Same run again: add what is new (params, sources), never overwrite a logged param."""
        c = client()
        self.run_id = run.info.run_id
        self._reopened_status = run.info.status
        self._train_complete = run.data.tags.get(TAG_COMPLETE) == "true"
        c.update_run(self.run_id, status="RUNNING")
        logged = run.data.params
        new = {k: v for k, v in self._params.items() if k not in logged}
        changed = sorted(k for k, v in self._params.items() if k in logged and logged[k] != v)
        sources = [s for s in run.data.tags.get("mtc.sources", "").split(",") if s]
        tags = {
            k: v for k, v in self._tags.items() if k not in ("source", "mlflow.parentRunId") or k not in run.data.tags
        }
        tags["mtc.sources"] = ",".join([*sources, source][-20:])
        if changed:
            log.warning("run %s re-opened with changed params %s (kept the first values)", self.run_id, changed)
            tags["mtc.params_changed"] = ",".join(changed)[:4000]
        if "mtc.error" in run.data.tags:  # a resumed crash: keep the old error, but not as the run's verdict
            tags["mtc.previous_error"] = run.data.tags["mtc.error"]
            c.delete_tag(self.run_id, "mtc.error")
        log_params_and_tags(self.run_id, new, tags)
        log.info("mlflow run %s (%s) re-opened (was %s)", self.run_id, self.variant, self._reopened_status)

    def close(self, status: str, error: BaseException | None = None) -> None:
        """Flush, then end the run with ``status``; never masks the error that ended the run."""
        if not self.active:
            return
        assert self.run_id is not None
        try:
            self.flush()
            if error is not None:
                client().set_tag(self.run_id, "mtc.error", f"{type(error).__name__}: {error}"[:4000])
        except Exception:  # noqa: BLE001 - the status below matters more than the last metrics
            log.exception("could not flush metrics of run %s", self.run_id)
        client().set_terminated(self.run_id, status=status)

    # -- TrainCallback -----------------------------------------------------------------------------------
    def on_start(self, params: Params, variant: str, run_dir: Path, start: int) -> None:
        if not self.active:
            return
        if self._train_complete or start == 0 and self._reopened_status is not None:
            # a completed training is never resumed, and a fresh start is a new training: a new run
            assert self.run_id is not None
            ended = self._reopened_status if self._reopened_status in ("FINISHED", "FAILED", "KILLED") else "KILLED"
            client().set_terminated(self.run_id, status=ended)
            self._create_run(self._tags["source"])
        elif start > 0:  # a resumed training: the killed process may have sent steps after its checkpoint
            assert self.run_id is not None
            history = client().get_metric_history(self.run_id, "train/loss")
            self._logged_through = max((m.step for m in history), default=0)

    def on_checkpoint(self, step: int) -> None:
        """Everything logged up to a checkpoint reaches the store before the checkpoint counts as written."""
        self.flush()

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        if not self.active:
            return
        from mlflow.entities import Metric

        if step <= self._logged_through:  # sent before a kill; the resumed values are bitwise the same
            return
        ts = now_ms()
        with self._lock:
            self._buffer.extend(Metric(k, float(v), ts, int(step)) for k, v in metrics.items())
            due = len(self._buffer) >= FLUSH_METRICS or time.monotonic() - self._last_flush >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Send the buffered metrics (one ``log_batch`` per 1000)."""
        if not self.active:
            return
        with self._lock:
            pending, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        c = client()
        for chunk in _batched(pending, FLUSH_METRICS):
            c.log_batch(self.run_id, metrics=chunk)

    def on_end(self, result: Any) -> None:
        if not self.active:
            return
        assert self.run_id is not None
        self.flush()
        log_metrics(
            self.run_id,
            {
                "train/seconds": result.seconds,
                "train/skipped_steps": result.skipped_steps,
                "train/resumed_from": result.resumed_from,
            },
            step=result.steps,
        )
        client().set_tag(self.run_id, TAG_COMPLETE, "true")
        self._train_complete = True


class _Terminated(SystemExit):
    """SIGTERM turned into an exception so the run is closed (as KILLED) instead of left RUNNING."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _status_for(err: BaseException) -> str:
    if isinstance(err, KeyboardInterrupt | _Terminated):
        return "KILLED"
    if isinstance(err, SystemExit) and not err.code:
        return "FINISHED"
    return "FAILED"


@contextlib.contextmanager
def tracked_run(
    params: Params,
    variant: str,
    *,
    source: str,
    run_dir: Path | None = None,
    parent_run_id: str | None = None,
    run_name: str | None = None,
    extra_tags: dict[str, Any] | None = None,
) -> Iterator[MlflowCallback]:
    """Open the variant's run (new, or the one recorded in ``run_dir``) and yield its callback; the run ends
    FINISHED, or FAILED on an exception (KILLED on Ctrl-C / SIGTERM), which is re-raised. ``source`` says who ran
    it (``dvc:train``, ``flow:ablation``, ``cli:evaluate``); ``extra_tags`` may set ``profile``."""
    if not is_main_process():
        yield MlflowCallback()
        return
    resolved = resolve_variant(params, variant)
    cb = MlflowCallback.open(
        resolved,
        variant,
        source=source,
        run_dir=Path(run_dir) if run_dir is not None else resolved.train.run_paths(variant, resolved.seed).dir,
        parent_run_id=parent_run_id,
        run_name=run_name,
        extra_tags=extra_tags,
    )
    with _sigterm_raises():
        try:
            yield cb
        except BaseException as err:
            cb.close(_status_for(err), None if _status_for(err) == "FINISHED" else err)
            raise
        cb.close("FINISHED")


# ------------------------------------------------------------------------------------------------ flow parents
def start_parent_run(params: Params, name: str, tags: dict[str, Any] | None = None) -> str:
    """A parent run (e.g. one ablation) in the dataset's experiment; children pass its id as ``parent_run_id``."""
    extra = {k: str(v) for k, v in (tags or {}).items()}
    all_tags = {**base_tags(extra.pop("source", "flow"), extra.pop("profile", None)), "mtc.parent": "true", **extra}
    run = client().create_run(experiment_for(params), tags=all_tags, run_name=name)
    return str(run.info.run_id)


def end_parent_run(run_id: str, status: str = "FINISHED") -> None:
    """End a parent run: ``FINISHED``, ``FAILED`` or ``KILLED``."""
    if status not in ("FINISHED", "FAILED", "KILLED"):
        raise ValueError(f"end_parent_run: status {status!r}; expected FINISHED, FAILED or KILLED")
    client().set_terminated(run_id, status=status)
