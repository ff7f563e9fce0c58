"""The study across data regimes: its plan from params.yaml, the paired effects on hand-made children with known
answers, the report's wording, and the schema's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtcontrast.config import ParamsError, load_params
from mtcontrast.study.plan import ChildResult
from mtcontrast.study.regimes import baseline_reference, plan_baselines, plan_study, regime_effects, study_markdown


def test_the_plan_expands_each_regime_over_its_own_seeds_and_arms(repo_root: Path) -> None:
    params = load_params(repo_root / "params.yaml")
    plans = plan_study(params, params.study)
    assert {r: len(p) for r, p in plans.items()} == {"full": 12, "quarter": 6, "half_labels": 9}
    full = plans["full"]
    assert sorted({p.seed for p in full}) == [0, 1, 2, 3, 4, 5]
    assert {p.setting for p in full} == {"contrast=off", "contrast=on"}
    quarter = plans["quarter"][0]
    assert quarter.params.data.partial.images == 0.25 and quarter.params.seeds == [quarter.seed]
    assert quarter.run_dir == Path("studies/study/quarter") / quarter.name / f"s{quarter.seed}"
    half = plans["half_labels"]
    # the host is trained once per seed, not once per value of require_target_label
    assert sorted({p.setting for p in half}) == [
        "contrast=off",
        "contrast=on, require_target_label=false",
        "contrast=on, require_target_label=true",
    ]
    strict = [p for p in half if p.overrides.get("loss.contrast.require_target_label") is True][0]
    assert strict.params.loss.contrast.require_target_label and strict.params.data.partial.fractions["edge"] == 0.5
    assert all(not p.params.loss.contrast.enabled for p in half if p.setting == "contrast=off")


def test_the_baselines_train_once_on_full_labels_and_baseline_seeds(repo_root: Path) -> None:
    params = load_params(repo_root / "params.yaml", ["data.partial.mode=one_per_image", "baseline_seeds=[0, 1]"])
    plans = plan_baselines(params, params.study)
    assert [(p.name, p.seed) for p in plans] == [
        (task, seed) for task in ("semseg", "depth", "normals", "edge") for seed in (0, 1)
    ]
    first = plans[0]
    assert first.run_dir == Path("studies/study/baselines/semseg/s0") and first.setting == "single-task"
    assert first.params.data.partial.mode == "none" and not first.params.data.partial.active  # full labels
    assert first.params.seeds == [0] and first.params.baseline_seeds == [0]
    off = load_params(repo_root / "params.yaml", ["study.baselines=false"])
    assert plan_baselines(off, off.study) == []


def test_a_bad_regime_override_fails_before_training_naming_the_regime(repo_root: Path) -> None:
    params = load_params(repo_root / "params.yaml", ["study.regimes.quarter.overrides={data.partial.images: 2}"])
    with pytest.raises(ParamsError, match=r"study\.regimes\.quarter.*data\.partial\.images"):
        plan_study(params, params.study)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("study.regimes.full.seeds=[0]", r"study\.regimes\.full\.seeds"),
        ("study.regimes.full.seeds=[1, 1]", r"distinct seeds"),
        ("study.regimes.full.grid={loss.contrast.weight: [1.0]}", r"loss\.contrast\.enabled: \[false, true\]"),
        ("study.regimes={'a b': {seeds: [0, 1]}}", r"regime names \['a b'\]"),
        ("study.regimes={baselines: {seeds: [0, 1]}}", r"may not be named 'baselines'"),
    ],
)
def test_bad_study_settings_are_refused_by_name(repo_root: Path, override: str, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        load_params(repo_root / "params.yaml", [override])


def _child(setting: str, seed: int, miou: float, on: bool = True) -> ChildResult:
    name = "contrast-on" if on else "contrast-off"
    return ChildResult(name, setting, {"loss.contrast.enabled": on}, {"semseg": {"miou": miou}}, seed=seed)


def test_each_arm_is_paired_with_the_host_of_its_seed(tmp_path: Path) -> None:
    hosts = [_child("contrast=off", s, 40.0 + s, on=False) for s in range(3)]
    # the arm beats its own seed's host by 0.4, 0.8, 1.2 mIoU: Δm vs host = 1, 2, 3 % of 40, 41, 42
    arm = [_child("contrast=on", s, 40.0 + s + 0.4 * (s + 1) * (40.0 + s) / 40.0) for s in range(3)]
    history = tmp_path / "history.jsonl"
    rows = [{"step": k, "train/contrast/d_ap": 0.5, "train/contrast/active_frac": 0.1 * k} for k in range(1, 11)]
    history.write_text("\n".join(json.dumps(r) for r in [{"step": 0}, *rows]))
    out = regime_effects([*hosts, *arm], {c.key: history for c in arm})
    a = out["arms"]["contrast=on"]
    assert a["seeds"] == [0, 1, 2]
    dm = a["effects"]["delta_m"]
    assert dm["diffs"] == pytest.approx([1.0, 2.0, 3.0])
    # mean 2, sd 1: half-width t(0.975, 2) / sqrt(3) = 4.3027 / 1.7321 = 2.4841
    assert dm["mean"] == pytest.approx(2.0) and a["half_width"] == pytest.approx(2.4841, abs=1e-4)
    assert a["verdict"] == "no detectable effect at this budget: Δm vs host +2.00 [−0.48, +4.48] (3 seeds)"
    assert a["effects"]["semseg.miou"]["diffs"] == pytest.approx([0.4, 0.82, 1.26])
    assert a["diagnostics"] == {"d_ap": pytest.approx(0.5), "active_frac": pytest.approx(0.95)}  # steps 9, 10
    assert out["host"] == {"semseg.miou": pytest.approx(41.0)} and out["host_seeds"] == [0, 1, 2]
    # an arm child without a host of its seed is left out, not paired with another seed's host
    alone = regime_effects([*hosts[:2], *arm])
    assert alone["arms"]["contrast=on"]["seeds"] == [0, 1]

    results = {"name": "regimes", "preamble": "P.", "tasks": ["semseg"], "regimes": {"full": out}}
    text = study_markdown(results)
    assert "| full | contrast=on | 3 | +2.00 [−0.48, +4.48] | 2.48 | +0.83 [−0.24, +1.89] |" in text
    assert "- **full**, contrast=on: no detectable effect at this budget" in text
    assert "| full | contrast=on | 0.95 | 0.5 |" in text


def test_each_run_gets_its_delta_m_vs_the_single_task_baselines() -> None:
    def single(task: str, seed: int, value: float) -> ChildResult:
        metric = "miou" if task == "semseg" else "rmse"
        return ChildResult(task, "single-task", {}, {task: {metric: value}}, seed=seed)

    # mean over the baseline seeds: semseg 40, depth 0.5
    reference = baseline_reference([single("semseg", 0, 39.0), single("semseg", 1, 41.0), single("depth", 0, 0.5)])
    assert reference == {"semseg": {"miou": 40.0}, "depth": {"rmse": 0.5}}

    def run(setting: str, seed: int, miou: float, rmse: float, on: bool) -> ChildResult:
        name = "contrast-on" if on else "contrast-off"
        metrics = {"semseg": {"miou": miou}, "depth": {"rmse": rmse}}
        return ChildResult(name, setting, {"loss.contrast.enabled": on}, metrics, seed=seed)

    # the host: semseg 0 %, −4 %, +4 % off its baseline, depth on it: Δm 0, −2, +2
    hosts = [run("contrast=off", s, 40.0 * (1 + d / 100), 0.5, False) for s, d in enumerate([0.0, -4.0, 4.0])]
    # the arm: semseg as the host, depth 10 % better than its baseline: Δm 5, 3, 7
    arms = [run("contrast=on", s, h.metrics["semseg"]["miou"], 0.45, True) for s, h in enumerate(hosts)]
    out = regime_effects([*hosts, *arms], reference=reference)
    host, arm = out["single_task"]["contrast=off"], out["single_task"]["contrast=on"]
    assert host["diffs"] == pytest.approx([0.0, -2.0, 2.0]) and host["seeds"] == [0, 1, 2]
    assert arm["diffs"] == pytest.approx([5.0, 3.0, 7.0]) and arm["mean"] == pytest.approx(5.0)
    # sd 2, t(0.975, 2) · 2 / √3 = 4.9682
    assert (arm["low"], arm["high"]) == (pytest.approx(5.0 - 4.9682, abs=1e-4), pytest.approx(5.0 + 4.9682, abs=1e-4))
    assert "single_task" not in regime_effects([*hosts, *arms])  # no baselines, no such section

    results = {
        "name": "s",
        "preamble": "P.",
        "tasks": ["semseg", "depth"],
        "regimes": {"half": out},
        "baselines": {"seeds": [0, 1], "metrics": reference},
    }
    text = study_markdown(results)
    assert "the mean over baseline seeds [0, 1])" in text
    assert "| half | host | 3 | +0.00 [−4.97, +4.97] |" in text
    assert "| half | host + regulariser (contrast=on) | 3 | +5.00 [+0.03, +9.97] |" in text


def test_the_report_names_only_the_regimes_that_ran(repo_root: Path, tmp_path: Path) -> None:
    from mtcontrast.study.regimes import write_study

    params = load_params(repo_root / "params.yaml", [f"study.out_dir={tmp_path}"])
    children = [_child("contrast=off", s, 40.0, on=False) for s in range(2)] + [
        _child("contrast=on", s, 40.4) for s in range(2)
    ]
    paths = write_study(params, {"full": children}, {})  # `--regime full`: quarter and half_labels did not run
    text = paths["markdown"].read_text()
    assert "full: seeds [0, 1, 2, 3, 4, 5]; single-task baselines: seeds [0], full labels." in text
    assert "quarter" not in text and "half_labels" not in text


def test_the_study_figure_has_one_row_per_regime_and_arm(tmp_path: Path) -> None:
    from mtcontrast.report.figures import study_plot
    from mtcontrast.study.regimes import effect_rows

    hosts = [_child("contrast=off", s, 40.0, on=False) for s in range(3)]
    arm = [_child("contrast=on", s, 40.0 + 0.4 * (s + 1)) for s in range(3)]
    effects = regime_effects([*hosts, *arm])
    rows = effect_rows({"regimes": {"full": effects, "quarter": effects}})
    assert [label for label, _ in rows] == ["full\ncontrast=on", "quarter\ncontrast=on"]
    out = study_plot(rows, tmp_path / "study.png", "Study")
    assert out is not None and out.stat().st_size > 10_000
    assert study_plot([], tmp_path / "none.png", "Study") is None and not (tmp_path / "none.png").exists()
