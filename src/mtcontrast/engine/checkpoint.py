"""Self-describing, atomic checkpoints that load with ``torch.load(weights_only=True)``.

A checkpoint holds everything needed to continue *exactly*: resolved params, git commit, step, model, criterion
(projectors), optimiser, scheduler and RNG states. It is written to a temporary name and renamed, so a run killed
mid-write never leaves a truncated file behind. A run folder is locked by the one training that writes it
(:func:`run_lock`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pickle
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_VERSION = 2  # 2: recipe_digest; params with train.crop_size / augment and eval.pad_to
TEMP_PREFIX = ".checkpoint.pt.tmp-"  # + pid: a checkpoint being written
LOCK_FILE = ".lock"  # in a run folder while a training holds it
_HELD: set[Path] = set()  # run folders locked by this process


def git_commit(cwd: Path | None = None) -> str:
    """Commit of the working tree (suffixed ``-dirty`` when it has changes); ``unknown`` outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return f"{sha}-dirty" if dirty else sha
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def rng_state() -> dict[str, Any]:
    """All RNG states as tensors / plain containers (weights_only-safe)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached": float(np_state[4]),
        },
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    random.setstate(_to_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(obj: Any) -> Any:
    return [_to_lists(o) for o in obj] if isinstance(obj, tuple | list) else obj


def _to_tuples(obj: Any) -> Any:
    return tuple(_to_tuples(o) for o in obj) if isinstance(obj, list) else obj


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or written; the message names the file and what to do."""


class CheckpointFormatError(CheckpointError):
    """A readable checkpoint of another format version (written by an older mtcontrast)."""


class RunLockedError(RuntimeError):
    """Another process trains the same run folder."""


def _reason(err: BaseException) -> str:
    """The first line of an error, without PyTorch's advice to load untrusted files with weights_only=False."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text.split(". ")[0].split(" In PyTorch 2.6")[0].split("(1) ")[0].strip().rstrip(".")[:200]


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus the format version) atomically: temp file in the same folder, fsync, rename. A full
    disk or an unwritable folder is one :class:`CheckpointError` naming the file; no temp file is left."""
    path = Path(path)
    tmp = path.with_name(f"{TEMP_PREFIX}{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            torch.save({"version": CHECKPOINT_VERSION, **payload}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        what = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}.get(err.errno)
        if what is None and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            what = "the folder is not writable"
        raise CheckpointError(f"{path}: cannot write the checkpoint: {what or _reason(err)}") from None
    except RuntimeError as err:  # torch.save wraps the OSError of a full disk in a RuntimeError
        full = path.parent.is_dir() and shutil.disk_usage(path.parent).free < 64 * 2**20
        what = "no space left on device" if full else _reason(err)
        raise CheckpointError(f"{path}: cannot write the checkpoint: {what}") from None
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with ``weights_only=True`` (no pickled code runs) and check the format version; a truncated or corrupt
    file is one :class:`CheckpointError` naming it."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as err:
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({_reason(err)}); it is truncated or corrupt: delete it to train again"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("version") != CHECKPOINT_VERSION:
        version = ckpt.get("version") if isinstance(ckpt, dict) else None
        raise CheckpointFormatError(
            f"{path}: checkpoint format {version!r}, expected {CHECKPOINT_VERSION} (written by another mtcontrast "
            "version); delete it or move it aside to train again"
        )
    return ckpt


def remove_stale_temps(run_dir: Path) -> list[Path]:
    """Delete checkpoint temp files left by a process killed while writing (call with the run lock held)."""
    stale = sorted(Path(run_dir).glob(f"{TEMP_PREFIX}*"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Exclusive lock on a run folder for one training (re-entrant in one process). A second training of the same
    variant fails at once, naming the process that holds it; the OS releases the lock when its holder dies."""
    run_dir = Path(run_dir).resolve()
    if run_dir in _HELD:
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / LOCK_FILE
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise RunLockedError(
                f"{lock}: another training of this run folder is running (pid {holder}); wait for it or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD.add(run_dir)
        try:
            yield
        finally:
            _HELD.discard(run_dir)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
