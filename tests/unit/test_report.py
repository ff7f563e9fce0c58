"""Floors (trivial predictors) and the results table: numbers on tiny prepared data and hand-made evaluations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtcontrast.config import load_params
from mtcontrast.data import PreparedSplit, prepare_dataset
from mtcontrast.report.figures import forest_plot
from mtcontrast.report.floors import compute_floors
from mtcontrast.report.results import build_results, render_markdown, write_report
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


def test_one_seed_results_have_delta_m_contrast_minus_host_floor_checks_and_say_no_interval() -> None:
    params = load_params(None, ["seeds=[0]"])
    single = {t: {"tasks": {t: _ev(40, 0.5, 20, 70)["tasks"][t]}} for t in ("semseg", "depth", "normals", "edge")}
    evals = {0: {**single, "mtl": _ev(44, 0.55, 20, 70), "mtl_contrast": _ev(44, 0.5, 18, 77)}}
    floors = {"semseg": {"miou": 1.0}, "depth": {"rmse": 1.2}, "normals": {"mean": 45.0}, "edge": {"odsf": 0.0}}
    res = build_results(params, evals, floors)
    assert res["delta_m"]["mtl"] == pytest.approx(100 / 4 * (0.1 - 0.1 + 0 + 0))
    assert res["delta_m"]["mtl_contrast"] == pytest.approx(100 / 4 * (0.1 + 0 + 0.1 + 0.1))
    diff = res["contrast_minus_host"]["mtl_contrast-mtl"]
    assert diff["per_task"]["normals"]["mean"] == pytest.approx(-2.0)
    assert diff["delta_m_vs_host"] == pytest.approx(100 / 4 * (0 + 0.05 / 0.55 + 0.1 + 0.1), abs=1e-4)  # 4 decimals
    assert diff["effects"]["delta_m"]["low"] is None and diff["effects"]["delta_m"]["n"] == 1
    assert diff["verdict"].startswith("one seed only, no interval")
    assert all(all(v.values()) for v in res["above_floor"].values())
    md = render_markdown(params, res)
    assert "| mtl_contrast | 44 | 0.5 | 18 | 77 | +7.50 |" in md
    assert "**One seed (0): no confidence interval exists**" in md
    assert "All variants beat the trivial floors" in md


def test_missing_single_task_baseline_is_a_clear_error() -> None:
    params = load_params(None, ["seeds=[0]"])
    evals = {0: {"mtl": _ev(44, 0.55, 20, 70), "semseg": {"tasks": {"semseg": {"miou": 40}}}}}
    with pytest.raises(ValueError, match=r"\(seed 0\) needs single-task baselines for \['depth', 'normals', 'edge'\]"):
        build_results(params, evals, None)


T_975_2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom


def _three_seeds() -> dict[int, dict[str, dict]]:
    """Hand-made evaluations of 3 seeds; the baselines differ per seed, so Δm must pair each run with its own."""
    out = {}
    for k, seed in enumerate((0, 1, 2)):
        base = _ev(40 + 2 * k, 0.5, 20, 70)
        single = {t: {"tasks": {t: base["tasks"][t]}} for t in base["tasks"]}
        host = _ev(40 + 2 * k, 0.5, 20 + k, 70)
        reg = _ev(40 + 2 * k + (1, 2, 1)[k], 0.5, 20 + k, 70)
        out[seed] = {**single, "mtl": host, "mtl_contrast": reg}
    return out


def test_three_seeds_give_means_t_intervals_paired_deltas_and_a_verdict() -> None:
    params = load_params(None, ["baseline_seeds=[0, 1, 2]"])
    evals = _three_seeds()
    res = build_results(params, evals, None)
    semseg = res["intervals"]["semseg"]["semseg"]  # 40, 42, 44: mean 42, sd 2
    assert semseg["mean"] == pytest.approx(42.0)
    assert (semseg["low"], semseg["high"]) == pytest.approx((42 - T_975_2 * 2 / 3**0.5, 42 + T_975_2 * 2 / 3**0.5))
    # Δm of mtl per seed against that seed's baselines: only normals differs, by k / 20 (lower is better)
    assert res["runs"]["mtl"]["1"]["delta_m"] == pytest.approx(-100 / 4 * (1 / 20))
    assert res["delta_m"]["mtl"] == pytest.approx(-100 / 4 * (0 + 1 / 20 + 2 / 20) / 3, abs=1e-4)
    effect = res["contrast_minus_host"]["mtl_contrast-mtl"]["effects"]["semseg.miou"]
    assert effect["diffs"] == [1.0, 2.0, 1.0]
    half = T_975_2 * (1 / 3) ** 0.5 / 3**0.5  # sd of (1, 2, 1) = sqrt(1/3)
    assert (effect["mean"], effect["low"], effect["high"]) == pytest.approx((4 / 3, 4 / 3 - half, 4 / 3 + half))
    assert effect["verdict"].startswith("no detectable effect at this budget: semseg mIoU +1.33 [−0.10, +2.77]")
    dm = res["contrast_minus_host"]["mtl_contrast-mtl"]["effects"]["delta_m"]
    assert dm["diffs"] == pytest.approx([100 / 4 * d / (40 + 2 * k) for k, d in enumerate((1, 2, 1))], abs=1e-4)
    md = render_markdown(params, res)
    assert "| semseg | 42 ± 5 | – | – | – | baseline |" in md  # half-width 4.97
    assert "| seed 1 | +2 | +0 | +0 | +0 | +1.19 |" in md
    assert "Δm: per seed against that seed's single-task baselines, then mean ± 95 % t interval." in md
    assert res["delta_m_against"] == {"0": [0], "1": [1], "2": [2]}
    assert "**Verdict: no detectable effect at this budget: Δm vs host" in md
    evals[2]["mtl_contrast"]["tasks"]["edge"]["odsf"] = math.nan  # a diverged run: no interval, no claim, no crash
    broken = build_results(params, evals, None)["contrast_minus_host"]["mtl_contrast-mtl"]["effects"]["edge.odsf"]
    assert broken["low"] is None and broken["verdict"] == "no interval: edge odsF is not finite for some seed; no claim"
    assert "edge odsF is not finite" in render_markdown(params, build_results(params, evals, None))


def _without_baselines(evals: dict[int, dict[str, dict]], seeds: tuple[int, ...]) -> dict[int, dict[str, dict]]:
    """``evals`` with the single-task baselines of ``seeds`` removed (they were not trained on those seeds)."""
    return {
        s: {v: e for v, e in by.items() if s not in seeds or v in ("mtl", "mtl_contrast")} for s, by in evals.items()
    }


def test_seeds_without_baselines_take_delta_m_against_seed_0s_and_say_so() -> None:
    params = load_params(None)  # baseline_seeds: [0]
    res = build_results(params, _without_baselines(_three_seeds(), (1, 2)), None)
    # seed k: mtl has semseg 40 + 2k, normals 20 + k; seed 0's baselines: semseg 40, normals 20 (own ones: 40 + 2k)
    for k in (1, 2):
        assert res["runs"]["mtl"][str(k)]["delta_m"] == pytest.approx(100 / 4 * (2 * k / 40 - k / 20))  # 0, not < 0
        reg = 40 + 2 * k + (1, 2, 1)[k]
        assert res["runs"]["mtl_contrast"][str(k)]["delta_m"] == pytest.approx(100 / 4 * ((reg - 40) / 40 - k / 20))
    assert res["delta_m_against"] == {"0": [0], "1": [0], "2": [0]}
    assert res["baseline_seeds"] == [0] and list(res["runs"]["semseg"]) == ["0"]
    semseg = res["intervals"]["semseg"]["semseg"]
    assert (semseg["mean"], semseg["low"], semseg["n"]) == (40.0, None, 1)  # one seed: the mean alone
    assert res["contrast_minus_host"]["mtl_contrast-mtl"]["effects"]["semseg.miou"]["diffs"] == [1.0, 2.0, 1.0]
    md = render_markdown(params, res)
    assert (
        "Δm: against the single-task baselines of seed 0 (trained on seed 0 only), so its interval holds the "
        "multi-task runs' seed noise, not the baselines'." in md
    )
    assert "Baseline rows: seed 0 only (one run each, so no interval)." in md
    assert "| semseg | 40 | – | – | – | baseline |" in md
    assert "per seed against that seed's" not in md


def test_a_seed_without_baselines_takes_their_mean_over_baseline_seeds() -> None:
    params = load_params(None, ["baseline_seeds=[0, 1]"])
    res = build_results(params, _without_baselines(_three_seeds(), (2,)), None)
    assert res["delta_m_against"] == {"0": [0], "1": [1], "2": [0, 1]}
    assert res["runs"]["mtl"]["1"]["delta_m"] == pytest.approx(-100 / 4 * (1 / 20))  # its own seed's baselines
    # seed 2: semseg 44 against the mean 41 of seeds 0 and 1, normals 22 against 20
    assert res["runs"]["mtl"]["2"]["delta_m"] == pytest.approx(100 / 4 * (3 / 41 - 2 / 20), abs=1e-4)
    md = render_markdown(params, res)
    assert (
        "Δm: against that seed's single-task baselines for seeds 0, 1, and for seed 2 against their mean over seeds "
        "0, 1 (the seeds they were trained on), so its interval holds the baselines' seed noise only in part." in md
    )
    assert "Baseline rows: mean ± interval over seeds 0, 1 only." in md
    with pytest.raises(ValueError, match=r"variant 'mtl' has no evaluation for seeds \[2\]"):
        build_results(
            params, {s: {v: e for v, e in by.items() if (s, v) != (2, "mtl")} for s, by in _three_seeds().items()}, None
        )


def _per_image(values: dict[str, list[float]]) -> pd.DataFrame:
    column = {"semseg": "miou", "depth": "rmse", "normals": "mean", "edge": "f"}
    rows = [{"task": t, "id": f"img{i}", column[t]: v} for t, vs in values.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_report_on_hand_made_run_folders_with_bootstrap_headline_per_seed_and_forest_plot(tmp_path: Path) -> None:
    params = load_params(None, [f"train.runs_dir={tmp_path}/runs"])
    evals = _three_seeds()
    rng = np.random.default_rng(0)
    for seed, by_variant in evals.items():
        host_images = {t: list(rng.uniform(10, 60, 8)) for t in ("semseg", "depth", "normals", "edge")}
        for variant, ev in by_variant.items():
            paths = params.train.run_paths(variant, seed)
            paths.eval_dir.mkdir(parents=True)
            paths.metrics.write_text(json.dumps(ev))
            shift = 1.0 if variant == "mtl_contrast" else 0.0  # semseg: +1 on every image of every seed
            images = {t: [v + (shift if t == "semseg" else 0.0) for v in vs] for t, vs in host_images.items()}
            _per_image({t: images[t] for t in ev["tasks"]}).to_parquet(paths.per_image)
    results = write_report(params, tmp_path / "reports")
    effects = results["contrast_minus_host"]["mtl_contrast-mtl"]["effects"]
    assert effects["semseg.miou"]["bootstrap"] == pytest.approx([1.0, 1.0])  # every resample: +1 per image
    assert effects["depth.rmse"]["bootstrap"] == pytest.approx([0.0, 0.0])
    low, high = effects["delta_m"]["bootstrap"]
    assert 0 < low <= high  # only semseg moved, upward
    headline = sorted(p.name for p in (tmp_path / "reports" / "headline").iterdir())
    assert "mtl.s2.json" in headline and "mtl_contrast-mtl.s0.json" in headline and "mtl_contrast-mtl.json" in headline
    # baselines: mean + seed 0 (their folders of seeds 1, 2 are not read); mtl, mtl_contrast and the pair: mean + 3 seeds
    assert len(headline) == 4 * 2 + 2 * 4 + 4 and "semseg.s0.json" in headline and "semseg.s1.json" not in headline
    assert results["delta_m_against"] == {"0": [0], "1": [0], "2": [0]}
    row = json.loads((tmp_path / "reports" / "headline" / "mtl_contrast-mtl.s1.json").read_text())
    assert row["semseg"]["miou"] == pytest.approx(2.0) and set(row) == {"semseg", "depth", "normals", "edge", "delta_m"}
    stored = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    assert (
        stored["contrast_minus_host"]["mtl_contrast-mtl"]["verdict"]
        == results["contrast_minus_host"]["mtl_contrast-mtl"]["verdict"]
    )
    png = forest_plot(stored, tmp_path / "figures" / "forest.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (1000, int(round((0.95 * 5 + 1.3) * 100)))  # one row per task metric and Δm
    assert forest_plot({"contrast_minus_host": {}}, tmp_path / "none.png") is None
