"""``prepare``: raw dataset folder → checked, decoded ``<prepared_dir>/<name>/{train,val}.h5``.

Two passes per split: a cheap one (split file, every listed file present, image headers against the expected
sizes, source fingerprint) so a broken download fails in seconds, then a streamed decode of one sample at a time
into the HDF5 writer. Both outputs are written under temp names in the output folder and renamed only when both
are complete; on any error the temps are removed and nothing new is left behind. Free space is checked against
an estimate of the output before writing, and a full disk while writing is reported as such (the HDF5 writer
catches it at its file boundary, see :class:`~mtcontrast.data.prepared.GuardedFile`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mtcontrast import __version__
from mtcontrast.config.data import DataParams
from mtcontrast.data.adapters import SPLITS, DatasetAdapter, build_adapter
from mtcontrast.data.checks import Expectations, SplitStats, check_image_size, check_split_ids, format_summary
from mtcontrast.data.errors import DataError
from mtcontrast.data.prepared import (
    IGNORE_VALUES,
    SCHEMA_VERSION,
    UNIT_PNG8,
    PreparedSplit,
    PreparedWriter,
    estimate_bytes,
    write_error_message,
)


@dataclass
class SplitPlan:
    """Result of the cheap pass: the ids to decode, their image sizes, and a digest of their files."""

    ids: list[str]
    sizes: list[tuple[int, int]]
    digest: str

    @property
    def max_size(self) -> tuple[int, int]:
        return max(h for h, _ in self.sizes), max(w for _, w in self.sizes)


@dataclass
class PrepareSummary:
    """What ``prepare_dataset`` wrote (or found up to date): paths, counts and the check summary per split."""

    name: str
    dataset: str
    variant: str
    out_dir: Path
    paths: dict[str, Path]
    counts: dict[str, int]
    checks: dict[str, dict[str, Any]]
    fingerprint: str
    seconds: float
    skipped: bool = False
    notes: list[str] = field(default_factory=list)

    def format(self) -> str:
        state = "up to date, skipped" if self.skipped else f"written in {self.seconds:.1f} s"
        variant = f" ({self.variant})" if self.variant != self.dataset else ""
        head = f"prepared {self.dataset}{variant} -> {self.out_dir} [{state}]"
        return "\n".join([head, *(f"  {format_summary(s, c)}" for s, c in self.checks.items()), *self.notes])


def _plan_split(
    adapter: DatasetAdapter, split: str, expected: Expectations, limit: int | None, progress: bool
) -> SplitPlan:
    ids = adapter.split_ids(split)
    check_split_ids(adapter.split_file(split), split, ids, expected, limit)
    ids = ids[:limit]
    sizes: list[tuple[int, int]] = []
    digest = hashlib.sha256()
    for path in adapter.split_files(split):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for sid in tqdm(ids, desc=f"check {split}", unit="img", disable=not progress, leave=False):
        for path in adapter.sample_files(split, sid):
            st = path.stat()
            digest.update(f"{path.relative_to(adapter.root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        size = adapter.image_size(sid)
        check_image_size(adapter.image_path(sid), size, expected)
        sizes.append(size)
    return SplitPlan(ids, sizes, digest.hexdigest())


def _fingerprint(
    adapter: DatasetAdapter, params: DataParams, plans: dict[str, SplitPlan], expected: Expectations
) -> str:
    """Hash of everything the output depends on: schema, adapter, subset, compression, manifest, files."""
    head = {
        "schema": SCHEMA_VERSION,
        "dataset": adapter.name,
        "limit": params.limit,
        "compression": params.compression,
        "expected": expected.as_dict(),
        "splits": {s: p.digest for s, p in plans.items()},
    }
    if adapter.val_extras:  # only then: the other datasets' fingerprints (and files) stay as they were
        head["val_extras"] = list(adapter.val_extras)
    return hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()[:32]


def _up_to_date(out_dir: Path, fingerprint: str) -> dict[str, PreparedSplit] | None:
    try:
        found = {split: PreparedSplit(out_dir / f"{split}.h5") for split in SPLITS}
    except DataError:
        return None
    return found if all(p.info.source_fingerprint == fingerprint for p in found.values()) else None


def _make_out_dir(out_dir: Path) -> list[Path]:
    """Create the output folder (checking it is writable) and return the folders created, deepest first, so a
    failed run can remove them again."""
    created = [d for d in (out_dir, *out_dir.parents) if not d.exists()]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(
            out_dir,
            f"cannot create output folder ({err.strerror}); expected a writable directory "
            "(data.prepared_dir / data.name)",
        ) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise DataError(out_dir, "output folder is not writable; expected a writable directory (data.prepared_dir)")
    return created


def _size(n: float) -> str:
    """Bytes as MiB (GiB from 10 GiB on), enough to compare need and free at a glance."""
    return f"{n / 2**30:.1f} GiB" if n >= 10 * 2**30 else f"{n / 2**20:.1f} MiB"


def _check_free_space(adapter: DatasetAdapter, plans: dict[str, SplitPlan], params: DataParams, out_dir: Path) -> None:
    """Refuse before writing when the outputs cannot fit: cheaper and clearer than failing at the last sample.
    The estimate is a lower one (see :func:`~mtcontrast.data.prepared.estimate_bytes`), so a run it lets through
    can still fill the disk; the writer reports that case too."""
    png8 = adapter.normals_encoding == UNIT_PNG8
    need = sum(
        estimate_bytes(plan.sizes, plan.max_size, _stored(adapter, split), params.compression, png8)
        for split, plan in plans.items()
    )
    try:
        free = shutil.disk_usage(out_dir).free
    except OSError:
        return  # no statvfs (some network mounts): the writer's own check still applies
    if need > free:
        raise DataError(
            out_dir,
            f"no space left on device: about {_size(need)} needed for {' + '.join(f'{s}.h5' for s in plans)}, "
            f"{_size(free)} free; free some space or set data.prepared_dir to a larger disk",
        )


def _extras(adapter: DatasetAdapter, split: str) -> tuple[str, ...]:
    """The optional maps written for ``split``: the adapter's ``val_extras`` on val, nothing on train."""
    return adapter.val_extras if split == "val" else ()


def _stored(adapter: DatasetAdapter, split: str) -> tuple[str, ...]:
    return (*adapter.spec.tasks, *_extras(adapter, split))


def _remove_created(created: list[Path]) -> None:
    """Remove the folders this run created (deepest first), stopping at the first that is not empty."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            break


def _remove_stale_temps(out_dir: Path) -> None:
    """Temps of an earlier run that was killed (SIGKILL skips cleanup); a live writer's temps are kept."""
    for path in out_dir.glob(".*.h5.tmp-*"):
        try:
            os.kill(int(path.name.rsplit("-", 1)[1]), 0)
        except (ValueError, ProcessLookupError):
            path.unlink(missing_ok=True)
        except PermissionError:
            pass


def _write_split(
    adapter: DatasetAdapter,
    split: str,
    plan: SplitPlan,
    path: Path,
    params: DataParams,
    attrs: dict[str, Any],
    progress: bool,
) -> dict[str, Any]:
    stats = SplitStats(adapter.name)
    writer = PreparedWriter(
        path,
        count=len(plan.ids),
        max_size=plan.max_size,
        tasks=adapter.spec.tasks,
        compression=params.compression,
        attrs={**attrs, "split": split},
        normals_encoding=adapter.normals_encoding,
        extras=_extras(adapter, split),
    )
    try:
        for i, sid in enumerate(tqdm(plan.ids, desc=f"prepare {split}", unit="img", disable=not progress)):
            decoded = adapter.decode(split, sid)
            size = decoded.sample["image"].shape[:2]
            if tuple(size) != plan.sizes[i]:
                raise DataError(adapter.image_path(sid), f"decoded size {size} differs from its header {plan.sizes[i]}")
            stats.update(decoded.sample, decoded.raw_stats)
            writer.write(i, {**decoded.sample, **decoded.extras})
        summary = stats.summary()
        computed = getattr(adapter, "parts_cache_computed", {}).get(split)
        if computed is not None:
            summary["parts_cache_entries_computed"] = computed
        writer.finish({"check_summary": json.dumps(summary)})
    except BaseException:
        writer.close()
        raise
    return summary


def prepare_dataset(params: DataParams, *, progress: bool = True, force: bool = False) -> PrepareSummary:
    """Check and decode ``params.root`` with the ``params.dataset`` adapter into ``<prepared_dir>/<name>/``.

    Skips the work when both outputs exist with the same source fingerprint (unless ``force``). Raises
    :class:`DataError` for any unusable input, leaving no new file behind. Prints the check summary.
    """
    start = time.perf_counter()
    adapter = build_adapter(params.dataset, params.root)
    adapter.check_layout()
    expected = adapter.expectations()
    plans = {split: _plan_split(adapter, split, expected, params.limit, progress) for split in SPLITS}
    fingerprint = _fingerprint(adapter, params, plans, expected)
    out_dir = Path(params.prepared_dir) / params.name
    paths = {split: out_dir / f"{split}.h5" for split in SPLITS}

    existing = None if force else _up_to_date(out_dir, fingerprint)
    if existing is not None:
        result = PrepareSummary(
            params.name,
            adapter.name,
            adapter.variant,
            out_dir,
            paths,
            {s: len(p) for s, p in existing.items()},
            {s: p.info.check_summary for s, p in existing.items()},
            fingerprint,
            time.perf_counter() - start,
            True,
        )
        print(result.format())
        return result

    created = _make_out_dir(out_dir)
    _remove_stale_temps(out_dir)
    try:
        _check_free_space(adapter, plans, params, out_dir)
    except DataError:
        _remove_created(created)
        raise
    attrs = {
        "dataset": adapter.name,
        "variant": adapter.variant,
        "source_root": str(Path(params.root).resolve()),
        "source_fingerprint": fingerprint,
        "class_names": json.dumps(adapter.spec.class_names),
        "ignore": json.dumps({t: IGNORE_VALUES[t] for t in adapter.spec.tasks}),
        "expectations": json.dumps(expected.as_dict()),
        "limit": params.limit or 0,
        "created_by": f"mtcontrast {__version__}",
    }
    temps = {split: out_dir / f".{split}.h5.tmp-{os.getpid()}" for split in SPLITS}
    checks: dict[str, dict[str, Any]] = {}
    try:
        for split in SPLITS:
            try:
                checks[split] = _write_split(adapter, split, plans[split], temps[split], params, attrs, progress)
            except OSError as err:  # disk full, quota, I/O error: raised by the writer, never inside libhdf5
                advice = (
                    "free some space or set data.prepared_dir to a larger disk"
                    if err.errno in (errno.ENOSPC, errno.EDQUOT)
                    else "expected a writable folder (data.prepared_dir)"
                )
                raise DataError(
                    paths[split],
                    f"{write_error_message(err)} while writing this split (nothing replaced, partial file removed); "
                    f"{advice}",
                ) from None
        for split in SPLITS:
            os.replace(temps[split], paths[split])
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        _remove_created(created)
        raise
    notes = []
    if params.limit is not None:
        notes.append(f"  subset: first {params.limit} ids per split (data.limit); split counts not checked")
    result = PrepareSummary(
        params.name,
        adapter.name,
        adapter.variant,
        out_dir,
        paths,
        {s: len(p.ids) for s, p in plans.items()},
        checks,
        fingerprint,
        time.perf_counter() - start,
        False,
        notes,
    )
    print(result.format())
    return result
