"""Train / eval transforms (docs/benchmark-protocol.md §3.1, §2) on tiny hand-made samples with known outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from mtcontrast.config import AugmentParams
from mtcontrast.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    PhotometricDistortion,
    TrainTransform,
    _crop_ok,
    crop_to_native,
    hflip,
    item_meta,
    normalize_image,
    pad_to,
    random_crop,
    random_rescale,
    rescale,
)

NO_AUG = AugmentParams(scale=(1.0, 1.0), cat_max_ratio=1.0, flip=False, photometric=False)


def _sample(h: int = 2, w: int = 3, seed: int = 0) -> dict:
    """A NYUD-like sample with distinct values everywhere, one invalid depth pixel and one invalid normal."""
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(h, w, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    normals[0, 0] = 0.0
    depth = rng.uniform(0.5, 9.0, size=(h, w)).astype(np.float32)
    depth[-1, -1] = 0.0
    return {
        "image": rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8),
        "semseg": (np.arange(h * w).reshape(h, w) % 40).astype(np.uint8),
        "depth": depth,
        "normals": normals,
        "edge": (np.arange(h * w).reshape(h, w) % 2).astype(np.uint8),
        "meta": {"id": "0001", "size": (h, w)},
    }


# ------------------------------------------------------------------------------------------------ flip
def test_hflip_mirrors_every_map_and_negates_only_normals_x() -> None:
    s = _sample()
    f = hflip(s)
    np.testing.assert_array_equal(f["semseg"], [[2, 1, 0], [5, 4, 3]])
    np.testing.assert_array_equal(f["image"], s["image"][:, ::-1])
    np.testing.assert_array_equal(f["depth"], s["depth"][:, ::-1])
    np.testing.assert_array_equal(f["edge"], [[0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(f["normals"][..., 0], -s["normals"][:, ::-1, 0])
    np.testing.assert_array_equal(f["normals"][..., 1:], s["normals"][:, ::-1, 1:])
    np.testing.assert_array_equal(f["normals"][0, 2], [0.0, 0.0, 0.0])  # the invalid pixel stays invalid
    assert f["meta"] is s["meta"]


def test_hflip_twice_is_identity_and_leaves_input_untouched() -> None:
    s = _sample(3, 5)
    before = {k: v.copy() for k, v in s.items() if k != "meta"}
    twice = hflip(hflip(s))
    for key, value in before.items():
        np.testing.assert_array_equal(twice[key], value)
        np.testing.assert_array_equal(s[key], value)


# ------------------------------------------------------------------------------------------------ scale
def test_rescale_up_divides_depth_and_keeps_holes() -> None:
    s = _sample(2, 2)
    s["depth"] = np.array([[1.0, 2.0], [0.0, 4.0]], np.float32)
    s["semseg"] = np.array([[3, 7], [255, 9]], np.uint8)
    out = rescale(s, 2.0)
    np.testing.assert_array_equal(out["depth"], [[0.5, 0.5, 1, 1], [0.5, 0.5, 1, 1], [0, 0, 2, 2], [0, 0, 2, 2]])
    np.testing.assert_array_equal(out["semseg"], [[3, 3, 7, 7], [3, 3, 7, 7], [255, 255, 9, 9], [255, 255, 9, 9]])
    assert out["image"].shape == (4, 4, 3) and out["image"].dtype == np.uint8
    assert out["depth"].dtype == np.float32 and out["normals"].dtype == np.float32


def test_rescale_down_divides_depth_and_renormalises_normals() -> None:
    s = _sample(4, 6)
    s["depth"] = np.full((4, 6), 3.0, np.float32)
    s["depth"][:, :2] = 0.0
    s["normals"] = np.zeros((4, 6, 3), np.float32)
    s["normals"][:, 2:] = [0.0, 0.0, 2.0]  # stored slightly off-unit, e.g. 8-bit decoding
    s["image"] = np.full((4, 6, 3), 77, np.uint8)
    out = rescale(s, 0.5)
    np.testing.assert_array_equal(out["depth"], [[0, 6, 6], [0, 6, 6]])
    np.testing.assert_array_equal(out["normals"][:, 0], 0.0)
    np.testing.assert_array_equal(out["normals"][:, 1:], np.broadcast_to([0, 0, 1.0], (2, 2, 3)))
    np.testing.assert_array_equal(out["image"], 77)  # bilinear of a flat image is flat


def test_random_rescale_draws_from_the_range() -> None:
    s = _sample(20, 30)
    s["depth"] = np.full((20, 30), 4.0, np.float32)
    out = random_rescale(s, np.random.default_rng(5), (0.5, 2.0))
    scale = np.random.default_rng(5).uniform(0.5, 2.0)
    assert out["image"].shape[:2] == (round(20 * scale), round(30 * scale))
    np.testing.assert_allclose(out["depth"], 4.0 / scale, rtol=1e-6)
    assert random_rescale(s, np.random.default_rng(5), (1.0, 1.0)) is s


# ------------------------------------------------------------------------------------------------ crop
def test_crop_rule_ignores_255_when_counting_shares() -> None:
    seg = np.full(100, 255, np.uint8)
    seg[:60], seg[60:90] = 0, 1  # 60 / 90 labelled pixels = 0.667
    assert _crop_ok(seg, 0.75)
    seg[:70], seg[70:90] = 0, 1  # 70 % of the crop but 70 / 90 = 0.78 of its labelled pixels
    assert not _crop_ok(seg, 0.75)
    seg[:] = 255
    seg[:70] = 0  # a single labelled class never passes
    assert not _crop_ok(seg, 0.75)


def test_cat_max_ratio_redraws_crops_dominated_by_one_class() -> None:
    """40×40 semseg, class 1 in the top-left 20×20, class 0 elsewhere; 20×20 crops. Only 153 of the 441 windows
    have both classes below 75 %: plain crops hit one about a third of the time, redrawn crops ~99 %."""
    s = _sample(40, 40)
    s["semseg"] = np.zeros((40, 40), np.uint8)
    s["semseg"][:20, :20] = 1

    def max_share(crop: np.ndarray) -> float:
        return float(max(crop.mean(), 1 - crop.mean()))

    ruled = [max_share(random_crop(s, np.random.default_rng(i), (20, 20), 0.75)["semseg"]) for i in range(40)]
    plain = [max_share(random_crop(s, np.random.default_rng(i), (20, 20), 1.0)["semseg"]) for i in range(40)]
    assert sum(r < 0.75 for r in ruled) >= 38
    assert sum(r < 0.75 for r in plain) <= 22
    out = random_crop(s, np.random.default_rng(0), (20, 20), 0.75)
    assert {k: v.shape[:2] for k, v in out.items() if k != "meta"} == dict.fromkeys(
        ["image", "semseg", "depth", "normals", "edge"], (20, 20)
    )


def test_crop_keeps_short_sides_whole() -> None:
    s = _sample(3, 50)
    out = random_crop(s, np.random.default_rng(1), (8, 10), 0.75)
    assert out["image"].shape == (3, 10, 3)


# ------------------------------------------------------------------------------------------------ pad / normalise
def test_normalisation_numbers() -> None:
    img = np.array([[[0, 0, 0], [255, 255, 255], [124, 116, 104]]], np.uint8)
    out = normalize_image(img)
    np.testing.assert_allclose(out[0, 0], [-2.117904, -2.035714, -1.804444], atol=1e-5)
    np.testing.assert_allclose(out[0, 1], [2.248908, 2.428571, 2.64], atol=1e-5)
    np.testing.assert_allclose(out[0, 2], [0.005566, -0.004902, 0.008192], atol=1e-5)  # ≈ the mean → ≈ 0
    assert out.dtype == np.float32
    np.testing.assert_allclose(IMAGENET_MEAN, [0.485, 0.456, 0.406])
    np.testing.assert_allclose(IMAGENET_STD, [0.229, 0.224, 0.225])


def test_train_pads_with_ignore_values_when_smaller_than_the_crop() -> None:
    s = _sample(3, 4)
    item = TrainTransform((6, 8), NO_AUG)(s, np.random.default_rng(0))
    assert item["meta"]["pad"].tolist() == [1, 2, 2, 2]
    assert item["meta"]["size"].tolist() == [3, 4] and item["meta"]["id"] == "0001"
    inside = (slice(1, 4), slice(2, 6))
    outside = torch.ones(6, 8, dtype=torch.bool)
    outside[inside] = False
    assert item["image"].shape == (3, 6, 8) and item["image"].dtype == torch.float32
    assert torch.all(item["image"][:, outside] == 0)
    assert torch.all(item["semseg"][outside] == 255) and torch.all(item["edge"][outside] == 255)
    assert item["semseg"].dtype == torch.int64 and item["edge"].dtype == torch.int64
    assert torch.all(item["depth"][0][outside] == 0) and item["depth"].shape == (1, 6, 8)
    assert torch.all(item["normals"][:, outside] == 0) and item["normals"].shape == (3, 6, 8)
    np.testing.assert_array_equal(item["semseg"][inside].numpy(), s["semseg"])
    np.testing.assert_array_equal(item["depth"][0][inside].numpy(), s["depth"])
    expected_image = normalize_image(s["image"]).transpose(2, 0, 1)
    np.testing.assert_allclose(item["image"][(slice(None), *inside)].numpy(), expected_image)


def test_pad_to_splits_the_odd_pixel_bottom_right() -> None:
    out, pad = pad_to({"semseg": np.zeros((2, 2), np.uint8), "image": np.zeros((2, 2, 3), np.float32)}, (5, 4))
    assert pad == (1, 2, 1, 1)
    np.testing.assert_array_equal(out["semseg"][:, 0], [255, 255, 255, 255, 255])
    np.testing.assert_array_equal(out["semseg"][1:3, 1:3], 0)


# ------------------------------------------------------------------------------------------------ eval
def test_eval_is_pad_only_and_crops_back_exactly() -> None:
    s = _sample(5, 7)
    item = EvalTransform(None, pad_multiple=4)(s)
    assert item["image"].shape == (3, 8, 8)
    assert item["meta"]["pad"].tolist() == [1, 2, 0, 1]
    for key in ("semseg", "edge"):
        np.testing.assert_array_equal(crop_to_native(item[key], item["meta"]).numpy(), s[key])
    np.testing.assert_array_equal(crop_to_native(item["depth"], item["meta"])[0].numpy(), s["depth"])
    normals = crop_to_native(item["normals"], item["meta"]).numpy()
    np.testing.assert_array_equal(normals, s["normals"].transpose(2, 0, 1))
    np.testing.assert_array_equal(
        crop_to_native(item["image"], item["meta"]).numpy(), normalize_image(s["image"]).transpose(2, 0, 1)
    )
    fixed = EvalTransform((10, 12), pad_multiple=32)(s)
    assert fixed["semseg"].shape == (10, 12) and fixed["meta"]["pad"].tolist() == [2, 3, 2, 3]
    np.testing.assert_array_equal(crop_to_native(fixed["semseg"].numpy(), fixed["meta"]), s["semseg"])


def test_eval_refuses_images_larger_than_eval_size() -> None:
    with pytest.raises(ValueError, match=r"eval.pad_to = \(4, 12\): image '0001' is 5×7"):
        EvalTransform((4, 12))(_sample(5, 7))


def test_collated_meta_and_per_item_crop() -> None:
    items = [EvalTransform((8, 8))(_sample(5, 7, seed=0)), EvalTransform((8, 8))(_sample(6, 8, seed=1))]
    batch = default_collate(items)
    assert batch["semseg"].shape == (2, 8, 8) and batch["depth"].shape == (2, 1, 8, 8)
    assert batch["meta"]["id"] == ["0001", "0001"]
    assert batch["meta"]["size"].tolist() == [[5, 7], [6, 8]]
    assert batch["meta"]["pad"].tolist() == [[1, 2, 0, 1], [1, 1, 0, 0]]
    second = crop_to_native(batch["semseg"][1], item_meta(batch["meta"], 1))
    np.testing.assert_array_equal(second.numpy(), _sample(6, 8, seed=1)["semseg"])


# ------------------------------------------------------------------------------------------------ photometric
def test_photometric_keeps_dtype_and_grey_stays_grey_within_range() -> None:
    grey = np.full((4, 4, 3), 100, np.uint8)
    outs = [PhotometricDistortion()(grey, np.random.default_rng(i)) for i in range(200)]
    assert all(o.dtype == np.uint8 and o.shape == (4, 4, 3) for o in outs)
    values = np.array([o[0, 0, 0] for o in outs])
    assert all((o == o[0, 0, 0]).all() for o in outs)  # saturation / hue leave a grey image grey and flat
    assert values.min() >= (100 - 32) * 0.5 - 1 and values.max() <= (100 + 32) * 1.5
    unchanged = np.mean(values == 100)  # neither brightness nor contrast applied: p = 1/4
    assert 0.15 < unchanged < 0.35


def test_photometric_hue_shift_keeps_saturation_and_value() -> None:
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    hue_only = PhotometricDistortion(brightness_delta=0, contrast_range=(1, 1), saturation_range=(1, 1))
    outs = [hue_only(red, np.random.default_rng(i)) for i in range(40)]
    changed = [o for o in outs if not np.array_equal(o, red)]
    assert 10 <= len(changed) <= 30  # p = 1/2
    for o in changed:
        assert o.max() == 255 and o.min() == 0  # fully saturated, full value: only the hue moved


def test_photometric_rejects_float_images() -> None:
    with pytest.raises(ValueError, match="uint8 H×W×3"):
        PhotometricDistortion()(np.zeros((2, 2, 3), np.float32), np.random.default_rng(0))


# ------------------------------------------------------------------------------------------------ pipeline
def test_train_transform_is_deterministic_per_seed_and_keeps_conventions() -> None:
    s = _sample(24, 30)
    t = TrainTransform((16, 20), AugmentParams())
    a, b = t(s, np.random.default_rng(3)), t(s, np.random.default_rng(3))
    c = t(s, np.random.default_rng(4))
    for key in ("image", "semseg", "depth", "normals", "edge"):
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a["image"], c["image"])
    assert a["image"].shape == (3, 16, 20) and a["semseg"].shape == (16, 20) and a["normals"].shape == (3, 16, 20)
    norms = a["normals"].norm(dim=0)
    assert torch.all((norms == 0) | ((norms - 1).abs() < 1e-5))
    assert set(a["edge"].unique().tolist()) <= {0, 1, 255}
    assert torch.all(a["depth"] >= 0)


def test_train_scale_two_halves_depth_end_to_end() -> None:
    s = _sample(10, 10)
    s["depth"] = np.full((10, 10), 4.0, np.float32)
    aug = AugmentParams(scale=(2.0, 2.0), cat_max_ratio=1.0, flip=False, photometric=False)
    item = TrainTransform((8, 8), aug)(s, np.random.default_rng(0))
    assert item["meta"]["pad"].tolist() == [0, 0, 0, 0]
    assert torch.all(item["depth"] == 2.0)


def test_unknown_sample_key_is_rejected() -> None:
    s = _sample()
    s["mask"] = np.zeros((2, 3), np.uint8)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['mask'\]"):
        hflip(s)
