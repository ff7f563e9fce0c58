"""Study library (``mtcontrast.study``): grid expansion and validation, child params and folders, the summary over
seeds."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from mtcontrast.config import Params, ParamsError, load_params
from mtcontrast.config.ablation import AblationParams
from mtcontrast.study import (
    DELTA_M_COLUMN,
    AblationChildError,
    ChildResult,
    child_table,
    expand_grid,
    parse_grid,
    plan_ablation,
    short_keys,
    spawn_child,
    summarize,
    summary_markdown,
    write_child_dir,
    write_summary,
)

GRID = {"loss.contrast.enabled": [False, True], "loss.contrast.weight": [0.3, 1.0]}
TWO_SEEDS = Params(seeds=[0, 1])


def test_grid_product_collapses_the_host_setting_and_names_children() -> None:
    children = expand_grid(Params(), GRID)
    assert [name for name, _ in children] == ["contrast-off", "contrast-on_weight-0.3", "contrast-on_weight-1.0"]
    assert children[0][1] == {"loss.contrast.enabled": False}
    assert children[1][1] == {"loss.contrast.enabled": True, "loss.contrast.weight": 0.3}
    assert expand_grid(Params(), {}) == [("base", {})]


def test_short_keys_are_unique_suffixes() -> None:
    keys = ["data.limit", "eval.limit", "loss.contrast.margin", "seed"]
    assert short_keys(keys) == {
        "data.limit": "data.limit",
        "eval.limit": "eval.limit",
        "loss.contrast.margin": "margin",
        "seed": "seed",
    }


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        ({"loss.contrast.wieght": [0.3]}, "unknown key 'loss.contrast.wieght'; allowed keys here: enabled, kind,"),
        (
            {"loss.contrast.kind": ["triplet", "cosine"]},
            "(kind=cosine): loss.contrast.kind = 'cosine' is not allowed; allowed values: 'triplet', 'infonce' or",
        ),
        ({"loss.contrast.margin": [-1.0]}, "loss.contrast.margin = -1.0: Input should be greater than or equal to 0"),
        ({"train.runs_dir": ["a"]}, "key 'train.runs_dir' is set by the flow itself"),
        ({"variants.mtl.contrast": [True]}, "key 'variants.mtl.contrast' is set by the flow itself"),
        ({"loss.contrast.margin": []}, "margin = []: expected a non-empty list of values"),
        ({"loss.contrast.margin": 3}, "margin = 3: expected a non-empty list of values"),
        ({"seed": [0, 1]}, "seeds come from `seeds` (the one home of seeds), e.g. -S 'seeds=[0, 1, 2]'"),
        ({"seeds": [[0, 1]]}, "key 'seeds' is set by the flow itself"),
    ],
)
def test_bad_grid_fails_before_training_naming_the_key(grid: dict, expected: str) -> None:
    with pytest.raises(ParamsError) as info:
        expand_grid(Params(), grid)
    assert expected in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_plan_gives_each_child_its_own_folder_variant_and_values() -> None:
    cfg = AblationParams(name="lam", grid=GRID, runs_dir=Path("/tmp/abl"))
    plans = plan_ablation(TWO_SEEDS, cfg)  # the grid × seeds, as dvc.yaml's matrix: variant × seed
    assert [(p.name, p.seed) for p in plans] == [
        (name, seed) for name in ("contrast-off", "contrast-on_weight-0.3", "contrast-on_weight-1.0") for seed in (0, 1)
    ]
    off, on = plans[1], plans[4]
    assert off.run_dir == Path("/tmp/abl/lam/contrast-off/s1") and off.setting == "contrast=off"
    assert on.setting == "contrast=on, weight=1.0"
    assert list(off.params.variants) == ["contrast-off"]
    assert off.params.variants["contrast-off"].contrast is False
    assert on.params.variants["contrast-on_weight-1.0"].contrast is True
    assert (off.params.seed, on.params.seed, on.params.loss.contrast.weight) == (1, 0, 1.0)
    assert on.params.train.runs_dir == Path("/tmp/abl/lam")
    # without the switch in the grid the ablated variant decides (mtl_contrast: on; mtl: off)
    only_lambda = plan_ablation(Params(), AblationParams(grid={"loss.contrast.weight": [0.1]}))
    assert only_lambda[0].params.variants["weight-0.1"].contrast is True
    host = plan_ablation(Params(seeds=[4], baseline_seeds=[4]), AblationParams(variant="mtl", grid={}))
    assert host[0].name == "base" and host[0].setting == "base" and not host[0].params.variants["base"].contrast
    assert host[0].params.seeds == [4] and host[0].run_dir == Path("studies/default/base/s4")
    with pytest.raises(ParamsError, match=r"ablation.variant = 'nope': not a key of `variants` or `baselines` \(sem"):
        plan_ablation(Params(), AblationParams(variant="nope"))


def test_ablation_section_validation() -> None:
    with pytest.raises(ValueError, match=r"ablation\.name \['a/b'\]: use letters"):
        AblationParams(name="a/b")
    with pytest.raises(ValueError, match="ablation.grid.train.lr: expected a non-empty list"):
        AblationParams(grid={"train.lr": []})
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        AblationParams(max_parallel=0)


def test_parse_grid_reads_yaml_lists() -> None:
    assert parse_grid(["loss.contrast.weight=[0.1, 0.3, 1]", "seed=7", "loss.contrast.kind=[triplet, supcon]"]) == {
        "loss.contrast.weight": [0.1, 0.3, 1],
        "seed": [7],
        "loss.contrast.kind": ["triplet", "supcon"],
    }
    assert parse_grid([]) is None
    with pytest.raises(ParamsError, match="expected KEY.SUB=VALUE"):
        parse_grid(["seed"])


def test_child_folder_holds_params_that_load_back(tmp_path: Path) -> None:
    cfg = AblationParams(name="g", grid={"loss.contrast.depth_tau": [[0.05, 0.2]]}, runs_dir=tmp_path)
    (plan,) = plan_ablation(Params(seeds=[3], baseline_seeds=[3]), cfg)
    assert plan.name == "depth_tau-0.05,0.2" and plan.seed == 3
    run_dir = write_child_dir(plan, "g")
    assert run_dir == tmp_path / "g" / plan.name / "s3"
    assert load_params(run_dir / "params.yaml") == plan.params
    assert load_params(run_dir / "params.yaml").loss.contrast.depth_tau == (0.05, 0.2)


# ------------------------------------------------------------------------------------------------ summary
def _nyud(semseg: float, depth: float, normals: float, edge: float) -> dict[str, dict[str, float]]:
    return {
        "semseg": {"miou": semseg, "pixel_acc": 0.9},
        "depth": {"rmse": depth, "abs_rel": 0.2},
        "normals": {"mean": normals, "median": 20.0},
        "edge": {"odsf": edge},
    }


def _children() -> list[ChildResult]:
    def child(name: str, enabled: bool, seed: int, metrics: dict) -> ChildResult:
        overrides: dict = {"loss.contrast.enabled": enabled}
        if enabled:
            overrides["loss.contrast.weight"] = 0.3
        setting = "contrast=on, weight=0.3" if enabled else "contrast=off"
        return ChildResult(name, setting, overrides, metrics, seed=seed)

    return [
        child("off0", False, 0, _nyud(0.40, 0.80, 30.0, 0.50)),
        child("off1", False, 1, _nyud(0.42, 0.78, 29.0, 0.52)),
        child("on0", True, 0, _nyud(0.44, 0.76, 28.0, 0.51)),
        child("on1", True, 1, _nyud(0.46, 0.74, 28.0, 0.53)),
    ]


def test_child_table_pairs_each_seed_with_its_host() -> None:
    table = child_table(_children()).set_index(["child", "metric"])["value"]
    # on0 vs off0: (+10% miou, +5% rmse, +6.67% mErr, +2% odsF) / 4
    assert table["on0", DELTA_M_COLUMN] == pytest.approx(5.916667, abs=1e-6)
    assert table["on1", DELTA_M_COLUMN] == pytest.approx(5.005842, abs=1e-6)
    assert table["off1", DELTA_M_COLUMN] == 0.0
    untrained = _children()
    untrained[1].metrics["semseg"]["miou"] = 0.0
    assert math.isnan(child_table(untrained).set_index(["child", "metric"])["value"]["on1", DELTA_M_COLUMN])
    assert table["on1", "depth/rmse"] == 0.74
    assert sorted({m for _, m in table.index}) == [
        "delta_m_vs_host",
        "depth/rmse",
        "edge/odsf",
        "normals/mean",
        "semseg/miou",
    ]


def test_summarize_gives_mean_and_sample_std_over_seeds() -> None:
    df = summarize(_children())
    assert list(df.columns) == ["setting", "metric", "mean", "std", "n"]
    assert len(df) == 10 and set(df["n"]) == {2}
    row = df.set_index(["setting", "metric"])
    on = "contrast=on, weight=0.3"
    assert row.loc[(on, DELTA_M_COLUMN), "mean"] == pytest.approx(5.461254, abs=1e-6)
    assert row.loc[(on, DELTA_M_COLUMN), "std"] == pytest.approx(0.644050, abs=1e-6)
    assert row.loc[(on, "semseg/miou"), "mean"] == pytest.approx(0.45)
    assert row.loc[(on, "semseg/miou"), "std"] == pytest.approx(0.0141421, abs=1e-6)
    assert row.loc[("contrast=off", "normals/mean"), "mean"] == pytest.approx(29.5)
    assert list(dict.fromkeys(df["setting"])) == ["contrast=off", on]


def test_summary_without_the_switch_has_no_delta_m_and_one_seed_has_nan_std() -> None:
    children = [ChildResult("w1", "weight=1.0", {"loss.contrast.weight": 1.0}, _nyud(0.4, 0.8, 30.0, 0.5))]
    df = summarize(children)
    assert DELTA_M_COLUMN not in set(df["metric"]) and len(df) == 4
    assert df["n"].tolist() == [1, 1, 1, 1] and df["std"].isna().all()
    md = summary_markdown(df)
    assert "| weight=1.0 | 1 | 0.4 | 0.8 | 30 | 0.5 |" in md
    assert summarize([]).empty and "No finished children." in summary_markdown(summarize([]))
    tie = children + [ChildResult("w2", "weight=2.0", {"loss.contrast.weight": 2.0}, _nyud(0.4, 0.7, 30.0, 0.6))]
    assert "| weight=2.0 | 1 | 0.4 | **0.7** | 30 | **0.6** |" in summary_markdown(summarize(tie))


def test_summary_markdown_marks_the_best_setting_per_column() -> None:
    md = summary_markdown(summarize(_children()), "Ablation lam")
    lines = md.splitlines()
    assert lines[0] == "# Ablation lam"
    assert lines[2] == (
        "| setting | n | semseg/miou ↑ | depth/rmse ↓ | normals/mean ↓ | edge/odsf ↑ | Δm vs host (%) ↑ |"
    )
    assert lines[4] == "| contrast=off | 2 | 0.41 ± 0.014 | 0.79 ± 0.014 | 29.5 ± 0.71 | 0.51 ± 0.014 | 0 ± 0 |"
    assert lines[5] == (
        "| contrast=on, weight=0.3 | 2 | **0.45 ± 0.014** | **0.75 ± 0.014** | **28 ± 0** | "
        "**0.52 ± 0.014** | **5.461 ± 0.64** |"
    )


def test_write_summary_writes_parquet_markdown_and_chart(tmp_path: Path) -> None:
    paths = write_summary(_children(), tmp_path / "out", "Ablation lam", failed=["on2"])
    assert set(paths) == {"summary", "children", "markdown", "chart"}
    summary = pd.read_parquet(paths["summary"])
    assert len(summary) == 10 and math.isclose(summary["mean"].iloc[0], 0.41)
    assert len(pd.read_parquet(paths["children"])) == 20
    markdown = paths["markdown"].read_text()
    assert markdown.startswith("# Ablation lam\n")
    assert markdown.endswith("**Failed children (not in the table):** on2\n")
    with Image.open(paths["chart"]) as png:
        assert png.size[0] > 300 and png.size[1] > 200


def test_a_failing_child_process_reports_its_log_tail(tmp_path: Path) -> None:
    run_dir = tmp_path / "weight-0.5" / "s0"
    run_dir.mkdir(parents=True)
    (run_dir / "params.yaml").write_text("seeds: [0]\n")  # no child.json: the child process must fail
    with pytest.raises(AblationChildError) as info:
        spawn_child(run_dir, None, threads=1, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    message = str(info.value)
    assert message.startswith(f"ablation child weight-0.5/s0 failed (exit code 1); {run_dir / 'child.log'} ends:\n")
    assert "FileNotFoundError" in message and "child.json" in message
    assert not (run_dir / "child_result.json").exists()
