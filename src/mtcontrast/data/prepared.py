"""The prepared HDF5 format: one file per split with random access per sample at its original size.

Layout (schema ``SCHEMA_VERSION``): per task a dataset of shape (N, Hmax, Wmax[, C]), chunked one sample per chunk
(so a read decompresses exactly one sample) and padded with the task's invalid value; ``sizes`` (N, 2) int32 holds
each sample's H, W and ``ids`` its id. File attrs: ``schema_version``, ``dataset``, ``variant``, ``split``, ``tasks``,
``class_names``, ``ignore``, ``count``, ``source_fingerprint``, ``check_summary``, ``complete`` (JSON strings where
structured).

Every chunk carries a Fletcher-32 checksum and the file uses the HDF5 1.10 format, whose metadata is checksummed
too, so a file damaged on disk fails on read (one :class:`DataError` naming it) instead of returning wrong pixels.
Writes go through :class:`GuardedFile`, so a full disk is reported as such rather than crashing libhdf5.

Normals that came from 8-bit PNGs (NYUDv2, PASCAL) are stored as their 8-bit values plus a ``normals_valid`` map
(dataset attr ``encoding = "unit_png8"``) and decoded on read with the adapters' own formula, which gives the same
float32 arrays bit for bit at a quarter of the bytes to decompress; NPY normals (NYUD_MT) stay float32.

Optional maps (``EXTRA_MAPS``, same layout, not tasks): ``edge_labels`` (uint16), PASCAL's ``LabelMap`` per val image,
the partition SEISM scores edges against (docs/seism.md §1, step 2). Files written before it simply lack the
dataset; readers ask :meth:`PreparedSplit.has` first.
"""

from __future__ import annotations

import errno
import json
import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from mtcontrast.data.errors import DataError
from mtcontrast.data.ids import check_id

SCHEMA_VERSION = 1
UNIT_PNG8 = "unit_png8"
GZIP_LEVEL = 1  # measured: same file size as level 4 on dataset-like maps, ~30% faster to write, same read speed
LIBVER = "v110"  # checksummed metadata and a fixed-array chunk index; read by HDF5 >= 1.10
CORRUPT = "corrupted or truncated; re-run `dvc repro prepare`"  # DVC deletes the outputs before re-running
# What h5py raises for a damaged file: OSError for I/O and checksum failures, the others for broken metadata.
_H5_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError)


def decode_unit_png(raw: np.ndarray) -> np.ndarray:
    """n = 2v/255 − 1 per channel in float32 (not re-normalised: metrics and losses normalise at use). Shared by
    the adapters and the reader so that prepared normals equal freshly decoded ones exactly."""
    return 2.0 * raw.astype(np.float32) / 255.0 - 1.0


def encode_unit_png8(normals: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`decode_unit_png` plus the non-zero mask; refuses values it cannot restore exactly."""
    valid = (normals != 0).any(axis=-1)
    raw = np.clip(np.rint((normals + 1.0) * 127.5), 0, 255).astype(np.uint8)
    if not np.array_equal(decode_unit_png(raw)[valid], normals[valid]):
        raise DataError(where, "normals are not 8-bit PNG values (2v/255 − 1); cannot store them as unit_png8")
    return raw, valid.astype(np.uint8)


@dataclass(frozen=True)
class TaskStorage:
    dtype: str
    channels: int | None  # trailing channel axis, None for H×W maps
    fill: int | float  # padding value = the task's invalid value


STORAGE: dict[str, TaskStorage] = {
    "image": TaskStorage("uint8", 3, 0),
    "semseg": TaskStorage("uint8", None, 255),
    "human_parts": TaskStorage("uint8", None, 255),
    "edge": TaskStorage("uint8", None, 0),
    "sal": TaskStorage("uint8", None, 0),
    "depth": TaskStorage("float32", None, 0.0),
    "normals": TaskStorage("float32", 3, 0.0),
    "normals_valid": TaskStorage("uint8", None, 0),  # only with the unit_png8 normals encoding
    "edge_labels": TaskStorage("uint16", None, 0),  # optional (EXTRA_MAPS): PASCAL LabelMap of each val image
}
EXTRA_MAPS: tuple[str, ...] = ("edge_labels",)  # optional per-sample maps that are not tasks
IGNORE_VALUES: dict[str, Any] = {
    "semseg": 255,
    "human_parts": 255,
    "depth": 0.0,
    "normals": "zero vector",
    "edge": None,
    "sal": None,
}


def _reason(err: BaseException) -> str:
    """First line of an h5py message (some carry libhdf5's multi-line details), for a one-line error."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def write_error_message(err: OSError) -> str:
    """The one-line text for a failed write of a prepared split: a full disk or quota said as such."""
    if err.errno == errno.ENOSPC:
        return "no space left on device"
    if err.errno == errno.EDQUOT:
        return "disk quota exceeded"
    return f"cannot write ({err.strerror or _reason(err)})"


class GuardedFile:
    """The file object libhdf5 writes through (h5py's file-object driver).

    The first OSError of a write (full disk, quota, I/O error) is kept in ``error`` and from then on writes go to
    memory instead of failing inside libhdf5, whose error path after a failed write prints hundreds of lines and
    can segfault. Reads see those writes, so libhdf5 stays consistent until the file is closed; the writer raises
    ``error`` right after and the caller removes the file. Memory holds at most what is written between the
    failure and the close (the rest of one sample and the caches' flush). Short writes are completed here, since
    the driver ignores the count returned.
    """

    def __init__(self, path: Path) -> None:
        self._raw = open(path, "w+b", buffering=0)  # noqa: SIM115 - closed by close(); unbuffered: no hidden state
        self._pos = 0
        self._held: list[tuple[int, bytes]] = []  # (offset, data) written after the failure, in order
        self.error: OSError | None = None

    def _fail(self, err: OSError) -> None:
        # Kept without its traceback: its frames hold views of libhdf5's buffers, which are freed on return.
        if self.error is None:
            self.error = err.with_traceback(None)

    def write(self, data: Any) -> int:
        with memoryview(data) as whole, whole.cast("B") as view:
            size = len(view)
            if self.error is None:
                try:
                    self._raw.seek(self._pos)
                    done = 0
                    while done < size:
                        with view[done:] as rest:
                            done += self._raw.write(rest) or 0
                except OSError as err:
                    self._fail(err)
            if self.error is not None:
                self._held.append((self._pos, view.tobytes()))  # a copy: the buffer is libhdf5's
        self._pos += size
        return size

    def readinto(self, buffer: Any) -> int:
        with memoryview(buffer) as whole, whole.cast("B") as view:
            size, start = len(view), self._pos
            got = 0
            try:
                self._raw.seek(start)
                got = self._raw.readinto(view) or 0
            except OSError as err:
                self._fail(err)
            view[got:] = bytes(size - got)  # past the end reads as zeros, as the driver does
            for offset, data in self._held:
                lo, hi = max(start, offset), min(start + size, offset + len(data))
                if lo < hi:
                    view[lo - start : hi - start] = data[lo - offset : hi - offset]
        self._pos += size
        return size

    def read(self, size: int = -1) -> bytes:
        buffer = bytearray(max(size, 0))
        self.readinto(buffer)
        return bytes(buffer)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._pos = offset
        elif whence == os.SEEK_CUR:
            self._pos += offset
        else:  # from the end, which includes data held in memory
            end = max([self._raw.seek(0, os.SEEK_END), *(o + len(d) for o, d in self._held)])
            self._pos = end + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.error is None:
            try:
                self._raw.truncate(size)
            except OSError as err:
                self._fail(err)
        return size

    def flush(self) -> None:
        """Nothing buffered here (the file is unbuffered)."""

    def close(self) -> None:
        self._held.clear()
        try:
            self._raw.close()
        except OSError as err:
            self._fail(err)


def estimate_bytes(
    sizes: Sequence[tuple[int, int]], max_size: tuple[int, int], tasks: Sequence[str], compression: str, png8: bool
) -> int:
    """A lower estimate of a split's file size, for the free-space check before writing: exact padded arrays
    without compression; a quarter of the unpadded bytes with it (the procedural scenes reach ~0.4, photos
    compress less), so a check against it refuses only outputs that cannot fit."""
    per_pixel = 0
    for key in ("image", *tasks, *(["normals_valid"] if png8 and "normals" in tasks else [])):
        st = STORAGE[key]
        itemsize = 1 if png8 and key == "normals" else np.dtype(st.dtype).itemsize
        per_pixel += itemsize * (st.channels or 1)
    if compression == "none":
        return len(sizes) * max_size[0] * max_size[1] * per_pixel
    return sum(h * w for h, w in sizes) * per_pixel // 4


class PreparedWriter:
    """Streams samples into a new file: memory holds one sample, whatever N is. A failed write (full disk)
    raises the OSError itself, from :meth:`write` or :meth:`finish`, never from inside libhdf5."""

    def __init__(
        self,
        path: Path,
        *,
        count: int,
        max_size: tuple[int, int],
        tasks: Sequence[str],
        compression: str,
        attrs: Mapping[str, Any],
        normals_encoding: str = "float32",
        extras: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        self.count = count
        self.tasks = tuple(tasks)
        self.extras = tuple(extras)
        if not set(self.extras) <= set(EXTRA_MAPS):
            raise ValueError(f"extras {sorted(set(self.extras) - set(EXTRA_MAPS))} unknown; expected {EXTRA_MAPS}")
        self.png8 = "normals" in self.tasks and normals_encoding == UNIT_PNG8
        self._written = np.zeros(count, dtype=bool)
        self._io = GuardedFile(self.path)
        try:
            self._file = h5py.File(self._io, "w", libver=LIBVER)
        except BaseException:
            self._io.close()
            raise
        self._closer = weakref.finalize(self, _close_writer, self._file, self._io)
        try:
            self._create(max_size, compression, attrs)
        except BaseException:
            self.close()
            raise
        self._check()

    def _create(self, max_size: tuple[int, int], compression: str, attrs: Mapping[str, Any]) -> None:
        count = self.count
        h, w = max_size
        for key in ("image", *self.tasks, *(["normals_valid"] if self.png8 else []), *self.extras):
            st = STORAGE[key]
            dtype = "uint8" if self.png8 and key == "normals" else st.dtype
            shape = (count, h, w) + ((st.channels,) if st.channels else ())
            options: dict[str, Any] = {"fletcher32": True}
            if compression != "none":
                options |= {"compression": compression, "shuffle": dtype != "uint8"}
                if compression == "gzip":
                    options["compression_opts"] = GZIP_LEVEL
            ds = self._file.create_dataset(
                key, shape=shape, dtype=dtype, chunks=(1,) + shape[1:], fillvalue=st.fill, **options
            )
            if key == "normals":
                ds.attrs["encoding"] = UNIT_PNG8 if self.png8 else "float32"
        self._file.create_dataset("sizes", shape=(count, 2), dtype="int32", chunks=True, fletcher32=True)
        self._file.create_dataset("ids", shape=(count,), dtype=h5py.string_dtype())
        for key, value in attrs.items():
            self._file.attrs[key] = value
        self._file.attrs["schema_version"] = SCHEMA_VERSION
        self._file.attrs["tasks"] = json.dumps(list(self.tasks))
        self._file.attrs["count"] = count
        self._file.attrs["complete"] = False

    def write(self, index: int, sample: Mapping[str, Any]) -> None:
        h, w = sample["image"].shape[:2]
        for key in ("image", *self.tasks):
            if key == "normals" and self.png8:
                raw, valid = encode_unit_png8(sample[key], f"{self.path} sample {sample['meta']['id']!r}")
                self._file["normals"][index, :h, :w] = raw
                self._file["normals_valid"][index, :h, :w] = valid
            else:
                self._file[key][index, :h, :w] = sample[key]
        for key in self.extras:
            self._file[key][index, :h, :w] = sample[key]
        self._file["sizes"][index] = (h, w)
        self._file["ids"][index] = sample["meta"]["id"]
        self._written[index] = True
        self._check()

    def _check(self) -> None:
        """Raise a failed write's OSError, closing first: the file is useless and must not outlive the error."""
        if self._io.error is not None:
            self.close()
            raise self._io.error

    def finish(self, attrs: Mapping[str, Any]) -> None:
        """Mark the file complete (a reader refuses incomplete files) and close it."""
        if not self._written.all():
            raise RuntimeError(f"{self.path}: {int((~self._written).sum())} of {self.count} samples not written")
        for key, value in attrs.items():
            self._file.attrs[key] = value
        self._file.attrs["complete"] = True
        self.close()
        self._check()

    def close(self) -> None:
        """Close the HDF5 file and the file under it (a failed write is kept in the guard, not raised)."""
        self._closer()


def _close_writer(file: h5py.File, io: GuardedFile) -> None:
    """Close ``file`` before the object it writes through; also run at interpreter exit for a writer never
    closed, because libhdf5 calling back into a half-finalised interpreter crashes."""
    try:
        file.close()
    finally:
        io.close()


@dataclass(frozen=True)
class PreparedInfo:
    """What a prepared split holds, read from its attrs."""

    dataset: str
    variant: str
    split: str
    tasks: tuple[str, ...]
    class_names: dict[str, tuple[str, ...]]
    count: int
    source_fingerprint: str
    check_summary: dict[str, Any]


def _json_attr(attrs: Mapping[str, Any], key: str, path: Path) -> Any:
    try:
        return json.loads(attrs[key])
    except (KeyError, TypeError, ValueError):
        raise DataError(
            path, f"attribute {key!r} missing or not JSON; expected a file written by `mtc prepare`"
        ) from None


# samples kept in memory per PreparedSplit and process (the CPU benchmark's whole train split: ~3 MiB)
CACHE_BYTES = 256 * 2**20


class PreparedSplit:
    """Random access to a prepared split: ``split[i]`` is the prepared-sample dict of docs/benchmark-protocol.md §6.1 (arrays at the
    sample's original size, ``meta`` = {``id``, ``size``}).

    The HDF5 handle opens on first access in each process (and reopens after a fork), so the object can be handed
    to DataLoader workers; ``close()`` / ``with`` release it. ``tasks`` restricts which label maps are read;
    ``extras`` adds optional maps (``EXTRA_MAPS``) to each sample, each of which the file must hold (:meth:`has`).

    Samples read are kept in memory, per process, up to :data:`CACHE_BYTES`: a training reads each sample once per
    epoch, and an HDF5 read (~1 ms per sample) cost the 64×80 CPU benchmark more than its data transforms. Reads
    return copies, so a caller may modify them.
    """

    def __init__(self, path: str | Path, tasks: Sequence[str] | None = None, extras: Sequence[str] = ()) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(self.path, "prepared split not found; run `mtc prepare` (or `dvc repro prepare`)")
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._cache: dict[tuple[int, tuple[str, ...]], dict[str, np.ndarray]] = {}
        self._cached_bytes = 0
        try:
            f = h5py.File(self.path, "r", locking=False)
        except _H5_READ_ERRORS as err:
            raise DataError(
                self.path, f"cannot open prepared split ({_reason(err)}): not an HDF5 file or {CORRUPT}"
            ) from None
        try:
            with f:
                self.attrs: dict[str, Any] = dict(f.attrs)
                self._validate(f)
                self._ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["ids"][()]]
                self._png8 = "normals" in f and f["normals"].attrs.get("encoding") == UNIT_PNG8
                self._sizes = np.asarray(f["sizes"][()], dtype=np.int64)
                self._held_extras = tuple(key for key in EXTRA_MAPS if key in f)
                bound = f["image"].shape[1:3]
        except DataError:
            raise
        except _H5_READ_ERRORS as err:
            raise DataError(self.path, f"cannot read prepared split ({_reason(err)}): {CORRUPT}") from None
        for sid in self._ids:  # ids become file names (prediction lookup, SEISM export): refuse a hand-edited one
            check_id(sid, self.path)
        sizes_ok = self._sizes.shape == (len(self._ids), 2) and (self._sizes >= 1).all()
        if not (sizes_ok and (self._sizes <= bound).all()):
            raise DataError(self.path, f"'sizes' is not N × (H, W) within 1..{tuple(bound)}: {CORRUPT}")
        stored = tuple(_json_attr(self.attrs, "tasks", self.path))
        if tasks is not None and not set(tasks) <= set(stored):
            raise DataError(self.path, f"tasks {sorted(set(tasks) - set(stored))} not in this file ({list(stored)})")
        self.tasks: tuple[str, ...] = tuple(t for t in stored if tasks is None or t in tasks)
        missing = [key for key in extras if key not in self._held_extras]
        if missing:
            raise DataError(
                self.path, f"optional maps {missing} not in this file (written before them?); re-run `mtc prepare`"
            )
        self.extras: tuple[str, ...] = tuple(extras)
        self._png8 = self._png8 and "normals" in self.tasks
        names = _json_attr(self.attrs, "class_names", self.path)
        self.info = PreparedInfo(
            dataset=str(self.attrs["dataset"]),
            variant=str(self.attrs.get("variant", self.attrs["dataset"])),
            split=str(self.attrs.get("split", "")),
            tasks=stored,
            class_names={k: tuple(v) for k, v in names.items()},
            count=len(self._ids),
            source_fingerprint=str(self.attrs.get("source_fingerprint", "")),
            check_summary=_json_attr(self.attrs, "check_summary", self.path),
        )

    def _validate(self, f: h5py.File) -> None:
        version = f.attrs.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DataError(
                self.path, f"schema version {version}; expected {SCHEMA_VERSION}: re-run `mtc prepare` for this dataset"
            )
        if not bool(f.attrs.get("complete", False)):
            raise DataError(self.path, "file is incomplete (prepare was interrupted); re-run `mtc prepare`")
        for key in ("dataset", "tasks", "class_names", "check_summary", "count"):
            if key not in f.attrs:
                raise DataError(self.path, f"attribute {key!r} missing; expected a file written by `mtc prepare`")
        count = int(f.attrs["count"])
        tasks = _json_attr(f.attrs, "tasks", self.path)
        known = set(STORAGE) - {"image", "normals_valid", *EXTRA_MAPS}
        if not isinstance(tasks, list) or not all(isinstance(t, str) and t in known for t in tasks):
            raise DataError(self.path, f"attribute 'tasks' = {tasks!r}; expected a list of task names")
        keys = ["ids", "sizes", "image", *tasks]
        if "normals" in f and f["normals"].attrs.get("encoding") == UNIT_PNG8:
            keys.append("normals_valid")
        for key in [*keys, *(key for key in EXTRA_MAPS if key in f)]:
            if key not in f:
                raise DataError(self.path, f"dataset {key!r} missing; expected {keys}")
            if f[key].shape[0] != count:
                raise DataError(self.path, f"dataset {key!r} holds {f[key].shape[0]} samples; attrs say {count}")

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    def has(self, key: str) -> bool:
        """Whether the file holds the optional map ``key`` (one of ``EXTRA_MAPS``)."""
        return key in self._held_extras

    def read_extra(self, key: str, index: int) -> np.ndarray:
        """The optional map ``key`` of sample ``index`` at its original size (DataError when the file lacks it)."""
        if key not in self._held_extras:
            raise DataError(self.path, f"optional map {key!r} not in this file; re-run `mtc prepare`")
        return self._read([key], index)[key]

    @property
    def sizes(self) -> np.ndarray:
        """(N, 2) original H, W of every sample (without opening the file: useful for batching by size)."""
        return self._sizes.copy()

    def __len__(self) -> int:
        return len(self._ids)

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            # After a fork the inherited handle must not be used (HDF5 state is per process): open a new one.
            self._file = h5py.File(self.path, "r", locking=False)
            self._pid = os.getpid()
        return self._file

    def __getitem__(self, index: int) -> dict[str, Any]:
        keys = ["image", *self.tasks, *self.extras, *(["normals_valid"] if self._png8 else [])]
        sample = self._read(keys, index)
        valid = sample.pop("normals_valid", None)
        index %= len(self._ids)
        h, w = (int(v) for v in self._sizes[index])
        if valid is not None:
            normals = decode_unit_png(sample["normals"])
            normals[valid == 0] = 0.0
            sample["normals"] = normals
        sample["meta"] = {"id": self._ids[index], "size": (h, w)}
        return sample

    def _read(self, keys: Sequence[str], index: int) -> dict[str, Any]:
        n = len(self._ids)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples in {self.path}")
        index %= n
        cached = self._cache.get((index, tuple(keys)))
        if cached is not None:
            return {key: value.copy() for key, value in cached.items()}
        h, w = (int(v) for v in self._sizes[index])
        try:  # a chunk damaged on disk fails its checksum here: one DataError instead of an h5py traceback
            f = self._handle()
            sample = {key: f[key][index, :h, :w] for key in keys}
        except _H5_READ_ERRORS as err:
            if not self.path.is_file():
                raise DataError(self.path, "prepared split not found (removed while open)") from None
            raise DataError(self.path, f"cannot read sample {index} ({_reason(err)}): {CORRUPT}") from None
        size = sum(value.nbytes for value in sample.values())
        if self._cached_bytes + size <= CACHE_BYTES:
            self._cache[(index, tuple(keys))] = sample
            self._cached_bytes += size
            return {key: value.copy() for key, value in sample.items()}
        return sample

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._pid = None

    def __enter__(self) -> PreparedSplit:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        state["_cache"], state["_cached_bytes"] = {}, 0  # a DataLoader worker fills its own
        return state

    def __repr__(self) -> str:
        return f"PreparedSplit({str(self.path)!r}, {self.info.dataset}/{self.info.split}, n={len(self)})"
