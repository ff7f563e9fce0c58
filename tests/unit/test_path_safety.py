"""Ids never lead outside their folder: the helper itself, then the three escapes found by hand: prepare
reading through a split file's ``../`` or absolute id, ``score`` reading a prediction through a crafted id, and the
SEISM export writing a PNG through an id in a hand-edited ``val.h5``."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from raw_fixtures import write_nyud_dataset, write_pascal_dataset

from mtcontrast.cli import main
from mtcontrast.config import DataParams
from mtcontrast.data import DataError, PreparedSplit, prepare_dataset
from mtcontrast.data.adapters import build_adapter
from mtcontrast.data.ids import check_id, path_inside
from mtcontrast.metrics import EdgeMeter, export_edge_png, read_prediction, score_folder
from mtcontrast.metrics.score import evaluate_samples

ESCAPE = "../../outside/victim"


# --- the helper ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sid", ["0001", "2008_000123", "img.v2", "a b", "..x", "x..", "ünïcode"])
def test_check_id_accepts_plain_names(sid: str) -> None:
    assert check_id(sid, "split.txt") == sid


@pytest.mark.parametrize(
    ("sid", "why"),
    [
        ("", "is empty"),
        (".", "is a relative folder name"),
        ("..", "is a relative folder name"),
        ("../x", "contains a path separator"),
        (ESCAPE, "contains a path separator"),
        ("a/b", "contains a path separator"),
        ("a\\b", "contains a path separator"),
        ("..\\..\\x", "contains a path separator"),
        ("/etc/passwd", "is an absolute path"),
        ("\\\\server\\share", "is an absolute path"),
        ("C:\\x", "is an absolute path"),
        ("C:x", "is an absolute path"),
        ("a\x00b", "contains a NUL or control character"),
        ("a\nb", "contains a NUL or control character"),
    ],
)
def test_check_id_refuses_paths(sid: str, why: str) -> None:
    with pytest.raises(DataError, match=why) as info:
        check_id(sid, Path("gt_sets/val.txt"))
    message = str(info.value)
    assert message.startswith(f"gt_sets/val.txt: id {sid!r} {why}; expected a plain file name")
    assert len(message.splitlines()) == 1 and info.value.path == Path("gt_sets/val.txt")


def test_check_id_refuses_non_strings() -> None:
    with pytest.raises(DataError, match="id 7 is a int"):
        check_id(7, "x.h5")


def test_path_inside(tmp_path: Path) -> None:
    assert path_inside(tmp_path, "images", "0001.png") == tmp_path / "images" / "0001.png"
    assert path_inside(tmp_path / "a", "..", "a", "f.png") == tmp_path / "a" / ".." / "a" / "f.png"  # stays inside
    for parts in [("..", "x"), ("images", "..", "..", "x"), ("/etc/passwd",), ("",), (".",)]:
        with pytest.raises(DataError, match="leads outside this folder") as info:
            path_inside(tmp_path / "root", *parts)
        assert info.value.path == tmp_path / "root" and len(str(info.value).splitlines()) == 1


def test_path_inside_symlinks_lexical_for_reads_resolved_for_writes(tmp_path: Path) -> None:
    """A folder of symlinks into a shared store (a DVC cache, a dataset mounted elsewhere) is read as is; a write
    through a planted link is refused."""
    (tmp_path / "store").mkdir()
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "images").symlink_to(tmp_path / "store")
    assert path_inside(tmp_path / "root", "images", "0001.png") == tmp_path / "root" / "images" / "0001.png"
    with pytest.raises(DataError, match="leads outside"):
        path_inside(tmp_path / "root", "images", "0001.png", follow_links=True)
    linked_root = tmp_path / "linked"
    linked_root.symlink_to(tmp_path / "root")  # the root itself may be a link: both sides resolve alike
    assert path_inside(linked_root, "f.png", follow_links=True) == linked_root / "f.png"


# --- escape 1: prepare reading through ids of a split file --------------------------------------------------------


def _params(tmp_path: Path, dataset: str) -> DataParams:
    return DataParams(dataset=dataset, root=tmp_path / "raw", prepared_dir=tmp_path / "prepared", name="ds")


def _write_params(tmp_path: Path, dataset: str) -> Path:
    data = {"dataset": dataset, "root": str(tmp_path / "raw"), "prepared_dir": str(tmp_path / "prepared"), "name": "ds"}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"data": data}))
    return path


@pytest.mark.parametrize(
    ("dataset", "sid", "why"),
    [
        ("nyudv2", ESCAPE, "contains a path separator"),
        ("nyudv2", "/etc/hostname", "is an absolute path"),
        ("nyudv2", "..", "is a relative folder name"),
        ("pascal_context", "../JPEGImages/2008_000000", "contains a path separator"),
        ("pascal_context", "/tmp/x", "is an absolute path"),
    ],
)
def test_prepare_refuses_escaping_ids_in_a_split_file(
    tmp_path: Path, dataset: str, sid: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if dataset == "pascal_context":
        raw = write_pascal_dataset(tmp_path / "raw")
        split_file = tmp_path / "raw" / "ImageSets" / "Context" / "val.txt"
    else:
        raw = write_nyud_dataset(tmp_path / "raw", dataset)
        split_file = tmp_path / "raw" / "gt_sets" / "val.txt"
    split_file.write_text("".join(f"{i}\n" for i in [raw.splits["val"][0], sid]))
    with pytest.raises(DataError) as info:
        prepare_dataset(_params(tmp_path, dataset), progress=False)
    assert str(info.value) == f"{split_file}: id {sid!r} {why}; expected a plain file name " + (
        "(no '/' or '\\', not '.' or '..', not absolute, no control characters)"
    )
    assert not (tmp_path / "prepared").exists()
    assert main(["prepare", "--params", str(_write_params(tmp_path, dataset)), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mtc prepare: error: {split_file}: id {sid!r}") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "prepared").exists()


def test_adapter_paths_stay_inside_the_root_for_unchecked_ids(tmp_path: Path) -> None:
    """Ids that bypass the split file (API callers) still cannot lead a sample path outside the root."""
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    adapter = build_adapter("nyudv2", tmp_path / "raw")
    with pytest.raises(DataError, match="leads outside this folder"):
        adapter.load("val", ESCAPE)
    with pytest.raises(DataError, match="leads outside this folder"):
        adapter.sample_files("val", "/etc/hostname")


# --- a hand-edited prepared split ----------------------------------------------------------------------------------


def _prepared_val(tmp_path: Path, bad_id: str | None = ESCAPE) -> Path:
    write_nyud_dataset(tmp_path / "raw", "nyudv2")
    path = prepare_dataset(_params(tmp_path, "nyudv2"), progress=False).paths["val"]
    if bad_id is not None:
        with h5py.File(path, "a") as f:
            f["ids"][1] = bad_id
    return path


@pytest.mark.parametrize("bad_id", [ESCAPE, "/etc/hostname", "", "x/../../y"])
def test_prepared_split_refuses_a_hand_edited_id_on_open(tmp_path: Path, bad_id: str) -> None:
    path = _prepared_val(tmp_path, bad_id)
    with pytest.raises(DataError, match=rf"^{path}: id {bad_id!r} ") as info:
        PreparedSplit(path)
    assert len(str(info.value).splitlines()) == 1


# --- escape 2: `mtc score --pred` reading outside the prediction folder --------------------------------------------


def _victim(tmp_path: Path) -> Path:
    """A file an escaping id would reach from ``<tmp>/pred/<task>/``."""
    victim = tmp_path / "outside" / "victim.npy"
    victim.parent.mkdir()
    np.save(victim, np.zeros((6, 8), np.float32))
    return victim


def test_score_does_not_read_outside_the_prediction_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = _victim(tmp_path)
    pred = tmp_path / "pred"
    assert (pred / "depth" / f"{ESCAPE}.npy").resolve() == victim.resolve()  # what the old lookup read
    (pred / "depth").mkdir(parents=True)
    np.save(pred / "depth" / "0101.npy", np.ones((6, 8), np.float32))
    # The lookup itself refuses the id, whoever supplies it.
    with pytest.raises(DataError, match=rf"pred/depth: id '{ESCAPE}' contains a path separator"):
        read_prediction("depth", pred, ESCAPE)
    sample = {"depth": np.ones((6, 8), np.float32), "meta": {"id": ESCAPE}}
    with pytest.raises(DataError, match="contains a path separator"):
        evaluate_samples([sample], pred, ["depth"], "nyudv2")
    # Through `mtc score`: the crafted id in val.h5 is refused when the split opens, naming the file.
    val = _prepared_val(tmp_path)
    with pytest.raises(DataError, match=rf"val.h5: id '{ESCAPE}' contains a path separator"):
        score_folder(val, pred, tasks=["depth"])
    assert (
        main(["score", "--params", str(_write_params(tmp_path, "nyudv2")), "--prepared", str(val), "--pred", str(pred)])
        == 2
    )
    err = capsys.readouterr().err
    assert f"val.h5: id '{ESCAPE}' contains a path separator" in err and len(err.strip().splitlines()) == 1


# --- escape 3: the SEISM export writing outside its folder ---------------------------------------------------------


def test_edge_export_never_writes_outside_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "run" / "seism"
    target = (out / "edge" / f"{ESCAPE}.png").resolve()  # = <tmp>/run/outside/victim.png
    prob = np.full((6, 8), 0.5, np.float32)
    with pytest.raises(DataError, match=rf"seism/edge: id '{ESCAPE}' contains a path separator"):
        export_edge_png(prob, out, ESCAPE)
    meter = EdgeMeter(0.011, export_dir=out)  # the evaluator's route (eval.export_edges=true)
    with pytest.raises(DataError, match="contains a path separator"):
        meter.update(prob, np.zeros((6, 8), np.uint8), id=ESCAPE)
    with pytest.raises(DataError, match="is an absolute path"):
        export_edge_png(prob, out, str(tmp_path / "abs"))
    assert not target.exists() and not (tmp_path / "abs.png").exists()
    # A link planted where the PNG goes would redirect the write: refused, its target untouched.
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"keep")
    (out / "edge").mkdir(parents=True)
    (out / "edge" / "0101.png").symlink_to(victim)
    with pytest.raises(DataError, match="leads outside this folder"):
        export_edge_png(prob, out, "0101")
    assert victim.read_bytes() == b"keep"
    assert export_edge_png(prob, out, "0102") == out / "edge" / "0102.png"


def test_evaluation_export_is_stopped_at_the_hand_edited_split(tmp_path: Path) -> None:
    """`mtc evaluate -S eval.export_edges=true` names PNGs after the split's ids: the split refuses to open."""
    val = _prepared_val(tmp_path)
    with pytest.raises(DataError, match=rf"{val}: id '{ESCAPE}'"):
        PreparedSplit(val)
    assert not list((tmp_path).rglob("victim*"))
