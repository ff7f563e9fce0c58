"""PASCAL's SEISM edge GT: the LabelMap partition on test_new (docs/seism.md §1 step 2, §3; params eval.edge_gt)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from PIL import Image
from raw_fixtures import PERSON, WALL, pascal_arrays, write_nyud_dataset, write_pascal_dataset

from mtcontrast.config import DataParams, EvalParams
from mtcontrast.data import DataError, PreparedSplit, prepare_dataset
from mtcontrast.data.edge_gt import (
    EDGE_LABELS,
    LABELMAP_TEST_NEW,
    PREPARED_EDGES,
    TEST_NEW_FILE,
    pascal_test_new_ids,
    resolve_edge_gt,
)
from mtcontrast.data.layouts import write_pascal_sample, write_pascal_splits
from mtcontrast.engine.evaluator import edge_options
from mtcontrast.metrics import build_meter, score_folder
from mtcontrast.metrics.edges.bmap import gt_boundaries, seg2bmap, thin
from mtcontrast.metrics.edges.bsds import EdgeMeter

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "src" / "mtcontrast" / "data" / "db_info" / TEST_NEW_FILE
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "seism" / TEST_NEW_FILE  # beside the repo

# A 4-row × 3-column region (ids: PASCAL-Context person on wall) in a 6×8 LabelMap.
HAND_LABELMAP = np.full((6, 8), WALL, dtype=np.uint16)
HAND_LABELMAP[2:5, 3:6] = PERSON
# seg2bmap marks a pixel whose E, S or SE neighbour differs: the closed 1-px ring rows 1..4 × cols 2..5.
HAND_BMAP = np.zeros((6, 8), dtype=bool)
HAND_BMAP[1:5, 2:6] = True
HAND_BMAP[2:4, 3:5] = False
# bwmorph 'thin' removes the ring's 4 corners (the NE / SE corners in the first subiteration, G3; the NW / SW
# corners in the second, G3'; every other ring pixel has two 8-neighbour runs, X_H = 2) and then nothing else.
HAND_GT = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 1, 0, 0, 1, 0, 0],
        [0, 0, 1, 0, 0, 1, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ],
    dtype=bool,
)
IN_TEST_NEW = ["2008_000003", "2008_000007"]
NOT_IN_TEST_NEW = "2008_000002"


def test_packaged_test_new_is_seism_list() -> None:
    lines = PACKAGED.read_text().splitlines()
    assert len(lines) == 2498 == len(set(lines)) == len(pascal_test_new_ids())
    assert all(re.fullmatch(r"20\d\d_\d{6}", sid) for sid in lines)
    assert lines[:3] == ["2008_000003", "2008_000007", "2008_000009"]
    assert set(IN_TEST_NEW) <= pascal_test_new_ids() and NOT_IN_TEST_NEW not in pascal_test_new_ids()
    if REFERENCE.is_file():  # the binding copy in the shared reference folder, where present
        assert PACKAGED.read_bytes() == REFERENCE.read_bytes()


def test_hand_case_seg2bmap_and_thin() -> None:
    np.testing.assert_array_equal(seg2bmap(HAND_LABELMAP), HAND_BMAP)
    np.testing.assert_array_equal(thin(HAND_BMAP), HAND_GT)
    # Relabelling changes nothing: only label differences matter.
    np.testing.assert_array_equal(gt_boundaries((HAND_LABELMAP == PERSON).astype(np.uint8)), HAND_GT)


def _real_pascal(root: Path) -> dict[str, np.ndarray]:
    """A PASCAL-Context folder without a scenes manifest (protocol expectations); val ids from test_new plus one
    outside it; sample 2008_000003 has the hand-made LabelMap. Returns the LabelMap of each val id."""
    splits = {"train": ["2008_000000", "2008_000001"], "val": [NOT_IN_TEST_NEW, *IN_TEST_NEW]}
    labelmaps = {}
    for k, sid in enumerate([*splits["train"], *splits["val"]]):
        arrays = pascal_arrays("nopersons", (6, 8), k)
        if sid == "2008_000003":
            arrays["labelmap"] = HAND_LABELMAP.copy()
        write_pascal_sample(root, sid, **arrays)
        labelmaps[sid] = arrays["labelmap"]
    write_pascal_splits(root, splits, {"train": {}, "val": {}})
    return {sid: labelmaps[sid] for sid in splits["val"]}


def _prepare(tmp_path: Path, dataset: str = "pascal_context") -> Path:
    params = DataParams(dataset=dataset, root=tmp_path / "raw", prepared_dir=tmp_path / "prepared", name="ds", limit=3)
    return prepare_dataset(params, progress=False).paths["val"]


def test_fixture_mat_labelmap_is_prepared_and_gives_the_seism_gt(tmp_path: Path) -> None:
    labelmaps = _real_pascal(tmp_path / "raw")
    val = _prepare(tmp_path)
    with PreparedSplit(val) as split, PreparedSplit(tmp_path / "prepared" / "ds" / "train.h5") as train:
        assert split.has(EDGE_LABELS) and not train.has(EDGE_LABELS)  # val only
        assert EDGE_LABELS not in split[0]  # not part of the prepared-sample contract unless asked for
        for i, sid in enumerate(split.ids):
            got = split.read_extra(EDGE_LABELS, i)
            assert got.dtype == np.uint16
            np.testing.assert_array_equal(got, labelmaps[sid])
        i = split.ids.index("2008_000003")
        gt = split.read_extra(EDGE_LABELS, i)
        np.testing.assert_array_equal(gt_boundaries(gt), HAND_GT)
        # The prepared (Laplacian) edges are another map: SEISM's GT comes from the LabelMap itself.
        assert not np.array_equal(gt_boundaries(split[i]["edge"]), HAND_GT)
        with PreparedSplit(val, tasks=["edge"], extras=[EDGE_LABELS]) as sub:
            assert set(sub[i]) == {"image", "edge", EDGE_LABELS, "meta"}
            np.testing.assert_array_equal(sub[i][EDGE_LABELS], gt)

    meter = EdgeMeter(0.0075, nms=False, gt_kind="labels")
    meter.update(HAND_GT.astype(np.float32), gt, id="2008_000003")
    assert meter.records()[0]["n_gt"] == int(HAND_GT.sum()) == 8
    assert meter.compute()["odsf"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="binary"):
        EdgeMeter(0.0075).update(HAND_GT.astype(np.float32), gt)
    with pytest.raises(ValueError, match="integer labels"):
        EdgeMeter(0.0075, gt_kind="labels").update(HAND_GT.astype(np.float32), gt.astype(np.float32))
    with pytest.raises(ValueError, match="gt_kind"):
        EdgeMeter(0.0075, gt_kind="labelmap")


def test_auto_picks_labelmap_on_test_new_for_real_pascal(tmp_path: Path) -> None:
    _real_pascal(tmp_path / "raw")
    with PreparedSplit(_prepare(tmp_path)) as split:
        plan = resolve_edge_gt("auto", split)
        assert (plan.kind, plan.gt_kind, plan.sample_key) == (LABELMAP_TEST_NEW, "labels", EDGE_LABELS)
        assert plan.ids == frozenset(IN_TEST_NEW)
        assert [sid for sid in split.ids if plan.selects(sid)] == IN_TEST_NEW
        edge = split[1]["edge"]  # the evaluator's GT for an item: its LabelMap, or the prepared edges as given
        np.testing.assert_array_equal(plan.target(split, 1, edge), split.read_extra(EDGE_LABELS, 1))
        assert resolve_edge_gt(PREPARED_EDGES, split).target(split, 1, edge) is edge
        assert resolve_edge_gt(LABELMAP_TEST_NEW, split).ids == frozenset(IN_TEST_NEW)
        assert resolve_edge_gt(PREPARED_EDGES, split).ids is None
        # eval.limit = 1 keeps only 2008_000002, outside test_new: auto falls back, the explicit choice refuses.
        assert resolve_edge_gt("auto", split, split.ids[:1]).kind == PREPARED_EDGES
        with pytest.raises(DataError, match="test_new"):
            resolve_edge_gt(LABELMAP_TEST_NEW, split, split.ids[:1])
        with pytest.raises(ValueError, match="edge_gt"):
            resolve_edge_gt("labelmap", split)


def test_auto_picks_prepared_edges_for_scenes_and_nyud(tmp_path: Path) -> None:
    write_pascal_dataset(tmp_path / "raw")  # a scenes_manifest.json, as the procedural scenes write
    with PreparedSplit(_prepare(tmp_path)) as split:
        assert split.has(EDGE_LABELS)
        plan = resolve_edge_gt("auto", split)
        assert (plan.kind, plan.ids, plan.gt_kind, plan.sample_key) == (PREPARED_EDGES, None, "binary", "edge")
        assert "procedural" in plan.reason
        with pytest.raises(DataError, match="test_new"):
            resolve_edge_gt(LABELMAP_TEST_NEW, split)
    nyud = tmp_path / "nyud"
    write_nyud_dataset(nyud / "raw", "nyudv2")
    with PreparedSplit(_prepare(nyud, "nyudv2")) as split:
        assert not split.has(EDGE_LABELS)
        assert resolve_edge_gt("auto", split).kind == PREPARED_EDGES
        with pytest.raises(DataError, match="PASCAL-Context"):
            resolve_edge_gt(LABELMAP_TEST_NEW, split)


def test_split_prepared_before_edge_labels_still_reads(tmp_path: Path) -> None:
    _real_pascal(tmp_path / "raw")
    old = tmp_path / "old.h5"
    shutil.copy(_prepare(tmp_path), old)
    with h5py.File(old, "a") as f:
        del f[EDGE_LABELS]
    with PreparedSplit(old) as split:
        assert not split.has(EDGE_LABELS) and len(split[0]["edge"])
        with pytest.warns(UserWarning, match="re-run"):
            assert resolve_edge_gt("auto", split).kind == PREPARED_EDGES
        with pytest.raises(DataError, match="edge_labels"):
            resolve_edge_gt(LABELMAP_TEST_NEW, split)
        with pytest.raises(DataError, match="edge_labels"):
            split.read_extra(EDGE_LABELS, 0)
    with pytest.raises(DataError, match="edge_labels"):
        PreparedSplit(old, extras=[EDGE_LABELS])


def test_score_folder_scores_the_labelmap_on_test_new_only(tmp_path: Path) -> None:
    labelmaps = _real_pascal(tmp_path / "raw")
    val = _prepare(tmp_path)
    pred_dir = tmp_path / "pred"
    (pred_dir / "edge").mkdir(parents=True)
    for sid in IN_TEST_NEW:  # SEISM reads predictions of the test_new ids only
        png = (gt_boundaries(labelmaps[sid]) * 255).astype(np.uint8)
        Image.fromarray(png).save(pred_dir / "edge" / f"{sid}.png")
    result = score_folder(val, pred_dir, ["edge"], protocol="plain")
    assert result["edge"]["odsf"] == pytest.approx(100.0)
    assert score_folder(val, pred_dir, ["edge"], protocol="plain", edge_gt=LABELMAP_TEST_NEW) == result
    with pytest.raises(DataError, match=NOT_IN_TEST_NEW):  # all val images need a prediction
        score_folder(val, pred_dir, ["edge"], protocol="plain", edge_gt=PREPARED_EDGES)


def test_eval_option_default_and_meter_wiring(tmp_path: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert EvalParams().edge_gt == params["eval"]["edge_gt"] == "auto"
    with pytest.raises(ValueError):
        EvalParams(edge_gt="labelmap")
    for kind in ("binary", "labels"):
        meter = build_meter("edge", "pascal_context", **edge_options(EvalParams(), tmp_path, kind))
        assert meter.config()["gt_kind"] == kind
        assert type(meter).from_states([meter.state()], **meter.config()).gt_kind == kind
    assert edge_options(EvalParams(), tmp_path)["gt_kind"] == "binary"
