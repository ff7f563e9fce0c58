"""Floors (trivial predictors) and the results table: numbers on tiny prepared data and hand-made evaluations."""

from __future__ import annotations

import numpy as np
import pytest

from mtcontrast.config import load_params
from mtcontrast.data import PreparedSplit, prepare_dataset
from mtcontrast.report.floors import compute_floors
from mtcontrast.report.results import build_results, render_markdown
from mtcontrast.scenes import generate_scenes


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("floors")
    params = load_params(
        None,
        [
            f"scenes.out_dir={root}/raw",
            "scenes.image_size=[48, 64]",
            "scenes.train=6",
            "scenes.val=3",
            f"data.root={root}/raw/nyudv2",
            f"data.prepared_dir={root}/prep",
        ],
    )
    generate_scenes(params.scenes, progress=False)
    prepare_dataset(params.data, progress=False)
    return params


def test_floors_are_the_scores_of_constant_predictions(tiny_data) -> None:
    train, val = tiny_data.data.prepared_path("train"), tiny_data.data.prepared_path("val")
    floors = compute_floors(train, val)
    with PreparedSplit(train) as tr, PreparedSplit(val) as va:
        sem = np.concatenate([tr[i]["semseg"].ravel() for i in range(len(tr))])
        majority = np.bincount(sem[sem != 255], minlength=40).argmax()
        d_train = np.concatenate([tr[i]["depth"].ravel() for i in range(len(tr))])
        mean_depth = d_train[d_train > 0].astype(np.float64).mean()
        d_val = np.concatenate([va[i]["depth"].ravel() for i in range(len(va))])
        v_sem = np.concatenate([va[i]["semseg"].ravel() for i in range(len(va))])
    valid = d_val > 0
    rmse = np.sqrt(np.mean((d_val[valid] - np.float32(mean_depth)) ** 2))
    assert floors["depth"]["rmse"] == pytest.approx(rmse, rel=1e-5)
    labelled = v_sem != 255
    tp = np.sum(v_sem[labelled] == majority)
    iou = tp / (labelled.sum())  # the one predicted class: FP = all other labelled pixels, FN = 0
    assert floors["semseg"]["miou"] == pytest.approx(100 * iou / 40, rel=1e-6)
    assert floors["edge"]["odsf"] == 0.0
    assert 0 < floors["normals"]["mean"] < 90


def _ev(semseg: float, depth: float, normals: float, edge: float) -> dict:
    tasks = {"semseg": {"miou": semseg}, "depth": {"rmse": depth}, "normals": {"mean": normals}, "edge": {"odsf": edge}}
    return {"tasks": tasks}


def test_results_have_delta_m_contrast_minus_host_and_floor_checks() -> None:
    params = load_params(None)
    single = {t: {"tasks": {t: _ev(40, 0.5, 20, 70)["tasks"][t]}} for t in ("semseg", "depth", "normals", "edge")}
    evals = {**single, "mtl": _ev(44, 0.55, 20, 70), "mtl_contrast": _ev(44, 0.5, 18, 77)}
    floors = {"semseg": {"miou": 1.0}, "depth": {"rmse": 1.2}, "normals": {"mean": 45.0}, "edge": {"odsf": 0.0}}
    res = build_results(params, evals, floors)
    assert res["delta_m"]["mtl"] == pytest.approx(100 / 4 * (0.1 - 0.1 + 0 + 0))
    assert res["delta_m"]["mtl_contrast"] == pytest.approx(100 / 4 * (0.1 + 0 + 0.1 + 0.1))
    diff = res["contrast_minus_host"]["mtl_contrast-mtl"]
    assert diff["per_task"]["normals"]["mean"] == pytest.approx(-2.0)
    assert diff["delta_m_vs_host"] == pytest.approx(100 / 4 * (0 + 0.05 / 0.55 + 0.1 + 0.1), abs=1e-4)  # 4 decimals
    assert all(all(v.values()) for v in res["above_floor"].values())
    md = render_markdown(params, res)
    assert "| mtl_contrast | 44 | 0.5 | 18 | 77 | +7.50 |" in md
    assert "All variants beat the trivial floors" in md


def test_missing_single_task_baseline_is_a_clear_error() -> None:
    params = load_params(None)
    evals = {"mtl": _ev(44, 0.55, 20, 70), "semseg": {"tasks": {"semseg": {"miou": 40}}}}
    with pytest.raises(ValueError, match=r"needs single-task baselines for \['depth', 'normals', 'edge'\]"):
        build_results(params, evals, None)
