"""Fig. 1 separation: the AUC on hand-made distances, triplets drawn by the regulariser's rules, distances of
known embeddings, and the whole analysis on tiny real checkpoints over a tiny prepared NYUDv2 split."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from mtcontrast.config import ContrastParams, Params, load_params, resolve_variant
from mtcontrast.regularizer import SourceCriterion, labels_on_grid
from mtcontrast.report.separation import (
    COLUMNS,
    feature_separation,
    image_indices,
    sample_triplets,
    separation_auc,
    triplet_accuracy,
    triplet_distances,
    variant_distances,
)

H, W = 24, 40


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- scores
def test_auc_known_values() -> None:
    assert separation_auc([0.0, 0.1, 0.2], [1.0, 2.0]) == 1.0
    assert separation_auc([1.0, 2.0], [0.0, 0.1]) == 0.0
    assert separation_auc([0.3, 0.7], [0.3, 0.7]) == 0.5
    assert separation_auc([0.0, 1.0], [0.5]) == 0.5
    assert separation_auc([0.2, 0.4], [0.3, 0.5, 0.1]) == pytest.approx(3 / 6)
    assert math.isnan(separation_auc([], [1.0]))
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=4000), rng.normal(size=4000)
    assert abs(separation_auc(a, b) - 0.5) < 0.02  # same distribution
    a, b = rng.integers(0, 5, 37).astype(float), rng.integers(0, 5, 23).astype(float)
    brute = ((b[:, None] > a[None]) + 0.5 * (b[:, None] == a[None])).mean()
    assert separation_auc(a, b) == pytest.approx(brute, abs=1e-12)
    assert triplet_accuracy([0.1, 0.5, 0.3], [0.2, 0.5, 0.1]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="expected pairs"):
        triplet_accuracy([0.1], [0.2, 0.3])


# ---------------------------------------------------------------- triplets with the regulariser's rules
def test_discrete_triplets_same_class_positive_other_class_negative() -> None:
    sem = torch.tensor(np.repeat(np.arange(8) // 2, 8).reshape(8, 8).T.copy())  # classes 0..3, 2-column bands
    sem[:2] = 255
    sem = torch.stack((sem, torch.where(sem == 3, 255, sem)))  # image 2 has no class 3
    criterion = SourceCriterion("semseg", ContrastParams())
    labels = criterion.encode(labels_on_grid("semseg", sem, (8, 8), 1))
    trip = sample_triplets(labels, criterion, 12, 16, gen(1))
    flat, valid = labels.values.reshape(-1), labels.valid.reshape(-1)
    assert len(trip) == 24  # 12 anchors in each image: every class has ≥ 2 cells and a complement
    assert valid[trip.anchor].all() and valid[trip.positive].all() and valid[trip.negative].all()
    assert torch.equal(flat[trip.anchor], flat[trip.positive]) and (flat[trip.anchor] != flat[trip.negative]).all()
    assert ((trip.anchor // 64) == (trip.negative // 64)).all()  # pool: image
    assert (trip.anchor != trip.positive).all()
    counts = torch.bincount(flat[trip.anchor[:12]], minlength=4).tolist()
    assert counts == [3, 3, 3, 3]  # balanced across the classes present
    again = sample_triplets(labels, criterion, 12, 16, gen(1))
    assert torch.equal(again.anchor, trip.anchor) and torch.equal(again.negative, trip.negative)


def test_depth_triplets_respect_the_log_thresholds() -> None:
    depth = torch.exp(torch.linspace(0.0, 2.0, 64)).reshape(1, 1, 8, 8)  # ln d in steps of 2/63 ≈ 0.032
    depth[0, 0, 0, :4] = 0.0
    criterion = SourceCriterion("depth", ContrastParams())
    labels = labels_on_grid("depth", depth, (8, 8), 1)
    trip = sample_triplets(labels, criterion, 32, 64, gen(2))
    ln = labels.values.reshape(-1)
    assert len(trip) > 20
    assert ((ln[trip.anchor] - ln[trip.positive]).abs() <= 0.049 + 1e-6).all()
    assert ((ln[trip.anchor] - ln[trip.negative]).abs() >= 0.223 - 1e-6).all()
    assert labels.valid.reshape(-1)[torch.cat((trip.anchor, trip.positive, trip.negative))].all()


def test_distances_of_label_embeddings_separate_perfectly() -> None:
    sem = torch.tensor(np.repeat(np.arange(8) // 2, 8).reshape(8, 8).T.copy()).unsqueeze(0)
    criterion = SourceCriterion("semseg", ContrastParams())
    labels = labels_on_grid("semseg", sem, (8, 8), 1)
    trip = sample_triplets(labels, criterion, 16, 16, gen(3))
    one_hot = torch.nn.functional.one_hot(sem, 4).permute(0, 3, 1, 2).float()  # z = the source label itself
    d_ap, d_an = triplet_distances(3.0 * one_hot, trip)  # raw features are L2-normalised first
    assert np.allclose(d_ap, 0.0) and np.allclose(d_an, math.sqrt(2.0), atol=1e-6)
    assert separation_auc(d_ap, d_an) == 1.0 and triplet_accuracy(d_ap, d_an) == 1.0
    flip = torch.nn.functional.normalize(1.0 - torch.eye(4))  # an "embedding" of the N×4 gathered vectors
    d_ap, d_an = triplet_distances(one_hot, trip, embed=lambda v: v @ flip)
    assert np.allclose(d_ap, 0.0) and np.allclose(d_an, math.sqrt(2.0 - 2.0 * 2.0 / 3.0), atol=1e-6)
    noise = torch.nn.functional.normalize(torch.randn(1, 16, 8, 8, generator=gen(4)), dim=1)
    d_ap, d_an = triplet_distances(noise, sample_triplets(labels, criterion, 64, 16, gen(5)))
    assert 0.3 < separation_auc(d_ap, d_an) < 0.7  # features unrelated to the labels


def test_images_without_valid_source_labels_give_no_triplets() -> None:
    parts = torch.full((1, 16, 16), 255, dtype=torch.long)  # an image without persons: parts all ignore
    criterion = SourceCriterion("human_parts", ContrastParams())
    trip = sample_triplets(criterion.encode(labels_on_grid("human_parts", parts, (4, 4), 4)), criterion, 8, 8, gen())
    assert len(trip) == 0
    d_ap, d_an = triplet_distances(torch.randn(1, 5, 4, 4), trip)
    assert d_ap.shape == d_an.shape == (0,) and math.isnan(separation_auc(d_ap, d_an))


def test_image_indices_spread_over_the_split() -> None:
    assert image_indices(10, 3) == [0, 4, 9] or image_indices(10, 3) == [0, 5, 9]
    assert image_indices(2, 8) == [0, 1]
    with pytest.raises(ValueError, match="at least 1"):
        image_indices(5, 0)


# ---------------------------------------------------------------- the analysis on tiny real checkpoints
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Params:
    """A tiny prepared NYUDv2 split and untrained-but-real checkpoints of `mtl` and `mtl_contrast`."""
    from mtcontrast.data import prepare_dataset
    from mtcontrast.data.layouts import write_nyud_sample, write_nyud_splits
    from mtcontrast.engine.checkpoint import save_checkpoint
    from mtcontrast.engine.trainer import build_training_model

    root = tmp_path_factory.mktemp("nyudv2")
    rng = np.random.default_rng(0)
    ids = {"train": ["0001", "0002"], "val": ["0003", "0004", "0005"]}
    yy, xx = np.mgrid[:H, :W]
    for k, sid in enumerate(ids["train"] + ids["val"]):
        normals = rng.normal(size=(H, W, 3)).astype(np.float32)
        normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
        write_nyud_sample(
            root,
            "nyudv2",
            sid,
            image=rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8),
            semseg=((xx // 10 + k) % 5 + 1).astype(np.uint8),
            depth=(1.0 + 0.2 * yy + 0.01 * k).astype(np.float32),
            normals=normals,
            edge=(xx % 10 == 0).astype(np.uint8),
        )
    write_nyud_splits(root, ids)
    (root / "scenes_manifest.json").write_text(
        json.dumps({"layout": "nyudv2", "counts": {"train": 2, "val": 3}, "image_size": [H, W], "max_side": W})
    )
    params = load_params(
        None,
        [
            f"data.root={root}",
            "data.name=tiny",
            f"data.prepared_dir={root.parent / 'prepared'}",
            "data.compression=none",
            f"train.runs_dir={root.parent / 'runs'}",
            "model.head_channels=16",
            "model.fuse_channels=32",
            "loss.contrast.anchors_per_image=32",
            "loss.contrast.candidates=16",
        ],
    )
    prepare_dataset(params.data, progress=False)
    state = build_training_model(resolve_variant(params, "mtl_contrast"), load_weights=False).state_dict()
    host_only = {k: v for k, v in state.items() if k.startswith("host.")}  # `mtl`: the same host, no projectors
    for variant, weights in (("mtl_contrast", state), ("mtl", host_only)):
        stored = resolve_variant(params, variant).model_dump(mode="json")
        payload = {"model": weights, "params": stored, "variant": variant, "step": 0}
        save_checkpoint(params.train.run_paths(variant, 0).checkpoint, payload)
    return params.at_seed(0)  # the separation reads one seed's runs


def test_feature_separation_tables_files_and_shared_triplets(trained: Params, tmp_path: Path) -> None:
    frame = feature_separation(trained, ["mtl", "mtl_contrast"], tmp_path, images=2, device="cpu")
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 36  # 12 ordered pairs × (mtl raw, mtl_contrast raw, mtl_contrast projected)
    assert frame.groupby(["variant", "embedding"]).size().to_dict() == {
        ("mtl", "raw"): 12,
        ("mtl_contrast", "projected"): 12,
        ("mtl_contrast", "raw"): 12,
    }
    assert (frame["target"] != frame["source"]).all()
    assert frame["auc"].between(0.0, 1.0).all() and frame["d_an_mean"].between(0.0, 2.0).all()
    # The same pixel triplets for every variant and embedding of a (target, source) pair ...
    assert (frame.groupby(["target", "source"])["triplets"].nunique() == 1).all()
    # ... and they depend only on the source: 2 images × 32 anchors for semseg (5 bands, 60 valid cells each);
    # fewer for depth (constant along rows), where some anchors' 16 candidates hold no same-row positive.
    per_source = frame.groupby("source")["triplets"].first().to_dict()
    assert per_source["semseg"] == 64 and 40 < per_source["depth"] < 64
    # Both checkpoints hold the same host weights, so the raw features (and AUCs) are identical.
    raw = frame[frame["embedding"] == "raw"].set_index(["target", "source", "variant"])["auc"].unstack()
    assert np.array_equal(raw["mtl"].to_numpy(), raw["mtl_contrast"].to_numpy())
    proj = frame[frame["embedding"] == "projected"].set_index(["target", "source"])["auc"]
    assert not np.allclose(proj.sort_index().to_numpy(), raw["mtl_contrast"].sort_index().to_numpy())
    # Files: tidy table twice, and two non-blank PNGs of the layout's size.
    assert pd.read_parquet(tmp_path / "separation.parquet").equals(frame)
    assert len(pd.read_csv(tmp_path / "separation.csv")) == 36
    hist = np.asarray(Image.open(tmp_path / "separation_hist.png").convert("RGB"))
    assert hist.shape == (round(100 * (2.1 * 12 + 1.05)), 975, 3)  # 12 pair rows × 3 columns of 3.2 in
    assert (np.abs(hist.astype(int) - [44, 160, 44]).sum(-1) < 120).sum() > 100  # green positive histograms
    heat = np.asarray(Image.open(tmp_path / "separation_auc.png").convert("RGB"))
    assert heat.shape == (500, 1480, 3) and heat.std() > 10  # 3 matrices of (0.75·4 + 1.6) in + colourbar


def test_variant_distances_are_deterministic_and_errors_are_clear(trained: Params) -> None:
    a = variant_distances(trained, "mtl", images=1, anchors_per_image=8, device="cpu")
    b = variant_distances(trained, "mtl", images=1, anchors_per_image=8, device="cpu")
    assert [(d.target, d.source, d.embedding) for d in a] == [(d.target, d.source, d.embedding) for d in b]
    assert all(np.array_equal(x.d_ap, y.d_ap) and np.array_equal(x.d_an, y.d_an) for x, y in zip(a, b))
    assert {d.d_ap.size for d in a if d.source == "semseg"} == {8}
    with pytest.raises(FileNotFoundError, match="no checkpoint; run `mtc train --variant depth`"):
        variant_distances(trained, "depth", images=1)
