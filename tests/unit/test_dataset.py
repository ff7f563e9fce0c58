"""MultiTaskDataset / build_loader on a tiny NYUDv2-layout dataset prepared to HDF5 by the real pipeline."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from mtcontrast.config import AugmentParams, Params, load_params
from mtcontrast.data.dataset import MultiTaskDataset, build_dataset, build_loader
from mtcontrast.data.errors import DataError
from mtcontrast.data.layouts import write_nyud_sample, write_nyud_splits
from mtcontrast.data.transforms import EvalTransform, crop_to_native, item_meta

H, W = 24, 40
TRAIN_IDS, VAL_IDS = ["0001", "0002", "0003", "0004"], ["0005", "0006"]


def _raw_semseg(k: int) -> np.ndarray:
    """NYU-40 raw labels 0..40 (0 = unlabelled), shifted per sample so samples differ."""
    return ((np.arange(H * W).reshape(H, W) // 7 + k) % 41).astype(np.uint8)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Params:
    from mtcontrast.data import prepare_dataset

    root = tmp_path_factory.mktemp("nyudv2")
    rng = np.random.default_rng(0)
    for k, sid in enumerate(TRAIN_IDS + VAL_IDS):
        normals = rng.normal(size=(H, W, 3)).astype(np.float32)
        normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
        depth = rng.uniform(0.5, 9.5, size=(H, W)).astype(np.float32)
        depth[0, :5] = 0.0
        write_nyud_sample(
            root,
            "nyudv2",
            sid,
            image=rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8),
            semseg=_raw_semseg(k),
            depth=depth,
            normals=normals,
            edge=(rng.random((H, W)) < 0.1).astype(np.uint8),
        )
    write_nyud_splits(root, {"train": TRAIN_IDS, "val": VAL_IDS})
    (root / "scenes_manifest.json").write_text(
        json.dumps({"layout": "nyudv2", "counts": {"train": 4, "val": 2}, "image_size": [H, W], "max_side": W})
    )
    params = load_params(
        None,
        [
            "data.dataset=nyudv2",
            f"data.root={root}",
            "data.name=tiny",
            f"data.prepared_dir={root.parent / f'{root.name}_prepared'}",
            "data.compression=none",
            "train.crop_size=[16, 24]",
            "train.augment.scale=[0.5, 2.0]",
            "eval.pad_to=null",
        ],
    )
    prepare_dataset(params.data, progress=False)
    return params


def test_train_items_follow_the_batch_contract(prepared: Params) -> None:
    ds = build_dataset(prepared, "train", seed=3)
    assert len(ds) == 4 and ds.tasks == ("semseg", "depth", "normals", "edge")
    item = ds[1]
    assert set(item) == {"image", "semseg", "depth", "normals", "edge", "meta"}
    assert item["image"].shape == (3, 16, 24) and item["image"].dtype == torch.float32
    assert item["semseg"].shape == (16, 24) and item["semseg"].dtype == torch.int64
    assert item["depth"].shape == (1, 16, 24) and item["normals"].shape == (3, 16, 24)
    assert int(item["semseg"].max()) <= 255 and set(item["semseg"].unique().tolist()) - {255} <= set(range(40))
    assert item["meta"]["id"] == "0002" and item["meta"]["index"] == 1
    assert item["meta"]["size"].tolist() == [H, W]


def test_items_are_reproducible_per_seed_epoch_and_index(prepared: Params) -> None:
    a, b = build_dataset(prepared, "train", seed=3), build_dataset(prepared, "train", seed=3)
    first = a[2]
    assert torch.equal(first["image"], b[2]["image"]) and torch.equal(first["semseg"], b[2]["semseg"])
    a.set_epoch(1)
    assert not torch.equal(first["image"], a[2]["image"])
    a.set_epoch(0)
    assert torch.equal(first["image"], a[2]["image"])
    assert not torch.equal(first["image"], build_dataset(prepared, "train", seed=4)[2]["image"])


def test_eval_items_crop_back_to_the_prepared_sample(prepared: Params) -> None:
    from mtcontrast.data import PreparedSplit

    ds = build_dataset(prepared, "val", pad_multiple=32)
    assert ds.split_kind == "eval" and len(ds) == 2
    item = ds[0]
    assert item["image"].shape == (3, 32, 64)
    assert item["meta"]["pad"].tolist() == [4, 4, 12, 12]
    split = PreparedSplit(prepared.data.prepared_path("val"))
    try:
        ref = split[0]
    finally:
        split.close()
    sem = crop_to_native(item["semseg"], item["meta"]).numpy()
    np.testing.assert_array_equal(sem, ref["semseg"])
    raw = _raw_semseg(len(TRAIN_IDS))  # val sample 0 is the 5th written
    np.testing.assert_array_equal(sem, np.where(raw == 0, 255, raw.astype(np.int64) - 1))  # NYU shift
    np.testing.assert_array_equal(crop_to_native(item["depth"], item["meta"])[0].numpy(), ref["depth"])
    assert np.count_nonzero(ref["depth"][0, :5]) == 0
    assert torch.all(item["semseg"][:4] == 255) and torch.all(item["depth"][:, :, :12] == 0)


def test_task_subset_and_bad_requests(prepared: Params, tmp_path: Path) -> None:
    ds = build_dataset(prepared, "train", tasks=("depth",))
    assert set(ds[0]) == {"image", "depth", "meta"}
    with pytest.raises(DataError, match=r"task\(s\) \['sal'\] requested but the split holds only"):
        build_dataset(prepared, "train", tasks=("semseg", "sal"))
    with pytest.raises(DataError, match="prepared split not found"):
        MultiTaskDataset(tmp_path / "missing.h5", EvalTransform())
    with pytest.raises(TypeError, match="transform = 'test': expected a TrainTransform or an EvalTransform"):
        MultiTaskDataset(prepared.data.prepared_path("train"), "test")  # type: ignore[arg-type]


def test_pickled_dataset_reopens_its_own_handle(prepared: Params) -> None:
    ds = build_dataset(prepared, "train", seed=1)
    before = ds[0]
    clone = pickle.loads(pickle.dumps(ds))  # what a spawned worker receives, after the handle was opened here
    assert torch.equal(clone[0]["image"], before["image"])
    ds.close()
    assert torch.equal(ds[0]["depth"], before["depth"])  # reopens after close


def test_loader_batches_do_not_depend_on_worker_count(prepared: Params) -> None:
    params = prepared.model_copy(update={"train": prepared.train.model_copy(update={"augment": AugmentParams()})})
    ds = build_dataset(params, "train", seed=7)
    ds.set_epoch(2)
    serial = list(build_loader(ds, batch_size=2, num_workers=0))
    parallel = list(build_loader(ds, batch_size=2, num_workers=2))
    assert len(serial) == len(parallel) == 2
    for s, p in zip(serial, parallel, strict=True):
        assert s["meta"]["id"] == p["meta"]["id"]
        assert torch.equal(s["image"], p["image"]) and torch.equal(s["normals"], p["normals"])
    batch = serial[0]
    assert batch["image"].shape == (2, 3, 16, 24) and batch["depth"].shape == (2, 1, 16, 24)
    assert batch["meta"]["pad"].shape == (2, 4) and batch["meta"]["index"].shape == (2,)
    assert sorted(serial[0]["meta"]["id"] + serial[1]["meta"]["id"]) == TRAIN_IDS
    eval_batch = next(iter(build_loader(build_dataset(params, "val"), batch_size=2)))
    assert eval_batch["meta"]["id"] == VAL_IDS  # eval: no shuffle, no drop
    np.testing.assert_array_equal(
        crop_to_native(eval_batch["semseg"][1], item_meta(eval_batch["meta"], 1)).shape, (H, W)
    )


def test_an_image_share_keeps_only_the_drawn_training_images(prepared: Params) -> None:
    from mtcontrast.config import apply_overrides
    from mtcontrast.data.partial import kept_images

    params = apply_overrides(prepared, {"data.partial.images": 0.5, "data.partial.seed": 1})
    kept = kept_images(TRAIN_IDS, params.data.partial)
    assert 0 < kept.sum() < len(TRAIN_IDS)  # the draw of seed 1 on these 4 ids keeps some, not all
    dataset = build_dataset(params, "train")
    assert len(dataset) == kept.sum()
    assert [dataset[i]["meta"]["id"] for i in range(len(dataset))] == [s for s, k in zip(TRAIN_IDS, kept) if k]
    record = dataset.mask_record()
    assert record["images"] == len(dataset) and record["images_share"] == 0.5
    assert len(build_dataset(params, "val")) == len(VAL_IDS)  # val always whole
    with pytest.raises(DataError, match=r"train\.h5.*data\.partial\.images = 0\.001 keeps none of its 4 images"):
        build_dataset(apply_overrides(prepared, {"data.partial.images": 0.001}), "train")
