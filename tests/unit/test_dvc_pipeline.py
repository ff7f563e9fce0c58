"""The pipeline as DVC sees it, checked with real DVC in temporary git repos (no training: fast).

- the matrix: every (variant, seed) of ``run_items`` is one ``recipe@`` / ``train@`` / ``evaluate@<v>-<s>`` stage
  writing ``runs/<v>/s<s>/``, the single-task baselines on ``baseline_seeds`` only, as ``recipe_baseline@`` /
  ``train_baseline@`` / ``evaluate_baseline@<b>-<s>`` (``dvc stage list``);
- granularity: ``train@<v>-<s>`` depends on ``runs/<v>/s<s>/recipe.json`` only, so ``-S loss.contrast.weight=…``
  makes the ``train@mtl_contrast-<s>`` stages alone stale, an ``eval`` key makes no train stage stale and a new seed
  makes only its own compared runs stale, a new baseline seed only its baselines (``dvc status``);
- params.yaml is in the form DVC's ``-S`` rewrite writes back: one changed value is a one-line diff;
- ``dvc metrics show`` leads with the headline rows and fits in 120 columns;
- ``dvc plots show`` renders the training history into a local page with the data and no remote script.
The slow tier (tests/slow/test_first_experiment.py) runs the same through real trainings.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mtcontrast.config import all_variants, load_params, run_items, stage_name, variant_recipe
from mtcontrast.engine.trainer import write_history_table
from mtcontrast.report.plots import write_plots_template
from mtcontrast.report.results import build_results, write_report

DVC = [sys.executable, "-m", "dvc"]


def _dvc(repo: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run([*DVC, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"dvc {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture()
def repo(repo_root: Path, tmp_path: Path) -> Path:
    """The working tree's pipeline files (dvc.yaml, params.yaml, .dvc/config, stages/) in a fresh git + DVC repo;
    the stages run the installed package (src/ is linked in for the code dependencies)."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(repo_root / name, root / name)
    shutil.copytree(repo_root / "stages", root / "stages")
    (root / "src").symlink_to(repo_root / "src")
    _git(root, "init", "-q")
    _dvc(root, "init", "-q")
    shutil.copy(repo_root / ".dvc" / "config", root / ".dvc" / "config")
    return root


def _set(repo: Path, override: str) -> None:
    """What ``dvc exp run -S`` does to params.yaml before it runs anything."""
    from dvc.utils.hydra import apply_overrides

    apply_overrides(str(repo / "params.yaml"), [override])


def _stale(repo: Path) -> set[str]:
    return set(json.loads(_dvc(repo, "status", "--json")))


def _matrix_stages(repo: Path) -> dict[str, str]:
    """``{stage: its outputs}`` of the matrix stages (the ones with an item after ``@``) of ``dvc stage list``."""
    listed = dict(line.split(maxsplit=1) for line in _dvc(repo, "stage", "list").splitlines())
    return {stage: outs for stage, outs in listed.items() if "@" in stage}


def test_dvc_matrix_expands_variant_by_seed_into_stages_and_run_folders(repo: Path) -> None:
    params = load_params(repo / "params.yaml")
    assert params.seeds == [0, 1, 2] and params.baseline_seeds == [0]
    assert list(params.baselines) == ["semseg", "depth", "normals", "edge"]
    assert list(params.variants) == ["mtl", "mtl_contrast"]
    items = run_items(params)  # the baselines on seed 0 only, the compared variants on every seed: 4 + 2 × 3 runs
    assert items == [(b, 0) for b in params.baselines] + [(v, s) for v in params.variants for s in (0, 1, 2)]
    listed = _matrix_stages(repo)
    assert set(listed) == {
        stage_name(stage, v, s, params.baselines) for v, s in items for stage in ("recipe", "train", "evaluate")
    }
    assert len(listed) == 3 * 10
    assert "runs/mtl_contrast/s2/recipe.json" in listed["recipe@mtl_contrast-2"]
    assert "runs/depth/s0/checkpoint.pt" in listed["train_baseline@depth-0"]
    assert "runs/semseg/s0/eval/metrics.json" in listed["evaluate_baseline@semseg-0"]
    assert "runs/mtl/s0/eval/metrics.json" in listed["evaluate@mtl-0"]
    assert not any(stage.startswith(("train@depth", "train_baseline@depth-1")) for stage in listed)
    assert params.train.run_paths("mtl_contrast", 2).recipe == Path("runs/mtl_contrast/s2/recipe.json")

    _set(repo, "baseline_seeds=[0, 2]")  # the baselines' own matrix follows `baseline_seeds`, the rest `seeds`
    wider = _matrix_stages(repo)
    assert set(wider) - set(listed) == {
        f"{g}_baseline@{b}-2" for g in ("recipe", "train", "evaluate") for b in params.baselines
    }
    assert set(listed) <= set(wider)


def test_a_recipe_holds_only_what_can_change_its_variant(repo_root: Path) -> None:
    base = load_params(repo_root / "params.yaml")
    variants = list(all_variants(base))

    def changed(*overrides: str) -> set[str]:
        edited = load_params(repo_root / "params.yaml", list(overrides))
        return {v for v in variants if variant_recipe(edited, v) != variant_recipe(base, v)}

    assert changed("loss.contrast.weight=0.3") == {"mtl_contrast"}
    assert changed("loss.contrast.kind=infonce", "loss.contrast.anchors_per_image=64") == {"mtl_contrast"}
    assert changed("loss.weights.depth=3.0") == {"depth", "mtl", "mtl_contrast"}
    assert changed("loss.weights.sal=3.0") == set()  # not a task of NYUD
    assert changed("eval.batch_size=1", "eval.edge_threshold_step=1", "train.threads=2", "train.log_every=5") == set()
    assert changed("train.lr=0.01") == set(variants)
    assert changed("model.host=padnet") == {"mtl", "mtl_contrast"}  # the baselines keep their own host
    assert changed("baselines.depth.host=padnet") == {"depth"} and changed("variants.mtl.host=padnet") == {"mtl"}
    assert changed("baseline_seeds=[0, 1]") == set()  # which seeds the baselines train on changes no run
    # the ablation's and the study's grids and regimes plan other runs; editing them retrains none of these
    assert changed("ablation.grid={loss.contrast.weight: [0.1]}", "study.baselines=false") == set()
    assert changed("study.regimes.full.seeds=[0, 1, 2, 3, 4, 5, 6, 7]") == set()
    assert variant_recipe(base, "semseg")["loss"]["contrast"] == {"enabled": False}
    # a run's recipe holds its own seed only: the seed list can grow without changing any existing run
    assert variant_recipe(base, "mtl", 1)["seeds"] == [1]
    grown = load_params(repo_root / "params.yaml", ["seeds=[0, 1, 2, 3]"])
    assert all(variant_recipe(grown, v, s) == variant_recipe(base, v, s) for v in variants for s in base.seeds)
    assert variant_recipe(base, "mtl", 1) != variant_recipe(base, "mtl", 2)


def test_contrast_weight_makes_only_the_regularised_train_stage_stale(repo: Path) -> None:
    _set(repo, "seeds=[0, 1]")  # two seeds show the pairing; each recipe@ is a process (~1 s)
    params = load_params(repo / "params.yaml")
    train_h5 = params.data.prepared_path("train")
    (repo / train_h5).parent.mkdir(parents=True)
    (repo / train_h5).write_bytes(b"stand-in for the prepared split")  # train@ hashes it; nothing reads it here
    _dvc(repo, "repro", "--single-item", "--glob", "recipe*@*")
    items = run_items(params)
    assert len(items) == 4 + 2 * 2  # the baselines on seed 0 only
    for v, seed in items:  # stand-ins for the trained outputs, recorded in dvc.lock as if train@v-s had run
        run = repo / params.train.run_paths(v, seed).dir
        for name in ("checkpoint.pt", "train_summary.json", "history.csv"):
            (run / name).write_text(f"{v} {seed} {name}")
    _dvc(repo, "commit", "--force", *(stage_name("train", v, s, params.baselines) for v, s in items))
    runs = ("recipe", "train")  # recipe@ / recipe_baseline@ / train@ / train_baseline@ stages
    assert not {s for s in _stale(repo) if s.startswith(runs)}

    _set(repo, "eval.edge_threshold_step=1")  # an eval key: no recipe changes, no train stage is stale
    _dvc(repo, "repro", "--single-item", "--glob", "recipe*@*")
    assert not {s for s in _stale(repo) if s.startswith(runs)}

    _set(repo, "loss.contrast.weight=0.3")
    recipes = {stage_name("recipe", v, s, params.baselines) for v, s in items}
    assert {s for s in _stale(repo) if s.startswith("recipe")} == recipes
    _dvc(repo, "repro", "--single-item", "--glob", "recipe*@*")  # cheap: what `dvc exp run` does first
    stale = {s for s in _stale(repo) if s.startswith(runs)}
    assert stale == {f"train@mtl_contrast-{s}" for s in params.seeds}

    _set(repo, "baselines.depth.host=padnet")  # a baseline's own params entry: its recipe alone is stale
    assert {s for s in _stale(repo) if s.startswith("recipe")} == {"recipe_baseline@depth-0"}
    _set(repo, "baselines.depth.host=mtl_baseline")

    _set(repo, "seeds=[0, 1, 2]")  # a new seed: the compared variants' runs of it, no baseline, nothing already trained
    _dvc(repo, "repro", "--single-item", "--glob", "recipe*@*")
    new = {s for s in _stale(repo) if s.startswith(runs)} - stale
    assert new == {f"train@{v}-2" for v in params.variants}

    _set(repo, "baseline_seeds=[0, 2]")  # a new baseline seed: the baselines' runs of it only
    _dvc(repo, "repro", "--single-item", "--glob", "recipe*@*")
    newer = {s for s in _stale(repo) if s.startswith(runs)} - stale - new
    assert newer == {f"train_baseline@{b}-2" for b in params.baselines}


def test_dvc_params_rewrite_changes_one_line(repo_root: Path, tmp_path: Path) -> None:
    before = (repo_root / "params.yaml").read_text()
    for override, line in [
        ("loss.contrast.weight=0.3", "    weight: 0.3"),
        ("data.limit=5", "  limit: 5"),
        ("loss.weights.depth=2.0", "    depth: 2.0"),
    ]:
        path = tmp_path / "params.yaml"
        path.write_text(before)
        _set(tmp_path, override)
        after = path.read_text()
        diff = [d for d in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0) if d[:1] in "+-"]
        added = [d for d in diff if d.startswith("+") and not d.startswith("+++")]
        removed = [d for d in diff if d.startswith("-") and not d.startswith("---")]
        assert len(added) == len(removed) == 1, f"{override}: DVC rewrote more than one line:\n" + "\n".join(diff)
        assert added[0][1:].startswith(line), added
    assert yaml.safe_load(before) == load_params(repo_root / "params.yaml").model_dump(mode="json")


def _evals() -> dict[str, dict]:
    def ev(semseg: float, depth: float, normals: float, edge: float) -> dict:
        return {
            "semseg": {"miou": semseg},
            "depth": {"rmse": depth},
            "normals": {"mean": normals},
            "edge": {"odsf": edge},
        }

    full = ev(4.44561234, 0.90112345, 27.0912345, 66.5812345)
    single = {t: {"tasks": {t: ev(5.81123, 0.888712, 27.851234, 73.212345)[t]}} for t in full}
    return {**single, "mtl": {"tasks": full}, "mtl_contrast": {"tasks": ev(4.3441234, 0.8775123, 26.991234, 67.9212)}}


def test_metrics_show_leads_with_headline_rows_in_120_columns(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = load_params(repo / "params.yaml")
    by_seed = {seed: _evals() for seed in params.seeds}  # seeds 1 and 2: mtl_contrast's mIoU ± 0.3, same mean
    by_seed[1]["mtl_contrast"]["tasks"]["semseg"]["miou"] += 0.3
    by_seed[2]["mtl_contrast"]["tasks"]["semseg"]["miou"] -= 0.3
    for seed in (1, 2):  # the baselines are trained on seed 0 only
        by_seed[seed] = {v: ev for v, ev in by_seed[seed].items() if v in params.variants}
    evals = by_seed[0]
    for seed, seed_evals in by_seed.items():
        for v, ev in seed_evals.items():
            path = repo / params.train.run_paths(v, seed).metrics
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(ev))
    floors = {"semseg": {"miou": 1.003}, "depth": {"rmse": 1.0811}, "normals": {"mean": 52.27}, "edge": {"odsf": 0.0}}
    (repo / "reports").mkdir()
    (repo / "reports" / "floors.json").write_text(json.dumps(floors))
    monkeypatch.chdir(repo)  # run paths in params.yaml are relative to the project root
    results = write_report(params, Path("reports"), floors_path=Path("reports/floors.json"))
    assert results.pop("convergence") == {}  # read from training histories; these runs have none
    assert results == build_results(params, by_seed, floors)

    shown = _dvc(repo, "metrics", "show")
    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 120, shown
    assert lines[0].split() == ["Path", "delta_m", "depth.rmse", "edge.odsf", "normals.mean", "semseg.miou"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    means = [*evals, "mtl_contrast-mtl"]  # every row as the mean over seeds and as each seed: seeds add rows only
    compared = [*params.variants, "mtl_contrast-mtl"]
    expected = {"floor", *means, *(f"{r}.s{seed}" for r in compared for seed in params.seeds)}
    expected |= {f"{b}.s0" for b in params.baselines}  # a baseline's rows: its own seed only
    assert set(rows) == {f"reports/headline/{r}.json" for r in expected}
    dm, vs_host = results["delta_m"]["mtl_contrast"], results["contrast_minus_host"]["mtl_contrast-mtl"]
    assert rows["reports/headline/mtl_contrast.json"] == [f"{dm:g}", "0.87751", "67.9212", "26.99123", "4.34412"]
    assert rows["reports/headline/mtl_contrast-mtl.json"] == [
        f"{vs_host['delta_m_vs_host']:g}",
        "-0.02361",
        "1.33997",
        "-0.1",
        "-0.10149",  # with − without, same host
    ]
    assert rows["reports/headline/floor.json"] == ["-", "1.0811", "0.0", "52.27", "1.003"]
    assert rows["reports/headline/semseg.json"] == ["-", "-", "-", "-", "5.81123"]
    assert rows["reports/headline/mtl_contrast.s1.json"][-1] == "4.64412"  # each seed's own metrics
    assert rows["reports/headline/mtl_contrast-mtl.s2.json"][-1] == "-0.40149"
    assert rows["reports/headline/semseg.s0.json"] == ["-", "-", "-", "-", "5.81123"]
    detail = json.loads(
        _dvc(repo, "metrics", "show", "--json", "reports/metrics.json", "runs/mtl/s0/eval/metrics.json")
    )
    files = next(iter(detail.values()))["data"]
    assert files["reports/metrics.json"]["data"]["delta_m"] == results["delta_m"]  # the detail stays one command away
    assert files["runs/mtl/s0/eval/metrics.json"]["data"] == evals["mtl"]


def test_history_table_is_the_jsonl_as_csv(tmp_path: Path) -> None:
    jsonl = tmp_path / "history.jsonl"
    jsonl.write_text('{"step": 2, "train/loss": 1.5, "train/lr": 0.1}\n{"step": 4, "train/loss": 1.25, "train/x": 3}\n')
    table = write_history_table(jsonl, tmp_path / "history.csv")
    assert table is not None
    assert table.read_text() == "step,train/loss,train/lr,train/x\n2,1.5,0.1,\n4,1.25,,3\n"
    assert write_history_table(tmp_path / "none.jsonl", tmp_path / "none.csv") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "history.jsonl"]  # no temp left


def test_plots_show_renders_the_loss_curves_offline(repo: Path) -> None:
    params = load_params(repo / "params.yaml", ["seeds=[0]"])
    (repo / "params.yaml").write_text(
        (repo / "params.yaml").read_text().replace("seeds:\n- 0\n- 1\n- 2\n", "seeds:\n- 0\n")
    )
    for i, v in enumerate(all_variants(params)):
        run = repo / params.train.run_paths(v, 0).dir
        run.mkdir(parents=True)
        steps = [{"step": s, "train/loss": round(3.0 / s + i, 4), "train/lr": 0.001} for s in (10, 20, 30)]
        (run / "history.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))
        write_history_table(run / "history.jsonl", run / "history.csv")
    write_plots_template(repo / "reports" / "plots_template.html")

    out = _dvc(repo, "plots", "show", "-o", "plots_out")
    page = repo / "plots_out" / "index.html"
    assert out.strip().endswith("plots_out/index.html") and page.stat().st_size > 500_000  # the libraries inlined
    html = page.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", html)  # nothing loaded from the web (DVC's default: 3 CDN scripts)
    assert "cdn.jsdelivr" not in html and "vegaEmbed(" in html
    specs = re.findall(r"var spec = (\{.*?\});\n\s*vegaEmbed", html, re.S)
    assert len(specs) == len(all_variants(params)) == 6
    for spec in map(json.loads, specs):
        values = spec["data"]["values"]
        assert [float(p["train/loss"]) for p in values] and {int(p["step"]) for p in values} == {10, 20, 30}
    assert any(float(p["train/loss"]) == 0.3 + 5 for s in map(json.loads, specs) for p in s["data"]["values"])


def test_prepare_reads_every_data_key_but_the_training_time_label_mask(repo_root: Path) -> None:
    """`data.partial` drops labels while training (docs/partial-labels.md), so changing it must not re-run `prepare`;
    every other `data` key shapes the prepared files and must."""
    from mtcontrast.config.data import DataParams

    stage = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]["prepare"]
    assert sorted(stage["params"]) == sorted(f"data.{k}" for k in DataParams.model_fields if k != "partial")
