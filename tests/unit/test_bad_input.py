"""Every kind of unusable input → one DataError naming the file and what was expected, exit code 2 from
``mtc prepare``, and no partial output (no .h5, no temp file, no new empty folder). CLI checks use NYUD folders
because params.yaml's other sections are validated against ``data.dataset`` (NYUD by default)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.io
import yaml
from PIL import Image
from raw_fixtures import write_nyud_dataset, write_pascal_dataset

from mtcontrast.cli import main
from mtcontrast.config import DataParams
from mtcontrast.data import DataError, prepare_dataset


def _params(tmp_path: Path, dataset: str) -> DataParams:
    return DataParams(dataset=dataset, root=tmp_path / "raw", prepared_dir=tmp_path / "prepared", name="ds")


def _fail(tmp_path: Path, dataset: str, match: str) -> DataError:
    with pytest.raises(DataError, match=match) as info:
        prepare_dataset(_params(tmp_path, dataset), progress=False)
    assert len(str(info.value).splitlines()) == 1
    assert not (tmp_path / "prepared").exists(), list((tmp_path / "prepared").rglob("*"))
    return info.value


def _cli(tmp_path: Path, dataset: str, capsys: pytest.CaptureFixture[str]) -> str:
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "data": {
                    "dataset": dataset,
                    "root": str(tmp_path / "raw"),
                    "prepared_dir": str(tmp_path / "prepared"),
                    "name": "ds",
                }
            }
        )
    )
    assert main(["prepare", "--params", str(params), "-q"]) == 2
    assert not (tmp_path / "prepared").exists()
    err = capsys.readouterr().err
    assert err.startswith("mtc prepare: error: ") and len(err.strip().splitlines()) == 1
    return err


def test_truncated_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyud_mt")
    jpg = tmp_path / "raw" / "images" / "0102.jpg"  # a val image: train is fully written before it fails
    jpg.write_bytes(jpg.read_bytes()[:-10])  # header intact, scan data cut: fails only when decoded
    err = _fail(tmp_path, "nyud_mt", "cannot decode image .*truncated")
    assert err.path == jpg
    assert "0102.jpg: cannot decode image" in _cli(tmp_path, "nyud_mt", capsys)


def test_corrupt_image_header(tmp_path: Path) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    (tmp_path / "raw" / "images" / "0002.png").write_bytes(b"\x89PNG garbage")
    assert _fail(tmp_path, "nyudv2", "cannot read image header").path == tmp_path / "raw" / "images" / "0002.png"


def test_label_size_differs_from_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    Image.fromarray(np.ones((5, 8), np.uint8)).save(tmp_path / "raw" / "segmentation" / "0102.png")
    _fail(tmp_path, "nyudv2", r"0102.png: semseg label is 5×8 but its image is 6×8; expected equal")
    assert "semseg label is 5×8" in _cli(tmp_path, "nyudv2", capsys)


def test_missing_split_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pascal_dataset(tmp_path / "pascal" / "raw")
    (tmp_path / "pascal" / "raw" / "ImageSets" / "Context" / "val.txt").unlink()
    _fail(tmp_path / "pascal", "pascal_context", r"Context/val.txt: missing split file; expected one sample id per")
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    (tmp_path / "raw" / "gt_sets" / "val.txt").unlink()
    assert "gt_sets/val.txt: missing split file" in _cli(tmp_path, "nyudv2", capsys)


@pytest.mark.parametrize(
    ("remove", "match"),
    [
        (lambda root: (root / "depth" / "0002.npy").unlink(), r"depth/0002.npy: missing depth file of sample '0002'"),
        (
            lambda root: (root / "gt_sets" / "val.txt").write_text("0101\n0999\n"),
            r"images/0999.png: missing image file of sample '0999'",
        ),
    ],
)
def test_missing_listed_file(tmp_path: Path, remove: Callable[[Path], None], match: str) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    remove(tmp_path / "raw")
    _fail(tmp_path, "nyudv2", match)


def test_wrong_nyud_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyud_mt", manifest=False)
    _fail(tmp_path, "nyudv2", r"folder is the 'nyud_mt' NYUD package \(images/\*.jpg, normals/\*.npy\)")
    assert "set data.dataset=nyud_mt" in _cli(tmp_path, "nyudv2", capsys)


@pytest.mark.parametrize(("folder", "key"), [("pascal-context/trainval", "LabelMap"), ("human_parts", "anno")])
def test_mat_without_expected_variable(tmp_path: Path, folder: str, key: str) -> None:
    write_pascal_dataset(tmp_path / "raw")
    mat = tmp_path / "raw" / folder / "2008_000000.mat"
    scipy.io.savemat(mat, {"Other": np.zeros((2, 2))})
    err = _fail(tmp_path, "pascal_context", rf"has no variable '{key}' \(found: Other\)")
    assert err.path == mat


@pytest.mark.parametrize(("value", "match"), [(np.nan, "NaN or infinite"), (-0.5, "negative values")])
def test_bad_depth(tmp_path: Path, value: float, match: str, capsys: pytest.CaptureFixture[str]) -> None:
    raw = write_nyud_dataset(tmp_path / "raw", "nyud_mt")
    depth = raw.samples["0102"]["depth"].copy()
    depth[3, 4] = value
    np.save(tmp_path / "raw" / "depth" / "0102.npy", depth)
    _fail(tmp_path, "nyud_mt", rf"depth/0102.npy: .*{match}")
    assert match in _cli(tmp_path, "nyud_mt", capsys)


def test_empty_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    (tmp_path / "raw" / "gt_sets" / "train.txt").write_text("\n")
    (tmp_path / "raw" / "gt_sets" / "val.txt").write_text("")
    _fail(tmp_path, "nyudv2", r"train.txt: split 'train' lists no ids; expected 3")
    assert "lists no ids" in _cli(tmp_path, "nyudv2", capsys)


def test_unwritable_output_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    (tmp_path / "prepared").write_text("a file where the output folder should be")
    with pytest.raises(DataError, match=r"prepared/ds: cannot create output folder .* expected a writable directory"):
        prepare_dataset(_params(tmp_path, "nyudv2"), progress=False)
    assert (tmp_path / "prepared").is_file()
    params = tmp_path / "params.yaml"
    data = {"root": str(tmp_path / "raw"), "prepared_dir": str(tmp_path / "prepared")}
    params.write_text(yaml.safe_dump({"data": data}))
    assert main(["prepare", "--params", str(params), "-q"]) == 2
    assert "cannot create output folder" in capsys.readouterr().err


def test_failed_run_keeps_previous_outputs_and_leaves_no_temp(tmp_path: Path) -> None:
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    first = prepare_dataset(_params(tmp_path, "nyudv2"), progress=False)
    before = {p: p.read_bytes() for p in first.paths.values()}
    np.save(tmp_path / "raw" / "depth" / "0101.npy", np.full((6, 8), np.nan, np.float32))
    with pytest.raises(DataError, match="NaN"):
        prepare_dataset(_params(tmp_path, "nyudv2"), progress=False)
    assert sorted(p.name for p in (tmp_path / "prepared" / "ds").iterdir()) == ["train.h5", "val.h5"]
    assert all(p.read_bytes() == data for p, data in before.items())


# --- the output disk: full or read-only ----------------------------------------------------------------------------

TmpfsMount = Callable[..., Path]


@pytest.fixture
def tmpfs() -> Iterator[TmpfsMount]:
    """``tmpfs(path, size="2m", ro=False)`` mounts a small tmpfs (root only; the test is skipped where mounting is
    not permitted) and unmounts it afterwards."""
    mounted: list[Path] = []

    def mount(path: Path, size: str = "2m", ro: bool = False) -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a small tmpfs needs root")
        path.mkdir(parents=True, exist_ok=True)
        opts = f"size={size}" + (",ro" if ro else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", str(path)], check=False)


def _prepare_in_child(tmp_path: Path, root: Path, prepared: Path, compression: str) -> subprocess.CompletedProcess[str]:
    """``mtc prepare`` in its own process, so a libhdf5 crash shows as a signal (exit -11), not a dead pytest."""
    data = {"dataset": "nyudv2", "root": str(root), "prepared_dir": str(prepared), "name": "ds"}
    params = tmp_path / f"params-{root.name}.yaml"
    params.write_text(yaml.safe_dump({"data": {**data, "compression": compression}}))
    cmd = [sys.executable, "-m", "mtcontrast.cli", "prepare", "--params", str(params), "-q"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)


def _noise_dataset(root: Path) -> None:
    """256×320 NYUDv2 samples whose image and depth do not compress: gzip output well over 2 MiB, while the
    free-space estimate (a quarter of the raw bytes) stays under it, so only the writer sees the full disk."""
    write_nyud_dataset(root, "nyudv2", size=(256, 320))
    rng = np.random.default_rng(0)
    for sid in ("0001", "0002", "0003", "0101", "0102"):
        Image.fromarray(rng.integers(0, 256, (256, 320, 3), dtype=np.uint8)).save(root / "images" / f"{sid}.png")
        np.save(root / "depth" / f"{sid}.npy", rng.uniform(0.5, 10.0, (256, 320)).astype(np.float32))


def test_full_disk_is_refused_before_writing(tmp_path: Path, tmpfs: TmpfsMount) -> None:
    disk = tmpfs(tmp_path / "disk")
    write_nyud_dataset(tmp_path / "raw", "nyudv2", size=(256, 320))  # 5.1 MiB uncompressed
    run = _prepare_in_child(tmp_path, tmp_path / "raw", disk, "none")
    assert run.returncode == 2, (run.returncode, run.stderr[-3000:])
    assert run.stderr.startswith(f"mtc prepare: error: {disk}/ds: no space left on device: about 5.1 MiB needed ")
    assert "for train.h5 + val.h5, 2.0 MiB free; free some space or set data.prepared_dir" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert list(disk.iterdir()) == []


def test_disk_full_while_writing_is_reported_and_cleaned_up(tmp_path: Path, tmpfs: TmpfsMount) -> None:
    """ENOSPC inside libhdf5 used to print 244 lines of h5py errors and segfault (exit 139): now one line, exit 2,
    the temp removed, the previous outputs untouched."""
    disk = tmpfs(tmp_path / "disk")
    write_nyud_dataset(tmp_path / "small", "nyudv2")
    assert _prepare_in_child(tmp_path, tmp_path / "small", disk, "gzip").returncode == 0
    before = {p.name: p.read_bytes() for p in (disk / "ds").iterdir()}
    _noise_dataset(tmp_path / "big")
    run = _prepare_in_child(tmp_path, tmp_path / "big", disk, "gzip")
    assert run.returncode == 2, (run.returncode, run.stderr[-3000:])
    err = run.stderr.strip()
    assert len(err.splitlines()) == 1, err[-3000:]
    assert err.startswith(f"mtc prepare: error: {disk}/ds/"), err
    assert ".h5: no space left on device while writing this split (nothing replaced, partial file removed); " in err
    assert err.endswith("free some space or set data.prepared_dir to a larger disk")
    assert {p.name: p.read_bytes() for p in (disk / "ds").iterdir()} == before  # no temp, nothing replaced


@pytest.mark.parametrize("existing", [True, False])
def test_read_only_output_folder(tmp_path: Path, existing: bool, tmpfs: TmpfsMount) -> None:
    """A read-only mount (root) or folder: one line, exit 2, nothing written. Root ignores permission bits, so as
    root the folder is a read-only tmpfs."""
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    prepared = tmp_path / "prepared"
    if os.geteuid() == 0:
        tmpfs(prepared, "1m")
        if existing:
            (prepared / "ds").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(prepared)], check=True)
    else:
        (prepared / "ds").mkdir(parents=True) if existing else prepared.mkdir()
        (prepared / "ds" if existing else prepared).chmod(0o555)
    try:
        with pytest.raises(DataError) as info:
            prepare_dataset(_params(tmp_path, "nyudv2"), progress=False)
    finally:
        if os.geteuid() != 0:
            (prepared / "ds" if existing else prepared).chmod(0o755)
    message = str(info.value)
    assert message.startswith(f"{prepared / 'ds'}: ") and len(message.splitlines()) == 1
    if existing:
        assert message.endswith("output folder is not writable; expected a writable directory (data.prepared_dir)")
    else:
        assert "cannot create output folder (" in message and "expected a writable directory" in message
    assert sorted(p.name for p in prepared.rglob("*")) == (["ds"] if existing else [])


def test_free_space_is_checked_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-check without a small disk: a reported 1 MiB free is less than the padded arrays need."""
    import mtcontrast.data.prepare as prepare

    write_nyud_dataset(tmp_path / "raw", "nyudv2", size=(256, 320))
    monkeypatch.setattr(prepare.shutil, "disk_usage", lambda _: SimpleNamespace(total=2**30, used=2**30, free=2**20))
    params = _params(tmp_path, "nyudv2").model_copy(update={"compression": "none"})
    with pytest.raises(DataError, match=r"prepared/ds: no space left on device: about 5.1 MiB needed for train.h5 \+ "):
        prepare_dataset(params, progress=False)
    assert not (tmp_path / "prepared").exists()
