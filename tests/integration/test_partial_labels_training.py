"""A tiny partial-label training through the real pipeline (prepared HDF5, the trainer, a SQLite MLflow store): the
dataset drops exactly the masked labels after augmentation, the mask is written to the run folder, logged as an
artifact and its digest tagged; another training seed sees the same annotation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from tiny_nyud import write_tiny_nyud

from mtcontrast.tasks import IGNORE_INDEX

if TYPE_CHECKING:
    from conftest import TinyRecipe

H, W = 32, 64
TRAIN_IDS, VAL_IDS = [f"{i:04d}" for i in range(1, 9)], ["0101", "0102"]
PARTIAL = "data.partial={mode: fraction, fractions: {semseg: 0.5, depth: 0.5}, seed: 1}"


def _prepare(root: Path, tiny_recipe: TinyRecipe, *overrides: str):  # noqa: ANN202
    from mtcontrast.data import prepare_dataset

    raw = root / "raw" / "nyudv2"
    if not raw.exists():
        write_tiny_nyud(raw, TRAIN_IDS, VAL_IDS, (H, W), lambda idx, k: 1 + (idx % W >= W // 2))
    params = tiny_recipe.at(
        root,
        "data.name=tiny",
        "data.compression=none",
        f"train.crop_size=[{H}, {W}]",
        "train.iterations=2",
        "train.log_every=1",
        "train.device=cpu",
        *overrides,
    )
    if not params.data.prepared_path("train").is_file():
        prepare_dataset(params.data, progress=False)
    return params


def test_dataset_drops_exactly_the_masked_labels_after_augmentation(tmp_path: Path, tiny_recipe: TinyRecipe) -> None:
    from mtcontrast.data.dataset import build_dataset

    full = build_dataset(_prepare(tmp_path, tiny_recipe), "train")
    part = build_dataset(_prepare(tmp_path, tiny_recipe, PARTIAL), "train")
    other_seed = build_dataset(_prepare(tmp_path, tiny_recipe, PARTIAL, "seeds=[7]", "baseline_seeds=[7]"), "train")
    np.testing.assert_array_equal(part.label_mask, other_seed.label_mask)  # the training seed does not matter
    assert part.tasks == ("semseg", "depth", "normals", "edge")
    assert part.label_mask.sum(axis=0).tolist() == [2, 3, 8, 8]  # pinned draw of partial seed 1 on these ids
    assert full.label_mask.all()
    single = build_dataset(_prepare(tmp_path, tiny_recipe, PARTIAL), "train", tasks=("depth",))
    np.testing.assert_array_equal(single.label_mask[:, 0], part.label_mask[:, 1])  # same annotation per task
    for i in range(len(part)):
        a, b = full[i], part[i]
        assert torch.equal(a["image"], b["image"])  # same crop and flips whatever is kept
        for j, task in enumerate(part.tasks):
            if part.label_mask[i, j]:
                assert torch.equal(a[task], b[task])
            else:
                none = IGNORE_INDEX if task in ("semseg", "edge") else 0
                assert (b[task] == none).all() and not (a[task] == none).all()
    val = build_dataset(_prepare(tmp_path, tiny_recipe, PARTIAL), "val")
    assert val.label_mask.all()  # validation always keeps every label


@pytest.mark.timeout(300)
def test_partial_training_records_its_mask_in_the_run_and_in_mlflow(
    tmp_path: Path, tiny_recipe: TinyRecipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    from mtcontrast.training import run_training

    params = _prepare(tmp_path, tiny_recipe, PARTIAL)
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = run_training(params, "mtl_contrast", source="test", progress=False)
    record = json.loads(result.paths.label_mask.read_text())
    assert record["mode"] == "fraction" and record["images"] == 8
    assert record["labelled_images"] == {"semseg": 2, "depth": 3, "normals": 8, "edge": 8}
    assert sorted(record["labelled"]) == TRAIN_IDS
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("mtcontrast/tiny").experiment_id])
    assert run.data.tags["mtc.label_mask"] == record["digest"]
    assert run.data.params["data.partial.mode"] == "fraction"
    logged = download_artifacts(
        run_id=run.info.run_id, artifact_path="train/label_mask.json", dst_path=str(tmp_path / "dl")
    )
    assert json.loads(Path(logged).read_text()) == record
    history = [json.loads(line) for line in result.paths.history.read_text().splitlines()]
    assert [h["step"] for h in history] == [1, 2] and all(np.isfinite(h["train/loss"]) for h in history)
    # the regulariser drew its sources among each image's labelled tasks and says how many lacked their own label
    for h in history:
        regularised = h["train/contrast/images_with_target_label"] + h["train/contrast/images_without_target_label"]
        assert regularised + h["train/contrast/images_skipped"] == 4 * params.train.batch_size
        assert h["train/contrast/images_without_target_label"] > 0  # semseg / depth are missing on most images
    metrics = client.get_run(run.info.run_id).data.metrics
    assert "train/contrast/images_without_target_label" in metrics
