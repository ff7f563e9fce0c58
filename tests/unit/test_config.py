import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from mtcontrast.cli import COMMANDS, build_parser, main
from mtcontrast.config import Params, ParamsError, Section, flatten, load_params, parse_overrides, profile_overrides
from mtcontrast.tasks import DATASETS

PROFILES = sorted((Path(__file__).parents[2] / "profiles").glob("*.yaml"))


def _missing_keys(model: type[Section], tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Schema keys that the YAML tree does not spell out (they would silently fall back to code defaults)."""
    missing = []
    for name, field in model.model_fields.items():
        if name not in tree:
            missing.append(prefix + name)
        elif isinstance(field.annotation, type) and issubclass(field.annotation, Section):
            missing += _missing_keys(field.annotation, tree[name] or {}, f"{prefix}{name}.")
    return missing


def test_params_yaml_loads_and_spells_out_every_key(repo_root: Path) -> None:
    file = repo_root / "params.yaml"
    load_params(file)
    assert _missing_keys(Params, yaml.safe_load(file.read_text())) == []


def test_schema_defaults_equal_params_yaml(repo_root: Path) -> None:
    """Tests and tools that start from defaults get the same recipe as the pipeline."""
    assert load_params(None) == load_params(repo_root / "params.yaml")


def _at(tree: Any, key: str) -> Any:
    for part in key.split("."):
        tree = tree[part]
    return tree


@pytest.mark.parametrize("profile", PROFILES, ids=[p.stem for p in PROFILES])
def test_profile_is_a_delta_that_its_printed_S_args_reproduce(repo_root: Path, profile: Path) -> None:
    params_file = repo_root / "params.yaml"
    with_profile = load_params(params_file, profile=profile)
    base = load_params(params_file).model_dump(mode="json")
    applied = with_profile.model_dump(mode="json")
    for key in yaml.safe_load(profile.read_text()):
        assert _at(applied, key) != _at(base, key), f"{profile.name}: {key} repeats params.yaml's value"
    args = profile_overrides(profile, params_file)
    assert all(arg == arg.strip() and len(arg.split()) == 1 for arg in args)
    assert load_params(params_file, args) == with_profile


@pytest.mark.parametrize("profile", PROFILES, ids=[p.stem for p in PROFILES])
def test_dvc_exp_run_reads_the_printed_S_args(repo_root: Path, profile: Path, tmp_path: Path) -> None:
    """`dvc exp run $(mtc profile FILE)`: DVC's CLI and its Hydra override parser write the profile's values."""
    pytest.importorskip("dvc")
    from dvc.cli import parse_args
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import apply_overrides

    args = profile_overrides(profile, repo_root / "params.yaml")
    parsed = parse_args(["exp", "run", *(a for arg in args for a in ("-S", arg))])
    assert parsed.set_param == args
    assert list(to_path_overrides(args)) == ["params.yaml"]
    copy = tmp_path / "params.yaml"
    copy.write_text((repo_root / "params.yaml").read_text())
    apply_overrides(copy, args)
    assert load_params(copy) == load_params(repo_root / "params.yaml", profile=profile)


# The values that matter in the full-copy profiles these deltas replaced (data.train_size → train.crop_size, etc.).
PAPER = {
    "model.host": "mtinet",
    "model.encoder.name": "hrnet_w18_small_v2",
    "model.encoder.pretrained_file": "data/weights/hrnet_w18_small_v2.pth",
    "model.encoder.feature_location": "",
    "model.head_channels": 128,
    "model.fuse_channels": None,
    "loss.contrast.anchors_per_image": 512,
    "train.optimizer": "sgd",
    "train.iterations": 40000,
    "train.batch_size": 8,
    "train.weight_decay": 5e-4,
    "train.amp": "bf16",
    "train.device": "cuda",
    "train.num_workers": 8,
    "train.val_evals": 0,
    "train.augment.photometric": True,
    "loss.weights.semseg": 1.0,
    "loss.weights.normals": 10.0,
    "loss.weights.edge": 50.0,
    "train.augment.scale": [0.5, 2.0],
    "eval.edge_threshold_step": 1,
}
PAPER_OF = {
    "paper_nyudv2": {
        "data.dataset": "nyudv2",
        "data.root": "data/raw/NYUDv2",
        "data.name": "nyudv2",
        "train.lr": 0.01,
        "train.crop_size": [448, 576],
        "eval.pad_to": [448, 576],
        "baselines.depth.tasks": ["depth"],
        "loss.weights.depth": 1.0,
    },
    "paper_pascal": {
        "data.dataset": "pascal_context",
        "data.root": "data/raw/PASCALContext",
        "data.name": "pascal_context",
        "train.lr": 0.005,
        "train.crop_size": [512, 512],
        "eval.pad_to": [512, 512],
        "baselines.human_parts.tasks": ["human_parts"],
        "baselines.sal.tasks": ["sal"],
    },
}


@pytest.mark.parametrize("name", sorted(PAPER_OF))
def test_paper_profiles_hold_the_paper_recipes(repo_root: Path, name: str) -> None:
    params = load_params(repo_root / "params.yaml", profile=repo_root / f"profiles/{name}.yaml")
    flat = flatten(params)
    expected = {**PAPER, **PAPER_OF[name]}
    assert {key: flat.get(key) for key in expected} == expected
    assert list(params.baselines) == list(DATASETS[params.data.dataset].tasks)  # one single-task baseline per task
    assert list(params.variants) == ["mtl", "mtl_contrast"]


def test_mtc_profile_prints_S_args_and_every_command_takes_profile(
    repo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = repo_root / "profiles/paper_pascal.yaml"
    assert main(["profile", str(profile), "--params", str(repo_root / "params.yaml")]) == 0
    words = capsys.readouterr().out.split()
    assert words[::2] == ["-S"] * (len(words) // 2)
    assert words[1::2] == profile_overrides(profile, repo_root / "params.yaml")
    assert "~baselines.depth" in words and "train.crop_size=[512,512]" in words
    required = {
        "train": ["--variant", "x"],
        "evaluate": ["--variant", "x"],
        "predict": ["--variant", "x", "--out", "o"],
        "score": ["--prepared", "p", "--pred", "q"],
    }
    for command in COMMANDS.keys() - {"profile"}:
        args = build_parser().parse_args([command, *required.get(command, []), "--profile", str(profile)])
        assert args.profile == str(profile)


def test_mtc_profile_option_loads_the_profile_and_passes_it_on(
    repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands get params.yaml + profile + -S; one that re-reads params from its args (``mtc ablate``) too."""
    seen: list[tuple[Params, argparse.Namespace]] = []
    monkeypatch.setitem(COMMANDS, "scenes", (lambda params, args: seen.append((params, args)), "test"))
    profile, params_file = repo_root / "profiles/paper_nyudv2.yaml", repo_root / "params.yaml"
    assert main(["scenes", "--params", str(params_file), "--profile", str(profile), "-S", "train.lr=0.02"]) == 0
    ((params, args),) = seen
    assert params == load_params(params_file, ["train.lr=0.02"], profile=profile)
    assert load_params(args.params, args.overrides) == params


def test_profile_errors_name_the_file_and_key(repo_root: Path, tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    for text, expected in [
        ("train.nope: 1\n", "'train.nope' is not a params key"),
        ("train.crop_size.h: 1\n", "'train.crop_size.h' is not a params key"),
        ("data:\n  root: x\n", "'data' is not a params key"),
        ("train.lr: abc\n", "train.lr = 'abc'"),
        ("- a list\n", "expected a mapping of dotted params keys"),
    ]:
        profile.write_text(text)
        with pytest.raises(ParamsError) as info:
            load_params(repo_root / "params.yaml", profile=profile)
        assert str(profile) in str(info.value) and expected in str(info.value), text


def test_overrides_take_the_hydra_add_and_remove_prefixes(repo_root: Path) -> None:
    p = load_params(repo_root / "params.yaml", ["~baselines.depth", "+baselines.sal.tasks=[sal]", "++train.lr=0.5"])
    assert "depth" not in p.baselines and p.baselines["sal"].tasks == ["sal"] and p.train.lr == 0.5
    with pytest.raises(ParamsError, match="no such key to remove"):
        load_params(repo_root / "params.yaml", ["~variants.nope"])
    with pytest.raises(ParamsError, match="expected ~KEY.SUB"):
        parse_overrides(["~train.lr=1"])


def test_overrides_use_dvc_syntax_and_yaml_values(repo_root: Path) -> None:
    p = load_params(
        repo_root / "params.yaml",
        [
            "data.limit=7",
            "loss.contrast.source_mode=fixed",
            "loss.contrast.fixed_sources={semseg: depth}",
            "eval.pad_to=[64, 96]",
            "model.tasks=null",
        ],
    )
    assert p.data.limit == 7
    assert p.loss.contrast.fixed_sources == {"semseg": "depth"}
    assert p.eval.pad_to == (64, 96)
    assert p.model.tasks is None


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "data.dataset=foo",
            "data.dataset = 'foo' is not allowed; allowed values: 'nyudv2', 'nyud_mt' or 'pascal_context'",
        ),
        ("data.fooo=1", "unknown key 'data.fooo'; allowed keys here: dataset, root,"),
        ("model.host=foo", "model.host = 'foo' is not allowed; allowed values: 'mtl_baseline', 'padnet' or 'mtinet'"),
        ("variants.mtl.host=foo", "allowed values: 'mtl_baseline', 'padnet' or 'mtinet'"),
        (
            "baseline_seeds=[3]",
            "defaults (with overrides): baseline_seeds: [3]: expected a non-empty subset of `seeds` [0, 1, 2]",
        ),
        ("baseline_seeds=[]", "baseline_seeds: []: expected a non-empty subset of `seeds` [0, 1, 2]"),
        (
            "baseline_seeds=[0, 0]",
            "baseline_seeds: [0, 0]: expected a non-empty subset of `seeds` [0, 1, 2] without repeats",
        ),
        (
            "baselines.depth.contrast=true",
            "baselines: depth: a baseline (the Δm reference) has one task and no regulariser",
        ),
        ("baselines.both.tasks=[semseg, depth]", "baselines: both: a baseline (the Δm reference) has one task"),
        ("variants.depth.tasks=[depth]", "variants: depth: also a key of `baselines`"),
        ("loss.contrast.margin=abc", "loss.contrast.margin = 'abc'"),
        ("scenes.train=0", "scenes.train = 0: Input should be greater than or equal to 1"),
        ("nosection.x=1", "unknown key 'nosection'"),
    ],
)
def test_bad_params_name_the_key(override: str, expected: str) -> None:
    with pytest.raises(ParamsError) as info:
        load_params(None, [override])
    assert expected in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_malformed_override_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="expected KEY.SUB=VALUE"):
        parse_overrides(["data.limit"])
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "p.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ParamsError, match="mapping of sections"):
        load_params(bad)


def test_flatten_gives_dotted_keys() -> None:
    flat = flatten(Params())
    assert flat["train.augment.cat_max_ratio"] == 0.75
    assert flat["loss.contrast.margin"] == 0.5
    assert flat["loss.weights.normals"] == 2.2  # the CPU profile (docs/cpu-benchmark.md); the paper profiles set 10
