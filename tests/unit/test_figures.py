"""Figures on tiny generated inputs: map colours, PNG sizes fixed by the layout, non-blank and deterministic
output, atomic writes and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mtcontrast.report.figures import (
    BACKGROUND_RGB,
    ablation_chart,
    class_palette,
    confusion_matrix_png,
    learning_curves,
    qualitative_panel,
    read_history,
    render_map,
    task_color,
    value_limits,
)

H, W = 24, 40
VOC = np.load(Path(__file__).resolve().parents[2] / "src/mtcontrast/data/db_info/pascal_map.npy")[:, :3]


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _has_colour(img: np.ndarray, rgb: tuple[int, int, int]) -> bool:
    return bool((img == np.array(rgb, dtype=np.uint8)).all(axis=-1).any())


# ---------------------------------------------------------------- map colours
def test_class_maps_use_the_voc_palette_with_ignore_black_and_class_zero_grey() -> None:
    out = render_map("semseg", np.array([[0, 1], [255, 15]], dtype=np.uint8))
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == list(BACKGROUND_RGB)
    assert out[0, 1].tolist() == VOC[1].tolist() == [128, 0, 0]
    assert out[1, 0].tolist() == [0, 0, 0]
    assert out[1, 1].tolist() == VOC[15].tolist()  # person keeps its VOC colour
    palette = class_palette()
    assert len({tuple(c) for c in palette[:41]}) == 41  # NYU-40 + background: all distinct
    assert tuple(palette[255]) == (0, 0, 0) and (0, 0, 0) not in {tuple(c) for c in palette[:60]}


def test_depth_normals_edges_render_with_invalid_black() -> None:
    depth = render_map("depth", np.array([[1.0, 3.0, 0.0, 2.0]], dtype=np.float32), vrange=(1.0, 3.0))
    assert depth[0, 0].tolist() == [68, 1, 84]  # viridis(0)
    assert depth[0, 1].tolist() == [253, 231, 37]  # viridis(1)
    assert depth[0, 2].tolist() == [0, 0, 0]
    assert depth[0, 3].tolist() == [33, 145, 140]  # viridis(0.5)
    normals = np.array([[[0, 0, 1], [0, 0, 2], [0, 0, 0], [-1, 0, 0]]], dtype=np.float32)
    assert render_map("normals", normals)[0].tolist() == [[128, 128, 255], [128, 128, 255], [0, 0, 0], [0, 128, 128]]
    assert render_map("normals", np.moveaxis(normals, -1, 0)).tolist() == render_map("normals", normals).tolist()
    edge = render_map("edge", np.array([[0, 1, 255]], dtype=np.uint8))
    assert edge[0, :, 0].tolist() == [0, 255, 0] and (edge[..., 0] == edge[..., 2]).all()
    assert render_map("sal", np.array([[0.5, 0.25]]))[0, :, 1].tolist() == [128, 64]


def test_render_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="argmax"):
        render_map("semseg", np.zeros((21, 4, 4), np.float32), what="pred")
    with pytest.raises(ValueError, match="integer class map"):
        render_map("human_parts", np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"H×W×3"):
        render_map("normals", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="no rendering for task 'flow'"):
        render_map("flow", np.zeros((4, 4)))
    assert task_color("semseg/miou") == task_color("train/loss_semseg_aux") == "#1f77b4"
    assert task_color("human_parts.miou") == "#9467bd" and task_color("delta_m") == "#7f7f7f"


# ---------------------------------------------------------------- learning curves
def _history(path: Path, contrast: bool, scale: float) -> Path:
    with path.open("w") as fh:
        for step in range(10, 110, 10):
            row = {
                "step": step,
                "train/loss": scale * 5 / step**0.3,
                "train/lr": 1e-3,
                "train/loss_semseg": scale * 2 / step**0.2,
                "train/loss_semseg_aux": 2.2 / step**0.2,
                "train/loss_depth": 1 / step**0.1,
            }
            if contrast:
                row["train/loss_contrast"] = 0.5 / step**0.1
            fh.write(json.dumps(row) + "\n")
    return path


def test_learning_curves_one_panel_per_component_and_deterministic(tmp_path: Path) -> None:
    paths = {
        "mtl": _history(tmp_path / "a.jsonl", False, 1.0),
        "mtl_contrast": _history(tmp_path / "b.jsonl", True, 1.2),
    }
    out = learning_curves(paths, tmp_path / "figs" / "curves.png")
    assert out == tmp_path / "figs" / "curves.png"
    img = _png(out)
    assert img.shape == (640, 1260, 3)  # total, semseg, depth, contrast → 3 columns × 2 rows of 4.2 × 3.2 in
    assert _has_colour(img, (31, 119, 180)) and _has_colour(img, (255, 127, 14))  # one line colour per variant
    bottom = img[-30:].astype(int)  # one legend for all panels, below them (inside a panel it covered the curves)
    for rgb in ((31, 119, 180), (255, 127, 14)):  # its line samples (anti-aliased: near the colour)
        assert (np.abs(bottom - rgb).sum(-1) < 30).any()
    assert img.std() > 10
    first = out.read_bytes()
    learning_curves(paths, out)
    assert out.read_bytes() == first
    assert sorted(p.name for p in out.parent.iterdir()) == ["curves.png"]  # no temp file left behind


def test_history_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "history.jsonl"
    bad.write_text('{"step": 1, "train/loss": 2.0}\n{oops\n')
    with pytest.raises(ValueError, match=r"history.jsonl:2: not a JSON object"):
        read_history(bad)
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        learning_curves({"x": tmp_path / "missing.jsonl"}, tmp_path / "c.png")
    (tmp_path / "lr.jsonl").write_text('{"step": 1, "train/lr": 0.1}\n')
    with pytest.raises(ValueError, match="no train/loss"):
        learning_curves({"x": tmp_path / "lr.jsonl"}, tmp_path / "c.png")
    assert read_history(tmp_path / "lr.jsonl")["train/lr"].tolist() == [0.1]


# ---------------------------------------------------------------- qualitative panel
def _sample(seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    sem = np.repeat(np.arange(W) // 5, H).reshape(W, H).T.astype(np.uint8)  # classes 0..7 in vertical bands
    sem[:3] = 255
    depth = rng.uniform(1, 5, (H, W)).astype(np.float32)
    depth[:2, :5] = 0
    normals = rng.normal(size=(H, W, 3)).astype(np.float32)
    edge = (rng.random((H, W)) < 0.1).astype(np.uint8)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    return image, {"semseg": sem, "depth": depth, "normals": normals, "edge": edge}


def test_qualitative_panel_rows_columns_and_colours(tmp_path: Path) -> None:
    (img_a, gt_a), (img_b, gt_b) = _sample(0), _sample(1)
    gts = {t: [gt_a[t], gt_b[t]] for t in gt_a}
    preds = {t: [gt_a[t], gt_b[t]] for t in gt_a} | {"edge": [gt_a["edge"] * 0.5, gt_b["edge"].astype(float)]}
    out = qualitative_panel([img_a, img_b], gts, preds, tmp_path / "panel.png", "nyudv2", ids=["a", "b"])
    img = _png(out)
    # 9 columns (input + GT/pred × 4 tasks) of 2 in; rows 2·0.6 + 0.35 in; legend (8 classes + ignore) 2 rows
    assert img.shape == (int(round(100 * (2 * (2 * 0.6 + 0.35) + 2 * 0.25))), 1800, 3)
    assert _has_colour(img, tuple(VOC[3])) and _has_colour(img, BACKGROUND_RGB)
    assert _has_colour(img, (68, 1, 84)) or _has_colour(img, (72, 35, 116))  # viridis low end in the depth maps


def test_qualitative_panel_single_row_and_bad_inputs(tmp_path: Path) -> None:
    image, gt = _sample(2)
    out = qualitative_panel(image, {"depth": gt["depth"]}, {"depth": gt["depth"] * 1.1}, tmp_path / "one.png", "nyudv2")
    assert _png(out).shape == (int(round(100 * (2 * 0.6 + 0.35 + 0.25))), 600, 3)
    with pytest.raises(ValueError, match="same tasks"):
        qualitative_panel(image, {"depth": gt["depth"]}, {"semseg": gt["semseg"]}, tmp_path / "x.png", "nyudv2")
    with pytest.raises(ValueError, match="crop the padding"):
        qualitative_panel(image, {"depth": gt["depth"]}, {"depth": np.ones((32, 64))}, tmp_path / "x.png", "nyudv2")
    with pytest.raises(ValueError, match=r"has 1 row\(s\), expected 2"):
        qualitative_panel(
            [image, image], {"edge": [gt["edge"]]}, {"edge": [gt["edge"]] * 2}, tmp_path / "x.png", "nyudv2"
        )
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------- confusion matrix
def test_confusion_matrix_png_size_and_absent_class_row(tmp_path: Path) -> None:
    conf = np.array([[8, 2, 0], [0, 0, 0], [1, 1, 8]])
    out = confusion_matrix_png(conf, ["a", "b", "c"], tmp_path / "conf.png", title="mtl semseg")
    img = _png(out)
    assert img.shape == (450, 550, 3)  # max(4.5, 0.26·3 + 2.6) in square + 1 in for the colourbar
    assert _has_colour(img, (0xDD, 0xDD, 0xDD))  # class b has no GT pixels: grey row
    assert _has_colour(img, (23, 100, 171))  # Blues(0.8): the 80 % diagonal cells of a and c (colour bar 0-100 %)
    with pytest.raises(ValueError, match="does not match 2 class names"):
        confusion_matrix_png(conf, ["a", "b"], tmp_path / "bad.png")


# ---------------------------------------------------------------- ablation chart
def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "setting": ["lambda=0.3", "lambda=1.0", "off"] * 2,
            "metric": ["semseg/miou"] * 3 + ["delta_m"] * 3,
            "mean": [40.1, 41.2, 39.5, 1.2, 2.0, -0.5],
            "std": [0.3, 0.5, np.nan, 0.4, 0.3, 0.1],
            "n": [3, 3, 1, 3, 3, 3],
        }
    )


def test_ablation_chart_bars_with_error_bars(tmp_path: Path) -> None:
    out = ablation_chart(_summary(), tmp_path / "ablation.png", "λ sweep")
    img = _png(out)
    assert img.shape == (360, 720, 3)  # 2 metrics side by side, each max(3.6, 0.6·3 + 1.4) × 3.6 in
    assert img.std() > 10 and (img < 100).all(axis=-1).sum() > 500  # dark Δm bars and text are drawn
    # the axis spans the data, not 0..max: 39.5 vs 41.2 mIoU are far apart on it; Δm axes keep their 0
    lo, hi = value_limits(np.array([39.5, 39.8, 40.7]), np.array([39.5, 40.4, 41.7]))
    assert 39.0 < lo < 39.5 and 41.7 < hi < 42.2
    assert value_limits(np.array([1.0, 2.0]), np.array([2.0, 3.0]), include_zero=True)[0] < 0.0
    assert value_limits(np.array([5.0]), np.array([5.0])) == pytest.approx((4.925, 5.075))  # one value: ±1.5 %
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['std'\]"):
        ablation_chart(_summary().drop(columns="std"), tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"\['off', 'delta_m'\] appears more than once"):
        ablation_chart(pd.concat([_summary(), _summary().iloc[[5]]]), tmp_path / "a.png")
