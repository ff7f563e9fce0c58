"""``score``, ``build_meter``, state merges, per-image records, prediction files, ``score_folder`` and Δm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mtcontrast.data.errors import DataError
from mtcontrast.data.layouts import encode_unit_png
from mtcontrast.metrics import (
    ConfusionMeter,
    DepthMeter,
    Meter,
    NormalsMeter,
    SaliencyMeter,
    build_meter,
    delta_m,
    evaluate_samples,
    read_prediction,
    score,
    score_folder,
)


def _random_images(task: str, n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        h, w = rng.integers(5, 9), rng.integers(5, 9)
        if task == "seg":
            gt = rng.integers(0, 4, (h, w)).astype(np.uint8)
            gt[rng.random((h, w)) < 0.2] = 255
            out.append((rng.integers(0, 4, (h, w)), gt))
        elif task == "depth":
            gt = rng.uniform(0.5, 5, (h, w)).astype(np.float32)
            gt[rng.random((h, w)) < 0.2] = 0
            out.append((rng.uniform(0, 5, (h, w)).astype(np.float32), gt))
        elif task == "normals":
            gt = rng.normal(size=(h, w, 3)).astype(np.float32)
            gt /= np.linalg.norm(gt, axis=-1, keepdims=True)
            gt[rng.random((h, w)) < 0.2] = 0
            out.append((rng.normal(size=(h, w, 3)).astype(np.float32), gt))
        else:
            out.append((rng.random((h, w)), (rng.random((h, w)) < 0.4).astype(np.uint8)))
    return out


METERS: dict[str, tuple[Any, str]] = {
    "confusion": (lambda: ConfusionMeter(4), "seg"),
    "depth": (DepthMeter, "depth"),
    "normals": (NormalsMeter, "normals"),
    "sal_atrc": (lambda: SaliencyMeter("atrc"), "sal"),
    "sal_invpt": (lambda: SaliencyMeter("invpt"), "sal"),
    "sal_mtinet": (lambda: SaliencyMeter("mtinet"), "sal"),
}


@pytest.mark.parametrize("name", list(METERS))
def test_merge_of_two_halves_equals_one_pass(name: str) -> None:
    make, kind = METERS[name]
    images = _random_images(kind, 6)
    whole: Meter = make()
    for i, (pred, gt) in enumerate(images):
        whole.update(pred, gt, id=f"im{i}")
    halves = []
    for part in (range(0, 3), range(3, 6)):
        meter = make()
        for i in part:
            meter.update(*images[i], id=f"im{i}")
        halves.append(meter.state())
    merged = type(whole).from_states(halves, **whole.config())
    assert merged.compute() == pytest.approx(whole.compute())
    assert [r["id"] for r in merged.records()] == [f"im{i}" for i in range(6)]
    merged_state = merged.state()
    for key, value in whole.state().items():
        if value.dtype.kind == "f":  # float sums may differ in the last bit with the summation order
            np.testing.assert_allclose(merged_state[key], value, rtol=1e-12, err_msg=key)
        else:
            np.testing.assert_array_equal(merged_state[key], value, err_msg=key)


def test_merge_rejects_a_differently_configured_state() -> None:
    with pytest.raises(ValueError, match="'confusion' has shape"):
        ConfusionMeter(3).merge(ConfusionMeter(4).state())
    with pytest.raises(ValueError, match="state keys"):
        SaliencyMeter("atrc").merge(SaliencyMeter("mtinet").state())


def test_from_states_builds_the_merged_meter() -> None:
    a, b = ConfusionMeter(3), ConfusionMeter(3)
    a.update(np.array([[0, 1]]), np.array([[0, 1]], np.uint8))
    b.update(np.array([[2, 2]]), np.array([[2, 1]], np.uint8))
    merged = ConfusionMeter.from_states([a.state(), b.state()], num_classes=3)
    assert len(merged) == 2
    assert merged.compute()["miou"] == pytest.approx(100 * (1 + 1 / 2 + 1 / 2) / 3)


def test_build_meter_configures_from_the_dataset() -> None:
    assert build_meter("semseg", "nyudv2").num_classes == 40  # type: ignore[attr-defined]
    assert build_meter("semseg", "pascal_context").num_classes == 21  # type: ignore[attr-defined]
    assert build_meter("human_parts", "pascal_context").num_classes == 7  # type: ignore[attr-defined]
    assert build_meter("edge", "nyudv2").max_dist == 0.011  # type: ignore[attr-defined]
    edge = build_meter("edge", "pascal_context", "plain")
    assert edge.max_dist == 0.0075 and not edge.nms and len(edge.thresholds) == 99  # type: ignore[attr-defined]
    assert len(build_meter("edge", "nyudv2").thresholds) == 101  # type: ignore[attr-defined]
    assert build_meter("sal", "pascal_context").protocol == "invpt"  # type: ignore[attr-defined]
    assert build_meter("sal", "pascal_context", {"sal": "atrc"}).protocol == "atrc"  # type: ignore[attr-defined]
    assert build_meter("sal", "pascal_context", "mtinet").protocol == "mtinet"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not a task of dataset 'nyudv2'"):
        build_meter("sal", "nyudv2")
    with pytest.raises(ValueError, match="protocol 'foo' unknown"):
        build_meter("sal", "pascal_context", "foo")
    with pytest.raises(ValueError, match="no protocol variants"):
        build_meter("depth", "nyudv2", {"depth": "plain"})


def test_score_uses_all_dataset_classes() -> None:
    pred = np.array([[0, 1, 1], [1, 0, 0]])
    gt = np.array([[0, 0, 1], [1, 255, 2]], np.uint8)
    # IoU 1/3, 2/3, 0 and 37 absent NYU classes at 0
    assert score("semseg", [pred], [gt], dataset="nyudv2")["miou"] == pytest.approx(100 / 40)
    with pytest.raises(ValueError, match="2 predictions but 1 ground-truth"):
        score("semseg", [pred, pred], [gt], dataset="nyudv2")


def test_delta_m_signs_and_value() -> None:
    baselines = {"semseg": {"miou": 40.0}, "depth": {"rmse": 0.6}, "edge": {"odsf": 70.0}}
    better = {"semseg": {"miou": 50.0}, "depth": {"rmse": 0.5}}
    # (100/2)·((50 − 40)/40 − (0.5 − 0.6)/0.6)
    assert delta_m(better, baselines) == pytest.approx(50 * (0.25 + 1 / 6))
    worse = {"semseg": {"miou": 30.0}, "depth": {"rmse": 0.9}}
    assert delta_m(worse, baselines) == pytest.approx(50 * (-0.25 - 0.5))
    assert delta_m({"edge": {"odsf": 77.0}}, baselines) == pytest.approx(10.0)  # odsF: higher is better
    assert delta_m({"sal": {"miou": 60.0}}, {"sal": {"miou": 50.0}}, metrics={"sal": "miou"}) == pytest.approx(20)
    with pytest.raises(ValueError, match="no baseline for task 'normals'"):
        delta_m({"normals": {"mean": 20.0}}, baselines)


def _write_pred(root: Path, task: str, image_id: str, array: np.ndarray, fmt: str) -> None:
    (root / task).mkdir(parents=True, exist_ok=True)
    if fmt == "npy":
        np.save(root / task / f"{image_id}.npy", array)
    else:
        Image.fromarray(array).save(root / task / f"{image_id}.png")


def test_read_prediction_formats(tmp_path: Path) -> None:
    _write_pred(tmp_path, "semseg", "a", np.array([[3, 7]], np.uint8), "png")
    np.testing.assert_array_equal(read_prediction("semseg", tmp_path, "a"), [[3, 7]])
    _write_pred(tmp_path, "edge", "a", np.array([[0, 51, 255]], np.uint8), "png")
    np.testing.assert_allclose(read_prediction("edge", tmp_path, "a"), [[0, 0.2, 1]], atol=1e-7)
    _write_pred(tmp_path, "normals", "a", np.array([[[0, 128, 255]]], np.uint8), "png")
    np.testing.assert_allclose(read_prediction("normals", tmp_path, "a"), [[[-1, 1 / 255, 1]]], atol=1e-6)
    _write_pred(tmp_path, "depth", "a", np.array([[1.5, 2.25]], np.float32), "npy")
    np.testing.assert_array_equal(read_prediction("depth", tmp_path, "a"), [[1.5, 2.25]])
    with pytest.raises(DataError, match=r"missing prediction for id 'b': expected b\.png or b\.npy"):
        read_prediction("sal", tmp_path, "b")


def _nyud_samples() -> list[dict[str, Any]]:
    rng = np.random.default_rng(1)
    samples = []
    for i, (h, w) in enumerate([(64, 80), (60, 84)]):  # diagonal > 91 px: NYUD maxDist exceeds 1 px
        normals = rng.normal(size=(h, w, 3)).astype(np.float32)
        normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
        edge = np.zeros((h, w), np.uint8)
        edge[h // 2, 5:-5] = 1
        samples.append(
            {
                "image": np.zeros((h, w, 3), np.uint8),
                "semseg": rng.integers(0, 40, (h, w)).astype(np.uint8),
                "depth": rng.uniform(0.5, 8, (h, w)).astype(np.float32),
                "normals": normals,
                "edge": edge,
                "meta": {"id": f"{i + 1:04d}", "size": (h, w)},
            }
        )
    return samples


def _export(samples: list[dict[str, Any]], root: Path) -> dict[str, list[np.ndarray]]:
    """Predictions exported in the protocol formats; returns what a reader decodes from them."""
    rng = np.random.default_rng(2)
    decoded: dict[str, list[np.ndarray]] = {t: [] for t in ("semseg", "depth", "normals", "edge")}
    for s in samples:
        h, w = s["meta"]["size"]
        seg = np.where(rng.random((h, w)) < 0.7, s["semseg"], 0).astype(np.uint8)
        depth = (s["depth"] + rng.normal(0, 0.3, (h, w))).astype(np.float32)
        normals = encode_unit_png(s["normals"] + rng.normal(0, 0.2, (h, w, 3)))
        edge = (np.roll(s["edge"], 1, 0) * 200 + 20).astype(np.uint8)
        _write_pred(root, "semseg", s["meta"]["id"], seg, "png")
        _write_pred(root, "depth", s["meta"]["id"], depth, "npy")
        _write_pred(root, "normals", s["meta"]["id"], normals, "png")
        _write_pred(root, "edge", s["meta"]["id"], edge, "png")
        decoded["semseg"].append(seg)
        decoded["depth"].append(depth)
        decoded["normals"].append(normals.astype(np.float32) * 2 / 255 - 1)
        decoded["edge"].append(edge / 255.0)
    return decoded


def test_evaluate_samples_equals_score_on_decoded_arrays(tmp_path: Path) -> None:
    samples = _nyud_samples()
    decoded = _export(samples, tmp_path)
    meters = evaluate_samples(samples, tmp_path, ["semseg", "depth", "normals", "edge"], "nyudv2")
    for task, preds in decoded.items():
        expected = score(task, preds, [s[task] for s in samples], dataset="nyudv2")
        assert meters[task].compute() == pytest.approx(expected), task
    assert meters["edge"].compute()["odsf"] > 90.0  # the 1-px shifted line matches at NYUD maxDist
    assert [r["id"] for r in meters["depth"].records()] == ["0001", "0002"]


def test_evaluate_samples_rejects_a_wrongly_sized_prediction(tmp_path: Path) -> None:
    samples = _nyud_samples()[:1]
    _write_pred(tmp_path, "depth", "0001", np.ones((10, 10), np.float32), "npy")
    with pytest.raises(DataError, match="prediction for '0001' is 10×10, expected the native size 64×80"):
        evaluate_samples(samples, tmp_path, ["depth"], "nyudv2")


def test_score_folder_reads_a_prepared_split(tmp_path: Path) -> None:
    from mtcontrast.data.prepared import PreparedSplit, PreparedWriter
    from mtcontrast.tasks import NYU40_CLASSES

    samples = _nyud_samples()
    tasks = ("semseg", "depth", "normals", "edge")
    h5 = tmp_path / "val.h5"
    writer = PreparedWriter(
        h5,
        count=len(samples),
        max_size=(64, 84),
        tasks=tasks,
        compression="none",
        attrs={
            "dataset": "nyudv2",
            "split": "val",
            "class_names": json.dumps({"semseg": list(NYU40_CLASSES)}),
            "check_summary": json.dumps({}),
        },
    )
    for i, sample in enumerate(samples):
        writer.write(i, sample)
    writer.finish({})
    decoded = _export(samples, tmp_path / "pred")
    with PreparedSplit(h5) as split:  # what the writer stored is what we score against
        stored = [split[i] for i in range(len(split))]
    result = score_folder(h5, tmp_path / "pred", tasks=["semseg", "depth", "edge"])
    assert set(result) == {"semseg", "depth", "edge"}
    for task in result:
        expected = score(task, decoded[task], [s[task] for s in stored], dataset="nyudv2")
        assert result[task] == pytest.approx(expected), task
    assert set(score_folder(h5, tmp_path / "pred")) == set(tasks)  # default: every task with a folder
    with pytest.raises(DataError, match="prediction folder not found"):
        score_folder(h5, tmp_path / "nowhere")
