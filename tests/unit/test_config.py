from pathlib import Path
from typing import Any

import pytest
import yaml

from mtcontrast.config import Params, ParamsError, Section, flatten, load_params, parse_overrides


def _missing_keys(model: type[Section], tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Schema keys that the YAML tree does not spell out (they would silently fall back to code defaults)."""
    missing = []
    for name, field in model.model_fields.items():
        if name not in tree:
            missing.append(prefix + name)
        elif isinstance(field.annotation, type) and issubclass(field.annotation, Section):
            missing += _missing_keys(field.annotation, tree[name] or {}, f"{prefix}{name}.")
    return missing


@pytest.mark.parametrize(
    "path", ["params.yaml", *sorted(p.name for p in (Path(__file__).parents[2] / "profiles").glob("*.yaml"))]
)
def test_params_files_load_and_spell_out_every_key(repo_root: Path, path: str) -> None:
    file = repo_root / path if path == "params.yaml" else repo_root / "profiles" / path
    load_params(file)
    assert _missing_keys(Params, yaml.safe_load(file.read_text())) == []


def test_overrides_use_dvc_syntax_and_yaml_values(repo_root: Path) -> None:
    p = load_params(
        repo_root / "params.yaml",
        [
            "data.limit=7",
            "loss.contrast.source_mode=fixed",
            "loss.contrast.fixed_sources={semseg: depth}",
            "data.eval_size=[64, 96]",
            "model.tasks=null",
        ],
    )
    assert p.data.limit == 7
    assert p.loss.contrast.fixed_sources == {"semseg": "depth"}
    assert p.data.eval_size == (64, 96)
    assert p.model.tasks is None


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "data.dataset=foo",
            "data.dataset = 'foo' is not allowed; allowed values: 'nyudv2', 'nyud_mt' or 'pascal_context'",
        ),
        ("data.fooo=1", "unknown key 'data.fooo'; allowed keys here: dataset, root,"),
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
    assert flat["data.augment.cat_max_ratio"] == 0.75
    assert flat["loss.contrast.margin"] == 0.5
    assert flat["loss.weights.normals"] == 10.0
