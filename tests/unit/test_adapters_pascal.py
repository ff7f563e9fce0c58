from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from raw_fixtures import CAT, PERSON, SKY, TVMONITOR, UNKNOWN, WALL, write_pascal_dataset

from mtcontrast.data.adapters import PascalContextAdapter, build_adapter
from mtcontrast.data.adapters.pascal import labelmap_edges, normals_valid_ids, read_part_objects
from mtcontrast.data.checks import SplitStats


def test_edge_from_labelmap_laplacian_thinned() -> None:
    labelmap = np.zeros((6, 8), dtype=np.uint16)
    labelmap[2:5, 3:7] = 284
    expected = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 1, 1, 0, 0],
            [0, 0, 0, 1, 0, 0, 1, 0],
            [0, 0, 0, 1, 0, 0, 1, 0],
            [0, 0, 0, 0, 1, 1, 0, 0],
        ],
        dtype=np.uint8,
    )
    edge = labelmap_edges(labelmap)
    assert edge.dtype == np.uint8
    np.testing.assert_array_equal(edge, expected)
    assert labelmap_edges(np.full((5, 5), 7, np.uint16)).sum() == 0  # one region: no boundary


def test_normals_valid_set_is_170_classes() -> None:
    ids = normals_valid_ids()
    assert len(ids) == 170
    assert {WALL, TVMONITOR, PERSON, CAT} <= set(ids.tolist())
    assert SKY not in ids and UNKNOWN not in ids and 0 not in ids


def test_pascal_adapter_decodes_every_task(tmp_path: Path) -> None:
    raw = write_pascal_dataset(tmp_path)
    adapter = build_adapter("pascal_context", tmp_path)
    assert isinstance(adapter, PascalContextAdapter)
    adapter.check_layout()
    sid = "2008_000000"  # kind "parts", 10×12
    src = raw.samples[sid]
    s = adapter.load("train", sid)
    assert set(s) == {"image", "semseg", "human_parts", "sal", "normals", "edge", "meta"}
    assert s["meta"] == {"id": sid, "size": (10, 12)}
    np.testing.assert_array_equal(s["semseg"], src["semseg"])  # VOC ids and the 255 void band pass through
    assert s["semseg"][2, 10] == 255
    np.testing.assert_array_equal(s["edge"], labelmap_edges(src["labelmap"]))
    assert s["edge"].sum() > 0

    parts = s["human_parts"]
    expected = np.zeros((10, 12), dtype=np.uint8)
    expected[5, :6] = 1  # head
    expected[6, :6] = 2  # torso
    expected[7, 0] = 3  # luarm
    expected[7, 1] = 4  # llarm
    expected[9, :6] = 6  # lfoot
    np.testing.assert_array_equal(parts, expected)  # the second person (no parts) stays background 0

    lm = src["labelmap"]
    valid = np.isin(lm, [WALL, TVMONITOR, PERSON, CAT])
    assert valid.sum() > 0 and (~valid).sum() > 0
    np.testing.assert_array_equal(np.abs(s["normals"]).sum(-1) > 0, valid)
    assert np.abs(s["normals"][valid] - src["normals"][valid]).max() <= 1 / 255 + 1e-7
    assert np.all(s["normals"][lm == SKY] == 0) and np.all(s["normals"][lm == UNKNOWN] == 0)

    # sal written as 128/255 or 127/255: > 0.5 gives exactly the 128 pixels (+ the 1.0 pixel).
    np.testing.assert_array_equal(s["sal"], (np.round(src["sal"] * 255) >= 128).astype(np.uint8))
    assert s["sal"][0, 0] == 1 and s["sal"][0, 1] == 0


def test_images_without_parts_are_all_ignore(tmp_path: Path) -> None:
    write_pascal_dataset(tmp_path)
    adapter = PascalContextAdapter(tmp_path)
    no_persons = adapter.load("train", "2008_000001")  # no PASCAL-Part file, cache []
    person_without_parts = adapter.load("train", "2008_000002")  # cache lists 15, but the person has no parts
    assert not adapter.has_parts("train", "2008_000001") and adapter.has_parts("train", "2008_000002")
    assert no_persons["human_parts"].shape == (12, 8) and np.all(no_persons["human_parts"] == 255)
    assert np.all(person_without_parts["human_parts"] == 255)
    assert adapter.parts_cache_computed == {"train": 0}


def test_parts_cache_missing_is_computed_in_memory(tmp_path: Path) -> None:
    write_pascal_dataset(tmp_path)
    shutil.rmtree(tmp_path / "ImageSets" / "Parts")
    adapter = PascalContextAdapter(tmp_path)
    assert [adapter.has_parts("train", i) for i in adapter.split_ids("train")] == [True, False, True]
    assert adapter.parts_cache_computed == {"train": 3}
    assert not (tmp_path / "ImageSets" / "Parts").exists()  # never written into the dataset folder
    objs = read_part_objects(tmp_path / "human_parts" / "2008_000000.mat")
    assert [(o.class_index, len(o.parts)) for o in objs] == [(15, 5), (15, 0), (8, 0)]
    assert [name for name, _ in objs[0].parts] == ["head", "torso", "luarm", "llarm", "lfoot"]


def test_semseg_fallback_folder(tmp_path: Path) -> None:
    raw = write_pascal_dataset(tmp_path)
    sid = "2008_000001"
    fallback = tmp_path / "semseg" / "pascal-context" / f"{sid}.png"
    fallback.parent.mkdir(parents=True)
    (tmp_path / "semseg" / "VOC12" / f"{sid}.png").rename(fallback)
    s = PascalContextAdapter(tmp_path).load("train", sid)
    np.testing.assert_array_equal(s["semseg"], raw.samples[sid]["semseg"])


def test_pascal_split_stats(tmp_path: Path) -> None:
    raw = write_pascal_dataset(tmp_path)
    adapter = PascalContextAdapter(tmp_path)
    stats = SplitStats("pascal_context")
    for sid in raw.splits["train"]:
        stats.update(adapter.load("train", sid))
    summary = stats.summary()
    assert summary["images"] == 3 and summary["images_with_parts"] == 1
    assert summary["sizes"] == {"10x12": 1, "12x8": 1, "9x11": 1}
    pixels = 120 + 96 + 99
    valid = sum(int(np.isin(raw.samples[i]["labelmap"], normals_valid_ids()).sum()) for i in raw.splits["train"])
    assert summary["normals_valid_fraction"] == pytest.approx(valid / pixels)
    sal_pos = sum(int((np.round(raw.samples[i]["sal"] * 255) >= 128).sum()) for i in raw.splits["train"])
    assert summary["sal_positive_ratio"] == pytest.approx(sal_pos / pixels)
    assert "depth_range_m" not in summary


def test_labelmap_kept_as_edge_labels_extra(tmp_path: Path) -> None:
    raw = write_pascal_dataset(tmp_path)
    adapter = PascalContextAdapter(tmp_path)
    assert adapter.val_extras == ("edge_labels",)
    decoded = adapter.decode("val", "2009_000000")
    assert set(decoded.extras) == {"edge_labels"} and "edge_labels" not in decoded.sample
    labels = decoded.extras["edge_labels"]
    assert labels.dtype == np.uint16
    np.testing.assert_array_equal(labels, raw.samples["2009_000000"]["labelmap"])
