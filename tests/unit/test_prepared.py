from __future__ import annotations

import json
import multiprocessing
import os
import pickle
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
