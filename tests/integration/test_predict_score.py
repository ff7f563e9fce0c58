"""The offline route: ``mtc predict`` exports a trained model's predictions in the protocol files, ``mtc score``
reads them back with the pipeline's ``eval`` options, and the numbers equal the evaluator's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from mtcontrast.cli import main
from mtcontrast.config import Params
from mtcontrast.data import prepare_dataset
from mtcontrast.engine.evaluator import evaluate_variant
from mtcontrast.scenes import generate_scenes

if TYPE_CHECKING:
    from conftest import TinyRecipe


@pytest.mark.timeout(600)
def test_predict_then_score_equals_the_pipeline_evaluator(
    tiny_recipe: TinyRecipe, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    # eval.edge_threshold_step=5: a reduced threshold set that `mtc score` must honour (it used to score all 101)
    params = tiny_recipe.at(tmp_path, "eval.edge_threshold_step=5", "eval.limit=3")
    generate_scenes(params.scenes, progress=False)
    prepare_dataset(params.data, progress=False)
    params_file = tiny_recipe.write(tmp_path / "params.yaml", params)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    # trained through `mtc train`, asked to keep the resumable checkpoint in MLflow too (default: weights only)
    assert main(["train", "--params", str(params_file), "--variant", "mtl", "--log-checkpoint", "-q"]) == 0
    (run,) = MlflowClient(uri).search_runs(
        [MlflowClient(uri).get_experiment_by_name("mtcontrast/scenes_nyudv2").experiment_id]
    )
    assert [a.path for a in MlflowClient(uri).list_artifacts(run.info.run_id, "checkpoint")] == [
        "checkpoint/checkpoint.pt"
    ]
    assert run.info.run_name.startswith("mtl·s0·")
    expected = evaluate_variant(params, "mtl", progress=False).metrics
    assert set(expected) == {"semseg", "depth", "normals", "edge"}
    out = tmp_path / "preds"
    assert main(["predict", "--params", str(params_file), "--variant", "mtl", "--out", str(out), "-q"]) == 0
    manifest = json.loads((out / "predictions.json").read_text())
    assert manifest["images"] == 3 and manifest["step"] == params.train.iterations  # eval.limit honoured
    assert sorted(p.name for p in (out / "semseg").iterdir()) == sorted(f"{i}.png" for i in manifest_ids(params))
    assert np.load(next((out / "depth").iterdir())).dtype == np.float32
    capsys.readouterr()

    prepared = params.data.prepared_path("val")
    assert main(["score", "--params", str(params_file), "--prepared", str(prepared), "--pred", str(out)]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert set(scored) == set(expected)
    for task, metrics in expected.items():
        for name, value in metrics.items():
            assert scored[task][name] == pytest.approx(value, rel=1e-9, abs=1e-12), f"{task}/{name}"

    # the threshold step is really applied: all 101 thresholds give other edge numbers on this soft map
    assert (
        main(
            ["score", "--params", str(params_file), "--prepared", str(prepared), "--pred", str(out), "--task", "edge"]
            + ["-S", "eval.edge_threshold_step=1"]
        )
        == 0
    )
    full = json.loads(capsys.readouterr().out)["edge"]
    assert full["ap"] != pytest.approx(expected["edge"]["ap"], rel=1e-9)


def manifest_ids(params: Params) -> list[str]:
    from mtcontrast.data.prepared import PreparedSplit

    with PreparedSplit(params.data.prepared_path("val")) as split:
        return list(split.ids[:3])
