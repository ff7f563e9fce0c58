"""Partial-label protocols (``data.partial``, src/mtcontrast/data/partial.py): the masks, the "no label" maps and the
losses' treatment of them, and the errors of bad settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mtcontrast.config import load_params
from mtcontrast.config.base import ParamsError
from mtcontrast.config.data import PartialLabelsParams
from mtcontrast.data.errors import DataError
from mtcontrast.data.partial import check_every_task_labelled, drop_labels, kept_images, label_mask, mask_record
from mtcontrast.losses import task_loss
from mtcontrast.tasks import IGNORE_INDEX

NYUD = ("semseg", "depth", "normals", "edge")
IDS = [f"{i:06d}" for i in range(10_000)]


def test_one_per_image_keeps_exactly_one_task_uniformly() -> None:
    mask = label_mask(IDS, NYUD, PartialLabelsParams(mode="one_per_image"))
    assert mask.dtype == bool and mask.shape == (10_000, 4)
    assert (mask.sum(axis=1) == 1).all()
    counts = mask.sum(axis=0)
    assert np.abs(counts - 2500).max() < 4 * np.sqrt(10_000 * 0.25 * 0.75)  # binomial: 4 sd = 173
    assert counts.tolist() == [2469, 2531, 2461, 2539]  # pinned: SHA-256 draws of seed 0


def test_fractions_are_kept_within_binomial_tolerance_and_unlisted_tasks_keep_all() -> None:
    cfg = PartialLabelsParams(mode="fraction", fractions={"semseg": 0.25, "depth": 0.5, "edge": 0.1})
    mask = label_mask(IDS, NYUD, cfg)
    for j, f in enumerate((0.25, 0.5, 1.0, 0.1)):
        assert abs(mask[:, j].sum() - 10_000 * f) <= 4 * np.sqrt(10_000 * f * (1 - f)) + 1e-9, NYUD[j]
    assert mask[:, 2].all()
    # drawn independently per task: the joint share of semseg ∧ depth is the product
    assert abs((mask[:, 0] & mask[:, 1]).mean() - 0.125) < 0.015


def test_masks_depend_only_on_the_partial_seed_and_the_ids() -> None:
    cfg = PartialLabelsParams(mode="one_per_image", seed=3)
    mask = label_mask(IDS[:500], NYUD, cfg)
    np.testing.assert_array_equal(mask, label_mask(IDS[:500], NYUD, cfg))  # repeatable
    shuffled = np.random.default_rng(0).permutation(500)
    again = label_mask([IDS[i] for i in shuffled], NYUD, cfg)
    np.testing.assert_array_equal(again, mask[shuffled])  # file order does not matter
    other = label_mask(IDS[:500], NYUD, cfg.model_copy(update={"seed": 4}))
    assert 0.6 < (other != mask).any(axis=1).mean() < 0.9  # another annotation seed: another draw (≈ 3/4 differ)
    assert label_mask(IDS[:3], NYUD, PartialLabelsParams()).all()  # mode none keeps everything


def test_drop_labels_writes_each_tasks_no_label_value() -> None:
    item = {
        "semseg": torch.ones(4, 5, dtype=torch.int64),
        "depth": torch.full((1, 4, 5), 2.0),
        "normals": torch.ones(3, 4, 5),
        "edge": torch.zeros(4, 5, dtype=torch.int64),
    }
    out = drop_labels(item, NYUD, np.array([False, False, False, True]))
    assert (out["semseg"] == IGNORE_INDEX).all() and out["semseg"].dtype == torch.int64
    assert (out["depth"] == 0).all() and (out["normals"] == 0).all()
    assert (out["edge"] == 0).all() and out["edge"].shape == (4, 5)  # kept


@pytest.mark.parametrize("task", ["semseg", "edge", "depth", "normals", "sal", "human_parts"])
def test_a_missing_label_costs_nothing(task: str) -> None:
    # a batch of two images where the second has no label equals the first image alone, value and gradient
    torch.manual_seed(0)
    channels = {"semseg": 5, "human_parts": 3, "edge": 1, "depth": 1, "normals": 3, "sal": 2}[task]
    pred = torch.randn(2, channels, 6, 7, requires_grad=True)
    if task in ("semseg", "human_parts", "sal"):
        label = torch.randint(0, channels, (2, 6, 7))
    elif task == "edge":
        label = (torch.rand(2, 6, 7) < 0.3).long()
    elif task == "depth":
        label = torch.rand(2, 1, 6, 7) + 0.5
    else:
        label = torch.nn.functional.normalize(torch.randn(2, 3, 6, 7), dim=1)
    keep = np.array([True])
    second = drop_labels({task: label[1].clone()}, (task,), ~keep)[task]
    batch = torch.stack([label[0], second])
    loss = task_loss(task, pred, batch)
    alone = task_loss(task, pred[:1], label[:1])
    assert loss.item() == pytest.approx(alone.item(), rel=1e-6) and alone.item() > 0
    loss.backward()
    assert pred.grad is not None and pred.grad[1].abs().max() == 0 and pred.grad[0].abs().max() > 0
    # and a batch with no label at all costs exactly 0, not NaN
    none = torch.stack([second, second])
    assert task_loss(task, pred.detach(), none).item() == 0.0


def test_the_record_names_each_images_tasks_and_has_a_stable_digest() -> None:
    cfg = PartialLabelsParams(mode="one_per_image")
    ids = IDS[:6]
    mask = label_mask(ids, NYUD, cfg)
    record = mask_record(ids, NYUD, mask, cfg)
    assert record["images"] == 6 and sum(record["labelled_images"].values()) == 6
    assert all(len(tasks) == 1 for tasks in record["labelled"].values())
    assert record["digest"] == mask_record(ids, NYUD, mask, cfg)["digest"] and len(record["digest"]) == 16
    flipped = mask.copy()
    flipped[0] = ~flipped[0]
    assert mask_record(ids, NYUD, flipped, cfg)["digest"] != record["digest"]


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "data.partial={mode: fraction, fractions: {semseg: 0}}",
            r"data\.partial\.fractions: each fraction must lie in \(0, 1\]",
        ),
        (
            "data.partial={mode: fraction, fractions: {depth: 1.5}}",
            r"data\.partial\.fractions: each fraction must lie in \(0, 1\]",
        ),
        (
            "data.partial={mode: fraction, fractions: {human_parts: 0.5}}",
            r"data: partial\.fractions names \['human_parts'\], not tasks of nyudv2",
        ),
        (
            "data.partial={mode: one_per_image, fractions: {depth: 0.5}}",
            r"data\.partial: fractions .* only read with mode 'fraction'",
        ),
        ("data.partial.mode=half", r"data\.partial\.mode"),
    ],
)
def test_bad_settings_are_refused_by_name(repo_root: Path, override: str, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        load_params(repo_root / "params.yaml", [override])


def test_a_task_left_without_labels_is_refused_naming_the_file() -> None:
    mask = label_mask(IDS[:3], NYUD, PartialLabelsParams(mode="fraction", fractions={"edge": 0.01}))
    assert not mask[:, 3].any()
    with pytest.raises(DataError, match=r"train\.h5.*\['edge'\] with no labelled training image among 3"):
        check_every_task_labelled(mask, NYUD, Path("data/prepared/x/train.h5"))


def test_an_image_share_keeps_that_share_independently_of_the_label_draws() -> None:
    cfg = PartialLabelsParams(images=0.25, seed=2)
    kept = kept_images(IDS, cfg)
    assert kept.dtype == bool and kept.shape == (10_000,)
    assert abs(kept.sum() - 2500) <= 4 * np.sqrt(10_000 * 0.25 * 0.75)
    shuffled = np.random.default_rng(1).permutation(10_000)
    np.testing.assert_array_equal(kept_images([IDS[i] for i in shuffled], cfg), kept[shuffled])  # file order
    labels = label_mask(IDS, NYUD, cfg.model_copy(update={"mode": "one_per_image"}))
    # the image draw and the one-per-image draw use distinct keys: which task an image keeps is unrelated to
    # whether it is kept (each task ≈ a quarter of the kept images)
    assert np.abs(labels[kept].mean(axis=0) - 0.25).max() < 0.04
    assert kept_images(IDS[:5], PartialLabelsParams()).all() and not PartialLabelsParams().active
    assert cfg.active and PartialLabelsParams(mode="one_per_image").active


@pytest.mark.parametrize("value", [0, -0.5, 1.5])
def test_an_image_share_outside_the_unit_interval_is_refused_by_name(value: float) -> None:
    with pytest.raises(ParamsError, match=r"data\.partial\.images"):
        load_params(None, [f"data.partial.images={value}"])
