from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from raw_fixtures import UNIT_NORMALS, write_nyud_dataset

from mtcontrast.data.adapters import NyudMtAdapter, NyudV2Adapter, build_adapter
from mtcontrast.data.adapters.nyud import decode_nyu_semseg
from mtcontrast.data.checks import SplitStats, detect_nyud_variant, load_expectations
from mtcontrast.data.errors import DataError
from mtcontrast.data.layouts import encode_unit_png, write_nyud_sample, write_nyud_splits
from mtcontrast.data.prepared import decode_unit_png


def test_semseg_shift_and_png_normals_decoding_numbers() -> None:
    raw = np.array([[0, 1, 2], [39, 40, 17]], dtype=np.uint8)
    np.testing.assert_array_equal(decode_nyu_semseg(raw), [[255, 0, 1], [38, 39, 16]])
    np.testing.assert_allclose(
        decode_unit_png(np.array([0, 127, 128, 255], np.uint8)), [-1.0, -1 / 255, 1 / 255, 1.0], atol=1e-7
    )
    # Round trip through the writer's encoding is exact to ±1/255 per component.
    decoded = decode_unit_png(encode_unit_png(UNIT_NORMALS))
    assert np.abs(decoded - UNIT_NORMALS).max() <= 1 / 255 + 1e-7


def test_nyudv2_adapter_decodes_every_task(tmp_path: Path) -> None:
    raw = write_nyud_dataset(tmp_path, "nyudv2")
    adapter = build_adapter("nyudv2", tmp_path)
    assert isinstance(adapter, NyudV2Adapter)
    adapter.check_layout()
    assert adapter.split_ids("train") == ["0001", "0002", "0003"]
    s = adapter.load("train", "0002")
    src = raw.samples["0002"]
    assert set(s) == {"image", "semseg", "depth", "normals", "edge", "meta"}
    assert s["meta"] == {"id": "0002", "size": (6, 8)}
    np.testing.assert_array_equal(s["image"], src["image"])  # PNG: lossless
    assert s["semseg"].dtype == np.uint8 and s["semseg"][0, 0] == 0  # raw (0 + 1) % 41 = 1 → class 0
    assert s["semseg"][5, 0] == 255  # raw (40 + 1) % 41 = 0: unlabelled → ignore
    np.testing.assert_array_equal(s["semseg"], np.where(src["semseg"] == 0, 255, src["semseg"].astype(int) - 1))
    np.testing.assert_array_equal(s["depth"], src["depth"])
    assert s["depth"].dtype == np.float32 and (s["depth"] == 0).sum() == (src["depth"] == 0).sum() == 9
    assert s["normals"].dtype == np.float32 and np.abs(s["normals"] - src["normals"]).max() <= 1 / 255 + 1e-7
    np.testing.assert_array_equal(s["edge"], src["edge"])
    assert s["edge"].sum() == 6 + 8 - 1


def test_nyud_mt_adapter_keeps_npy_values_and_zero_normals(tmp_path: Path) -> None:
    raw = write_nyud_dataset(tmp_path, "nyud_mt")
    adapter = build_adapter("nyud_mt", tmp_path)
    assert isinstance(adapter, NyudMtAdapter)
    adapter.check_layout()
    s = adapter.load("train", "0001")
    src = raw.samples["0001"]
    np.testing.assert_array_equal(s["normals"], src["normals"])
    assert np.all(s["normals"][0, 0] == 0)  # the NPY package's invalid marker survives
    np.testing.assert_array_equal(s["edge"], src["edge"])
    np.testing.assert_array_equal(s["depth"], src["depth"])
    assert s["image"].shape == (6, 8, 3) and s["image"].dtype == np.uint8
    # JPEG is lossy (chroma subsampling on this tiny colourful image): per-channel means survive.
    np.testing.assert_allclose(s["image"].mean(axis=(0, 1)), src["image"].mean(axis=(0, 1)), atol=3)


def test_variant_detection_and_wrong_variant_message(tmp_path: Path) -> None:
    write_nyud_dataset(tmp_path / "v2", "nyudv2")
    write_nyud_dataset(tmp_path / "mt", "nyud_mt", manifest=False)
    assert detect_nyud_variant(tmp_path / "v2", "0001") == "nyudv2"
    assert detect_nyud_variant(tmp_path / "mt", "0001") == "nyud_mt"
    with pytest.raises(DataError, match=r"folder is the 'nyud_mt' NYUD package .* set data.dataset=nyud_mt"):
        NyudV2Adapter(tmp_path / "mt").check_layout()
    with pytest.raises(DataError, match="cannot tell the NYUD package"):
        detect_nyud_variant(tmp_path / "v2", "9999")


def test_expectations_protocol_and_manifest(tmp_path: Path) -> None:
    write_nyud_dataset(tmp_path / "v2", "nyudv2", size=(6, 8))
    exp = load_expectations(tmp_path / "v2", "nyudv2")
    assert exp.counts == {"train": 3, "val": 2} and exp.image_size == (6, 8) and exp.max_side is None
    proto = load_expectations(tmp_path, "nyud_mt")
    assert proto.counts == {"train": 795, "val": 654} and proto.image_size == (480, 640)
    assert proto.source == "protocol"
    assert load_expectations(tmp_path, "pascal_context").max_side == 500


def test_protocol_size_is_enforced_without_manifest(tmp_path: Path) -> None:
    """A real-sized NYUDv2 sample (425×560) passes with --limit; a 6×8 one is refused by the protocol size."""
    rng = np.random.default_rng(0)
    h, w = 425, 560
    write_nyud_sample(
        tmp_path,
        "nyudv2",
        "0001",
        image=rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
        semseg=np.ones((h, w), np.uint8),
        depth=np.ones((h, w), np.float32),
        normals=np.tile(UNIT_NORMALS[0], (h, w, 1)),
        edge=np.zeros((h, w), np.uint8),
    )
    write_nyud_splits(tmp_path, {"train": ["0001"], "val": ["0001"]})
    from mtcontrast.data.checks import check_image_size

    adapter = NyudV2Adapter(tmp_path)
    exp = adapter.expectations()
    check_image_size(adapter.image_path("0001"), adapter.image_size("0001"), exp)
    with pytest.raises(DataError, match=r"image is 480×640; expected 425×560 \(protocol\)"):
        check_image_size(adapter.image_path("0001"), (480, 640), exp)


def test_split_stats_numbers(tmp_path: Path) -> None:
    raw = write_nyud_dataset(tmp_path, "nyudv2", train=2, val=1)
    adapter = NyudV2Adapter(tmp_path)
    stats = SplitStats("nyudv2")
    for sid in raw.splits["train"]:
        decoded = adapter.decode("train", sid)
        stats.update(decoded.sample, decoded.raw_stats)
    summary = stats.summary()
    depths = np.stack([raw.samples[i]["depth"] for i in raw.splits["train"]])
    assert summary["images"] == 2 and summary["sizes"] == {"6x8": 2}
    assert summary["depth_zero_fraction"] == pytest.approx((depths == 0).mean())
    assert summary["depth_range_m"] == pytest.approx([depths[depths > 0].min(), depths[depths > 0].max()])
    assert summary["edge_positive_ratio"] == pytest.approx(13 / 48)
    assert summary["normals_valid_fraction"] == 1.0 and summary["normals_png_grey_fraction"] == 0.0
    assert summary["normals_norm_mean"] == pytest.approx(1.0, abs=5e-3)
    assert summary["edge_nonbinary_fraction"] == 0.0
    assert summary["semseg_classes_present"] == 40  # 0..40 cycle over 2 × 48 pixels covers every class


def test_bad_manifest_and_folder_mixups(tmp_path: Path) -> None:
    (tmp_path / "scenes_manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="cannot parse scenes manifest"):
        load_expectations(tmp_path, "nyudv2")
    (tmp_path / "scenes_manifest.json").write_text('{"layout": "nyudv2", "counts": {"train": -1, "val": 2}}')
    with pytest.raises(DataError, match=r"'counts' = .*expected non-negative integers"):
        load_expectations(tmp_path, "nyudv2")
    (tmp_path / "scenes_manifest.json").write_text('{"layout": "pascal_context"}')
    with pytest.raises(DataError, match="holds the 'pascal_context' layout but data.dataset='nyudv2'"):
        load_expectations(tmp_path, "nyudv2")
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(DataError, match="looks like a PASCAL-Context folder"):
        NyudV2Adapter(tmp_path).check_layout()
    with pytest.raises(DataError, match="dataset root not found"):
        NyudV2Adapter(tmp_path / "missing")


def test_manifest_max_side_without_image_size(tmp_path: Path) -> None:
    manifest = '{"counts": {"train": 4, "val": 2}, "image_size": null, "max_side": 160}'
    (tmp_path / "scenes_manifest.json").write_text(manifest)
    exp = load_expectations(tmp_path, "pascal_context")
    assert (exp.counts, exp.image_size, exp.max_side) == ({"train": 4, "val": 2}, None, 160)
    exp = load_expectations(tmp_path, "nyudv2")  # no fixed size stated: the bound applies to NYUD layouts too
    assert (exp.image_size, exp.max_side) == (None, 160)
