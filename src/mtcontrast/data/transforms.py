"""Train and eval transforms of docs/benchmark-protocol.md §3.1, on numpy sample dicts (the PreparedSplit contract).

A *sample* is ``{"image": uint8 H×W×3, <task>: map, ..., "meta": {"id": str, "size": (H, W)}}``. The geometric
steps act on every map present and keep each task's convention: discrete labels stay uint8 (255 = ignore), depth
is metres (0 = invalid), normals are unit vectors (zero vector = invalid). :func:`to_batch_item` then produces one
item of the Batch contract (CHW torch tensors, int64 labels, depth 1×H×W, normals 3×H×W) with a collatable meta:

    meta = {"id": str, "size": int64 tensor (2,) = original (H, W),
            "pad": int64 tensor (4,) = (top, bottom, left, right) padding added around the content}

so a prediction at the padded size goes back to the content with :func:`crop_to_native`. For eval items the
content is the whole native image (eval never resizes); for train items it is the crop.

All randomness comes from the ``numpy.random.Generator`` passed in, so a fixed seed gives a fixed output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch

from mtcontrast.config.train import AugmentParams
from mtcontrast.tasks import DISCRETE_TASKS, IGNORE_INDEX

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# Fill of each map where there is no data (padding); the image is filled after normalisation.
PAD_VALUES: dict[str, float] = {"image": 0.0, "depth": 0.0, "normals": 0.0, **dict.fromkeys(DISCRETE_TASKS, 255)}

Sample = dict[str, Any]


def _map_keys(sample: Mapping[str, Any]) -> list[str]:
    """Keys holding spatial maps (everything but ``meta``); unknown keys are rejected so none is left untouched."""
    keys = [k for k in sample if k != "meta"]
    unknown = [k for k in keys if k not in PAD_VALUES]
    if unknown:
        raise ValueError(f"sample has unknown key(s) {unknown}; expected meta and maps among {sorted(PAD_VALUES)}")
    return keys


def _image_hw(sample: Mapping[str, Any]) -> tuple[int, int]:
    h, w = sample["image"].shape[:2]
    return int(h), int(w)


def _resize(array: np.ndarray, size_hw: tuple[int, int], interpolation: int) -> np.ndarray:
    """cv2.resize that keeps a trailing channel axis of length 1..3 and the dtype."""
    out = cv2.resize(array, (size_hw[1], size_hw[0]), interpolation=interpolation)
    return out.reshape(size_hw + array.shape[2:])


def renormalize(normals: np.ndarray) -> np.ndarray:
    """Unit length where the vector is non-zero; zero (invalid) vectors stay exactly zero."""
    norm = np.linalg.norm(normals, axis=-1, keepdims=True)
    return np.where(norm > 0, normals / np.maximum(norm, 1e-12), 0.0).astype(np.float32)


# ------------------------------------------------------------------------------------------------ geometric steps
def rescale(sample: Sample, scale: float) -> Sample:
    """Resize every map by ``scale``: image bilinear, labels / depth / normals nearest (no blended labels and no
    invented depth at hole borders). Depth is divided by ``scale``: zooming in by s looks like moving s× closer."""
    h, w = _image_hw(sample)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    out: Sample = {"meta": sample["meta"]} if "meta" in sample else {}
    for key in _map_keys(sample):
        arr = sample[key]
        if key == "image":
            out[key] = _resize(arr, size, cv2.INTER_LINEAR)
        elif key == "depth":
            out[key] = (_resize(arr, size, cv2.INTER_NEAREST) / np.float32(scale)).astype(np.float32)
        elif key == "normals":
            out[key] = renormalize(_resize(arr, size, cv2.INTER_NEAREST))
        else:
            out[key] = _resize(arr, size, cv2.INTER_NEAREST)
    return out


def random_rescale(sample: Sample, rng: np.random.Generator, scale_range: tuple[float, float]) -> Sample:
    """:func:`rescale` by s ~ U(scale_range) (ATRC / InvPT RandomScaling)."""
    lo, hi = scale_range
    return sample if lo == hi == 1.0 else rescale(sample, float(rng.uniform(lo, hi)))


def crop(sample: Sample, top: int, left: int, height: int, width: int) -> Sample:
    """The same window of every map (clipped at the image border, as numpy slicing does)."""
    out: Sample = {"meta": sample["meta"]} if "meta" in sample else {}
    for key in _map_keys(sample):
        out[key] = sample[key][top : top + height, left : left + width]
    return out


def _crop_ok(semseg: np.ndarray, cat_max_ratio: float) -> bool:
    """mmseg's rule: at least two labelled classes and none with a share ≥ ``cat_max_ratio`` (255 ignored)."""
    counts = np.bincount(semseg.ravel(), minlength=256)
    counts[IGNORE_INDEX] = 0
    total = counts.sum()
    return bool(np.count_nonzero(counts) > 1 and counts.max() < cat_max_ratio * total)


def random_crop(sample: Sample, rng: np.random.Generator, size: tuple[int, int], cat_max_ratio: float = 0.75) -> Sample:
    """Random window of at most ``size`` (H, W) (mmseg / ATRC RandomCrop). With ``cat_max_ratio`` < 1 and a semseg
    map, up to 10 redraws until no class covers ≥ that share of the crop's labelled pixels; the 11th draw is kept
    otherwise. A side shorter than ``size`` is kept whole (and padded later)."""
    h, w = _image_hw(sample)
    ch, cw = size
    margin_h, margin_w = max(h - ch, 0), max(w - cw, 0)

    def draw() -> tuple[int, int]:
        return int(rng.integers(0, margin_h + 1)), int(rng.integers(0, margin_w + 1))

    top, left = draw()
    if cat_max_ratio < 1.0 and "semseg" in sample:
        for _ in range(10):
            if _crop_ok(sample["semseg"][top : top + ch, left : left + cw], cat_max_ratio):
                break
            top, left = draw()
    return crop(sample, top, left, ch, cw)


def hflip(sample: Sample) -> Sample:
    """Mirror every map left-right; normals also get x negated (the surface now faces the other way)."""
    out: Sample = {"meta": sample["meta"]} if "meta" in sample else {}
    for key in _map_keys(sample):
        arr = sample[key][:, ::-1].copy()  # a fresh C-contiguous array: the input is never modified
        if key == "normals":
            arr[..., 0] = -arr[..., 0]
        out[key] = arr
    return out


def random_hflip(sample: Sample, rng: np.random.Generator, p: float = 0.5) -> Sample:
    return hflip(sample) if rng.random() < p else sample


def pad_to(sample: Sample, size: tuple[int, int]) -> tuple[Sample, tuple[int, int, int, int]]:
    """Centre-pad every map to at least ``size`` (H, W) with :data:`PAD_VALUES` (ATRC PadImage: the odd pixel
    goes to the bottom / right). Returns the padded sample and (top, bottom, left, right)."""
    h, w = _image_hw(sample)
    dh, dw = max(size[0] - h, 0), max(size[1] - w, 0)
    pad = (dh // 2, dh - dh // 2, dw // 2, dw - dw // 2)
    if dh == 0 and dw == 0:
        return sample, pad
    out: Sample = {"meta": sample["meta"]} if "meta" in sample else {}
    for key in _map_keys(sample):
        arr = sample[key]
        widths = [(pad[0], pad[1]), (pad[2], pad[3])] + [(0, 0)] * (arr.ndim - 2)
        out[key] = np.pad(arr, widths, mode="constant", constant_values=PAD_VALUES[key])
    return out, pad


# ------------------------------------------------------------------------------------------------ photometric
def _affine_u8(array: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    """mmseg ``convert``: float affine map, clip to [0, 255], truncate to uint8."""
    return np.clip(array.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class PhotometricDistortion:
    """mmseg PhotoMetricDistortion on an RGB uint8 image: brightness, contrast (randomly before or after the colour
    steps), saturation, hue; each step applied with p = 0.5. Hue is in OpenCV's 0..179 uint8 HSV units."""

    brightness_delta: float = 32.0
    contrast_range: tuple[float, float] = (0.5, 1.5)
    saturation_range: tuple[float, float] = (0.5, 1.5)
    hue_delta: int = 18

    def _contrast(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return _affine_u8(img, alpha=float(rng.uniform(*self.contrast_range))) if rng.integers(2) else img

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"photometric distortion expects a uint8 H×W×3 image, got {image.dtype} {image.shape}")
        img = image
        if rng.integers(2):
            img = _affine_u8(img, beta=float(rng.uniform(-self.brightness_delta, self.brightness_delta)))
        contrast_first = bool(rng.integers(2))
        if contrast_first:
            img = self._contrast(img, rng)
        if rng.integers(2):
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
            hsv[..., 1] = _affine_u8(hsv[..., 1], alpha=float(rng.uniform(*self.saturation_range)))
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if rng.integers(2):
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
            shift = int(rng.integers(-self.hue_delta, self.hue_delta + 1))
            hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if not contrast_first:
            img = self._contrast(img, rng)
        return img


# ------------------------------------------------------------------------------------------------ to tensors
def normalize_image(image: np.ndarray) -> np.ndarray:
    """uint8 RGB → float32 (x/255 − mean) / std with the ImageNet statistics every codebase uses."""
    return ((image.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)


def to_batch_item(sample: Sample, pad: tuple[int, int, int, int], original_size: tuple[int, int]) -> dict[str, Any]:
    """A normalised, padded numpy sample → one Batch-contract item (see the module docstring for ``meta``)."""
    item: dict[str, Any] = {}
    for key in _map_keys(sample):
        arr = np.ascontiguousarray(sample[key])
        if key == "image":
            if arr.dtype != np.float32:
                raise ValueError(f"to_batch_item expects the normalised float32 image, got {arr.dtype}")
            item[key] = torch.from_numpy(arr.transpose(2, 0, 1).copy())
        elif key == "depth":
            item[key] = torch.from_numpy(arr.astype(np.float32, copy=False)[None].copy())
        elif key == "normals":
            item[key] = torch.from_numpy(arr.astype(np.float32, copy=False).transpose(2, 0, 1).copy())
        else:
            item[key] = torch.from_numpy(arr.astype(np.int64))
    meta = sample.get("meta", {})
    item["meta"] = {
        "id": str(meta.get("id", "")),
        "size": torch.tensor(original_size, dtype=torch.int64),
        "pad": torch.tensor(pad, dtype=torch.int64),
    }
    return item


def _original_size(sample: Sample) -> tuple[int, int]:
    size = sample.get("meta", {}).get("size")
    return (int(size[0]), int(size[1])) if size is not None else _image_hw(sample)


def crop_to_native(pred: torch.Tensor | np.ndarray, meta_i: Mapping[str, Any]) -> torch.Tensor | np.ndarray:
    """Undo the centre padding of one item: ``pred[..., top:H-bottom, left:W-right]`` with ``meta_i["pad"]``.
    ``pred`` is any array whose last two axes are the padded H, W (e.g. C×H×W logits or an H×W label map)."""
    top, bottom, left, right = (int(v) for v in meta_i["pad"])
    h, w = pred.shape[-2:]
    return pred[..., top : h - bottom, left : w - right]


def item_meta(batch_meta: Mapping[str, Any], i: int) -> dict[str, Any]:
    """The ``meta`` of item ``i`` from a collated batch (``{"id": [..], "size": B×2, "pad": B×4}``)."""
    return {key: value[i] for key, value in batch_meta.items()}


# ------------------------------------------------------------------------------------------------ pipelines
@dataclass(frozen=True)
class TrainTransform:
    """docs/benchmark-protocol.md §3.1 train pipeline: rescale → crop (cat_max_ratio) → h-flip → photometric → normalise → pad."""

    size: tuple[int, int]
    augment: AugmentParams = field(default_factory=AugmentParams)

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f"train.crop_size = {self.size}: expected two positive ints (H, W)")
        lo, hi = self.augment.scale
        if not 0 < lo <= hi:
            raise ValueError(f"train.augment.scale = {self.augment.scale}: expected 0 < min <= max")

    def __call__(self, sample: Sample, rng: np.random.Generator) -> dict[str, Any]:
        original = _original_size(sample)
        sample = random_rescale(sample, rng, self.augment.scale)
        sample = random_crop(sample, rng, self.size, self.augment.cat_max_ratio)
        if self.augment.flip:
            sample = random_hflip(sample, rng)
        image = sample["image"]
        if self.augment.photometric:
            image = PhotometricDistortion()(image, rng)
        sample = {**sample, "image": normalize_image(image)}
        sample, pad = pad_to(sample, self.size)
        return to_batch_item(sample, pad, original)


@dataclass(frozen=True)
class EvalTransform:
    """docs/benchmark-protocol.md §2 test pipeline: normalise → centre-pad, never resize, so predictions crop back to native size.

    Target: ``size`` (H, W) when given (the protocol's 448×576 / 512×512), else the image size rounded up to a
    multiple of ``pad_multiple`` (the encoder stride). Batches of different-size images need ``size``."""

    size: tuple[int, int] | None = None
    pad_multiple: int = 32

    def __post_init__(self) -> None:
        if self.pad_multiple < 1:
            raise ValueError(f"pad_multiple = {self.pad_multiple}: expected a positive int")

    def target(self, height: int, width: int) -> tuple[int, int]:
        if self.size is None:
            m = self.pad_multiple
            return math.ceil(height / m) * m, math.ceil(width / m) * m
        return int(self.size[0]), int(self.size[1])

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> dict[str, Any]:
        h, w = _image_hw(sample)
        target = self.target(h, w)
        if h > target[0] or w > target[1]:
            sid = sample.get("meta", {}).get("id", "?")
            raise ValueError(
                f"eval.pad_to = {tuple(target)}: image {sid!r} is {h}×{w}, larger than the eval pad target "
                "(eval never resizes); set eval.pad_to to at least the largest image size"
            )
        original = _original_size(sample)
        sample = {**sample, "image": normalize_image(sample["image"])}
        sample, pad = pad_to(sample, target)
        return to_batch_item(sample, pad, original)


def sample_seed(seed: int, epoch: int, index: int) -> Sequence[int]:
    """Entropy for the generator of one (seed, epoch, index): reproducible, different per item and per epoch,
    independent of how items are spread over workers."""
    return (int(seed), int(epoch), int(index))
