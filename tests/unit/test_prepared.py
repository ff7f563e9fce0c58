from __future__ import annotations

import errno
import json
import multiprocessing
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from raw_fixtures import write_nyud_dataset, write_pascal_dataset

from mtcontrast.config import DataParams
from mtcontrast.data import DataError, PreparedSplit, prepare_dataset
from mtcontrast.data.adapters import build_adapter
from mtcontrast.data.prepared import SCHEMA_VERSION


def _params(tmp_path: Path, dataset: str, **kw: Any) -> DataParams:
    return DataParams(dataset=dataset, root=tmp_path / "raw", prepared_dir=tmp_path / "prepared", name="ds", **kw)


def _assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) == set(want)
    assert got["meta"] == want["meta"]
    for key in set(want) - {"meta"}:
        assert got[key].dtype == want[key].dtype, key
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


@pytest.mark.parametrize(
    ("dataset", "compression"), [("nyudv2", "gzip"), ("nyud_mt", "lzf"), ("pascal_context", "none")]
)
def test_round_trip_equals_adapter_output(tmp_path: Path, dataset: str, compression: str) -> None:
    if dataset == "pascal_context":
        write_pascal_dataset(tmp_path / "raw")  # variable image sizes
    else:
        write_nyud_dataset(tmp_path / "raw", dataset)
    summary = prepare_dataset(_params(tmp_path, dataset, compression=compression), progress=False)
    assert summary.counts == {"train": 3, "val": 2} and not summary.skipped
    assert sorted(p.name for p in (tmp_path / "prepared" / "ds").iterdir()) == ["train.h5", "val.h5"]
    adapter = build_adapter(dataset, tmp_path / "raw")
    for split in ("train", "val"):
        with PreparedSplit(summary.paths[split]) as prepared:
            assert len(prepared) == len(adapter.split_ids(split))
            assert prepared.ids == adapter.split_ids(split)
            for i, sid in enumerate(prepared.ids):
                _assert_same(prepared[i], adapter.load(split, sid))
            _assert_same(prepared[-1], adapter.load(split, prepared.ids[-1]))
            with pytest.raises(IndexError):
                prepared[len(prepared)]


def test_samples_are_kept_in_memory_and_returned_as_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second read of a sample comes from memory (the file may even be gone), equal to the first and a copy of
    it: modifying what a read returned never changes a later read. Past ``CACHE_BYTES`` reads go to the file."""
    import mtcontrast.data.prepared as prepared_module

    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    path = prepare_dataset(_params(tmp_path, "nyudv2"), progress=False).paths["train"]
    split = PreparedSplit(path)
    first = split[1]
    first["image"][...] = 0
    first["depth"][...] = -1.0
    split.close()
    path.rename(path.with_suffix(".moved"))  # a cached read does not touch the file
    again = split[1]
    want = PreparedSplit(path.with_suffix(".moved"))[1]
    _assert_same(again, want)
    assert again["image"].any() and not np.shares_memory(again["image"], split[1]["image"])
    with pytest.raises(DataError, match="prepared split not found"):
        split[0]  # never read: from the (gone) file
    path.with_suffix(".moved").rename(path)
    stored = sum(v.nbytes for v in split._cache[(1, next(iter(split._cache))[1])].values())
    monkeypatch.setattr(prepared_module, "CACHE_BYTES", stored)  # room for exactly one sample
    small = PreparedSplit(path)
    small[0], small[1]
    assert [index for index, _ in small._cache] == [0]
    assert pickle.loads(pickle.dumps(small))._cache == {}  # a loader worker starts with its own, empty


def test_info_attrs_and_check_summary(tmp_path: Path) -> None:
    write_pascal_dataset(tmp_path / "raw")
    summary = prepare_dataset(_params(tmp_path, "pascal_context"), progress=False)
    split = PreparedSplit(summary.paths["train"])
    info = split.info
    assert (info.dataset, info.variant, info.split, info.count) == ("pascal_context", "pascal_context", "train", 3)
    assert info.tasks == ("semseg", "human_parts", "sal", "normals", "edge")
    assert info.class_names["semseg"][15] == "person" and len(info.class_names["human_parts"]) == 7
    assert info.check_summary["images_with_parts"] == 1 == summary.checks["train"]["images_with_parts"]
    assert info.check_summary["sizes"] == {"10x12": 1, "12x8": 1, "9x11": 1}
    assert split.attrs["schema_version"] == SCHEMA_VERSION
    assert json.loads(split.attrs["ignore"])["human_parts"] == 255
    assert split.sizes.tolist() == [[10, 12], [12, 8], [9, 11]]
    assert info.source_fingerprint == summary.fingerprint and len(summary.fingerprint) == 32
    # Reading only some tasks skips the others.
    sub = PreparedSplit(summary.paths["val"], tasks=["sal"])
    assert set(sub[0]) == {"image", "sal", "meta"}
    with pytest.raises(DataError, match=r"tasks \['depth'\] not in this file"):
        PreparedSplit(summary.paths["val"], tasks=["depth"])


def test_limit_takes_first_ids_and_relaxes_counts(tmp_path: Path) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyudv2", train=4, val=3)
    summary = prepare_dataset(_params(tmp_path, "nyudv2", limit=2), progress=False)
    assert summary.counts == {"train": 2, "val": 2}
    assert PreparedSplit(summary.paths["val"]).ids == ["0101", "0102"]
    assert "subset: first 2 ids" in summary.format()


def test_skip_when_fingerprint_matches_and_redo_on_change(tmp_path: Path) -> None:
    raw = write_nyud_dataset(tmp_path / "raw", "nyudv2")
    params = _params(tmp_path, "nyudv2")
    first = prepare_dataset(params, progress=False)
    again = prepare_dataset(params, progress=False)
    assert again.skipped and again.fingerprint == first.fingerprint and again.checks == first.checks
    depth = raw.root / "depth" / "0001.npy"
    os.utime(depth, ns=(depth.stat().st_atime_ns, depth.stat().st_mtime_ns + 10**9))
    changed = prepare_dataset(params, progress=False)
    assert not changed.skipped and changed.fingerprint != first.fingerprint
    assert prepare_dataset(params.model_copy(update={"compression": "lzf"}), progress=False).skipped is False
    assert prepare_dataset(params, progress=False, force=True).skipped is False


def _modify(path: Path, **attrs: Any) -> None:
    with h5py.File(path, "a") as f:
        for key, value in attrs.items():
            f.attrs[key] = value


def test_open_checks_schema_count_and_completeness(tmp_path: Path) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    path = prepare_dataset(_params(tmp_path, "nyudv2"), progress=False).paths["train"]
    _modify(path, schema_version=SCHEMA_VERSION + 1)
    with pytest.raises(DataError, match=rf"schema version {SCHEMA_VERSION + 1}; expected {SCHEMA_VERSION}"):
        PreparedSplit(path)
    _modify(path, schema_version=SCHEMA_VERSION, count=5)
    with pytest.raises(DataError, match="dataset 'ids' holds 3 samples; attrs say 5"):
        PreparedSplit(path)
    _modify(path, count=3, complete=False)
    with pytest.raises(DataError, match="incomplete"):
        PreparedSplit(path)
    with pytest.raises(DataError, match="prepared split not found"):
        PreparedSplit(tmp_path / "nope.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="cannot open prepared split"):
        PreparedSplit(tmp_path / "junk.h5")


def _read_first(split: PreparedSplit) -> tuple[int, float]:
    return os.getpid(), float(split[0]["depth"].sum())


def test_handle_is_lazy_pickleable_and_fork_safe(tmp_path: Path) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    path = prepare_dataset(_params(tmp_path, "nyudv2"), progress=False).paths["train"]
    split = PreparedSplit(path)
    assert split._file is None  # nothing open until the first read
    want = float(split[0]["depth"].sum())
    assert split._file is not None and split._pid == os.getpid()
    clone = pickle.loads(pickle.dumps(split))
    assert clone._file is None and float(clone[0]["depth"].sum()) == want
    with multiprocessing.get_context("fork").Pool(1) as pool:  # inherits an open handle: must reopen
        pid, got = pool.apply(_read_first, (split,))
    assert pid != os.getpid() and got == want
    split._pid = -1  # as seen from a forked child: the handle belongs to another process
    old = split._file
    split._cache.clear()  # else the in-memory copy answers without the file
    assert float(split[0]["depth"].sum()) == want and split._file is not old
    old.close()
    split.close()
    assert split._file is None
    assert float(split[1]["depth"].sum()) > 0  # reopens after close
    split.close()


def test_normals_storage_encoding(tmp_path: Path) -> None:
    """PNG-born normals are stored as 8-bit values + validity (exact on read); NPY normals stay float32."""
    from mtcontrast.data.prepared import decode_unit_png, encode_unit_png8

    normals = decode_unit_png(np.array([[[0, 127, 255], [10, 20, 30]]], np.uint8))
    normals[0, 1] = 0.0  # an invalid pixel
    raw, valid = encode_unit_png8(normals, "x")
    assert raw.tolist() == [[[0, 127, 255], [128, 128, 128]]] and valid.tolist() == [[1, 0]]
    with pytest.raises(DataError, match="not 8-bit PNG values"):
        encode_unit_png8(np.full((1, 1, 3), 0.3, np.float32), "x")
    for dataset, want in (("nyudv2", ("unit_png8", "uint8")), ("nyud_mt", ("float32", "float32"))):
        write_nyud_dataset(tmp_path / dataset / "raw", dataset)
        path = prepare_dataset(_params(tmp_path / dataset, dataset), progress=False).paths["train"]
        with h5py.File(path, "r") as f:
            assert (f["normals"].attrs["encoding"], str(f["normals"].dtype)) == want
            assert ("normals_valid" in f) == (want[0] == "unit_png8")


# --- a prepared file damaged on disk -------------------------------------------------------------------------------

CORRUPT = "corrupted or truncated; re-run `dvc repro prepare`"


def _chunk_middle(path: Path, key: str, index: int) -> int:
    """File offset of the middle of sample ``index``'s chunk of ``key`` (well after the header)."""
    with h5py.File(path, "r") as f:
        info = f[key].id.get_chunk_info(index)
    return int(info.byte_offset + info.size // 2)


def _damage(path: Path, offset: int, n: int = 16) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        data = fh.read(n)
        fh.seek(offset)
        fh.write(bytes(b ^ 0x5A for b in data))


@pytest.mark.parametrize("compression", ["gzip", "lzf", "none"])
def test_corrupted_sample_is_one_data_error(tmp_path: Path, compression: str) -> None:
    """Bytes flipped inside one sample's chunk: the file opens, the other samples read, that sample (by index or
    while iterating) raises one DataError naming the file, whatever the compression (chunks are checksummed)."""
    write_nyud_dataset(tmp_path / "raw", "nyudv2", size=(32, 40))
    path = prepare_dataset(_params(tmp_path, "nyudv2", compression=compression), progress=False).paths["train"]
    _damage(path, _chunk_middle(path, "depth", 1))
    split = PreparedSplit(path)
    assert split[0]["meta"]["id"] == "0001" and split[2]["meta"]["id"] == "0003"
    with pytest.raises(DataError, match=rf"^{path}: cannot read sample 1 \(.*\): {re.escape(CORRUPT)}") as info:
        split[1]
    assert len(str(info.value).splitlines()) == 1
    with pytest.raises(DataError, match=re.escape(CORRUPT)):
        list(split)
    split.close()


def test_corrupted_file_read_by_loader_workers_is_one_data_error(tmp_path: Path) -> None:
    """torch re-raises a worker's exception from its traceback text; a DataError comes back as one line."""
    from mtcontrast.data.dataset import MultiTaskDataset, build_loader
    from mtcontrast.data.transforms import EvalTransform

    write_nyud_dataset(tmp_path / "raw", "nyudv2", size=(32, 40))
    path = prepare_dataset(_params(tmp_path, "nyudv2"), progress=False).paths["train"]
    _damage(path, _chunk_middle(path, "image", 2))
    dataset = MultiTaskDataset(path, EvalTransform(None, 8))
    with pytest.raises(DataError) as info:
        list(build_loader(dataset, batch_size=1, num_workers=1))
    assert str(info.value).startswith(f"{path}: cannot read sample 2 (") and str(info.value).endswith(CORRUPT)
    assert len(str(info.value).splitlines()) == 1
    assert pickle.loads(pickle.dumps(info.value)).args == info.value.args


def test_damage_anywhere_after_the_header_never_escapes_as_a_traceback(tmp_path: Path) -> None:
    """Bytes flipped at offsets spread over the file, read in a child process (a libhdf5 crash would show as a
    signal): each outcome is one DataError naming the file or, in slack space, the unchanged samples."""
    write_nyud_dataset(tmp_path / "raw", "nyudv2", size=(32, 40))
    path = prepare_dataset(_params(tmp_path, "nyudv2"), progress=False).paths["train"]
    size = path.stat().st_size
    offsets = [size * k // 24 for k in range(2, 24)]  # past the superblock
    script = """
import shutil, sys
import numpy as np
from mtcontrast.data import DataError, PreparedSplit

def arrays(path):
    return [np.concatenate([np.ravel(v) for k, v in sorted(s.items()) if k != "meta"]) for s in PreparedSplit(path)]

original, work = sys.argv[1], sys.argv[2]
want = arrays(original)
for offset in map(int, sys.argv[3:]):
    shutil.copyfile(original, work)
    with open(work, "r+b") as fh:
        fh.seek(offset)
        data = fh.read(32)
        fh.seek(offset)
        fh.write(bytes(b ^ 0x5A for b in data))
    try:
        same = all(np.array_equal(a, b) for a, b in zip(arrays(work), want, strict=True))
        outcome = "same" if same else "DIFFERENT"
    except DataError as err:
        text = str(err)
        outcome = "DataError" if text.startswith(work) and len(text.splitlines()) == 1 else "BAD " + text
    print(offset, outcome, flush=True)
"""
    run = subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "damaged.h5"), *map(str, offsets)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, (run.returncode, run.stdout[-500:], run.stderr[-2000:])
    outcomes = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    assert len(outcomes) == len(offsets) and set(outcomes.values()) <= {"DataError", "same"}, outcomes
    assert list(outcomes.values()).count("DataError") >= len(offsets) // 2, outcomes


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_file_is_one_data_error(tmp_path: Path, keep: float) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyudv2", size=(32, 40))
    path = prepare_dataset(_params(tmp_path, "nyudv2"), progress=False).paths["train"]
    data = path.read_bytes()
    split = PreparedSplit(path)  # opened before the damage: the next read fails cleanly too
    split[0]
    split.close()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError, match=rf"^{path}: cannot open prepared split \(.*truncated.*\): .*{CORRUPT}"):
        PreparedSplit(path)
    with pytest.raises(DataError, match=re.escape(CORRUPT)) as info:
        split[1]
    assert len(str(info.value).splitlines()) == 1


def test_writer_on_a_full_device_raises_enospc_not_a_crash(tmp_path: Path) -> None:
    """Writes to /dev/full fail with ENOSPC: the writer raises that OSError from Python and closes cleanly, in a
    child process so that a libhdf5 crash (the old behaviour at exit) would show as a signal."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    script = """
import errno, numpy as np
from pathlib import Path
from mtcontrast.data.prepared import PreparedWriter
sample = {"image": np.zeros((64, 80, 3), np.uint8), "depth": np.ones((64, 80), np.float32), "meta": {"id": "a"}}
try:
    writer = PreparedWriter(Path("/dev/full"), count=2, max_size=(64, 80), tasks=["depth"], compression="none", attrs={})
    writer.write(0, sample)
    writer.write(1, sample)
    writer.finish({})
except OSError as err:
    print("ENOSPC" if err.errno == errno.ENOSPC else f"errno {err.errno}")
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (run.returncode, run.stdout.strip(), run.stderr) == (0, "ENOSPC", "")


def test_guarded_file_holds_writes_after_a_failure() -> None:
    """After ENOSPC, writes land in memory and reads see them, so libhdf5 can finish its close consistently."""
    from mtcontrast.data.prepared import GuardedFile

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    guard = GuardedFile(Path("/dev/full"))
    assert guard.write(memoryview(b"header")) == 6 and guard.error is not None and guard.error.errno == errno.ENOSPC
    assert guard.error.__traceback__ is None  # its frames would keep views of libhdf5's buffers alive
    guard.seek(4)
    guard.write(b"XY")
    assert guard.tell() == 6 and guard.seek(0, os.SEEK_END) == 6
    guard.seek(0)
    buffer = bytearray(8)
    assert guard.readinto(buffer) == 8 and bytes(buffer) == b"headXY\0\0"
    guard.close()


def test_open_checks_tasks_and_sizes(tmp_path: Path) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    path = prepare_dataset(_params(tmp_path, "nyudv2"), progress=False).paths["train"]
    tasks = PreparedSplit(path).attrs["tasks"]
    _modify(path, tasks=json.dumps(["semseg", "../x"]))
    with pytest.raises(DataError, match=r"attribute 'tasks' = \['semseg', '\.\./x'\]; expected a list of task names"):
        PreparedSplit(path)
    _modify(path, tasks=tasks)
    with h5py.File(path, "a") as f:
        f["sizes"][1] = (7, 8)  # the file is 6×8
    with pytest.raises(DataError, match=rf"'sizes' is not N × \(H, W\) within 1..\(6, 8\): {re.escape(CORRUPT)}"):
        PreparedSplit(path)


def test_data_error_crosses_processes_as_one_line() -> None:
    err = DataError(Path("/d/val.h5"), "bad")
    again = pickle.loads(pickle.dumps(err))
    assert (str(again), again.path, again.message) == ("/d/val.h5: bad", Path("/d/val.h5"), "bad")
    worker = (
        "Caught DataError in DataLoader worker process 0.\\nOriginal Traceback (most recent call last):\\n"
        '  File "x.py", line 1, in f\\nmtcontrast.data.errors.DataError: /d/val.h5: cannot read sample 2\\n'
    ).replace("\\n", "\n")
    assert str(DataError(worker)) == "/d/val.h5: cannot read sample 2"
