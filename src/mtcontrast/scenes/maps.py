"""Label maps derived from the rendered id maps: 1-px edges, the VOC void band, sensor-like depth holes, saliency."""

from __future__ import annotations

import cv2
import numpy as np


def boundary_edges(instances: np.ndarray) -> np.ndarray:
    """uint8 {0, 1}: pixels whose right or lower neighbour belongs to another instance (a 1-px contour)."""
    edge = np.zeros(instances.shape, dtype=bool)
    edge[:, :-1] |= instances[:, :-1] != instances[:, 1:]
    edge[:-1, :] |= instances[:-1, :] != instances[1:, :]
    return edge.astype(np.uint8)


def void_band(instances: np.ndarray, is_object: np.ndarray, width: int) -> np.ndarray:
    """bool mask of the VOC-style void band: ``width`` px straddling every contour between two instances where at
    least one side is an object (``is_object`` per pixel); stuff–stuff boundaries stay labelled, as in VOC."""
    band = np.zeros(instances.shape, dtype=bool)
    dh = (instances[:, :-1] != instances[:, 1:]) & (is_object[:, :-1] | is_object[:, 1:])
    dv = (instances[:-1, :] != instances[1:, :]) & (is_object[:-1, :] | is_object[1:, :])
    band[:, :-1] |= dh
    band[:, 1:] |= dh
    band[:-1, :] |= dv
    band[1:, :] |= dv
    radius = max(0, (width - 1) // 2)  # the straddling contour is already 2 px wide
    if radius:
        kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
        band = cv2.dilate(band.astype(np.uint8), kernel).astype(bool)
    return band


def depth_holes(rng: np.random.Generator, shape: tuple[int, int], fraction: float, specular: np.ndarray) -> np.ndarray:
    """bool mask of exactly ``round(fraction · H · W)`` invalid depth pixels: ragged blobs at random places, and
    preferably on ``specular`` pixels (mirrors, windows, screens), where structured-light sensors fail."""
    h, w = shape
    count = int(round(fraction * h * w))
    holes = np.zeros(h * w, dtype=bool)
    if count == 0:
        return holes.reshape(shape)
    n_blobs = int(rng.integers(3, 8))
    centers = np.stack([rng.uniform(0, h, n_blobs), rng.uniform(0, w, n_blobs)], axis=1)
    spec_pix = np.flatnonzero(specular.ravel())
    if len(spec_pix):
        picks = rng.choice(spec_pix, size=min(len(spec_pix), int(rng.integers(1, 3))), replace=False)
        centers = np.concatenate([centers, np.stack([picks // w + 0.5, picks % w + 0.5], axis=1)])
    radii = rng.uniform(0.5, 1.5, len(centers)) * np.sqrt(h * w) / 20.0
    rows = np.arange(h)[:, None, None] + 0.5
    cols = np.arange(w)[None, :, None] + 0.5
    dist = np.sqrt((rows - centers[:, 0]) ** 2 + (cols - centers[:, 1]) ** 2) / radii
    potential = dist.min(axis=2) + 0.35 * rng.random((h, w))
    potential[specular] *= 0.6
    holes[np.argpartition(potential.ravel(), count - 1)[:count]] = True
    return holes.reshape(shape)


def saliency_map(objects: np.ndarray, salient: list[int]) -> np.ndarray:
    """float32 in [0, 1]: 1 on the salient object ids, softened over a 3×3 window like a distilled network output."""
    mask = np.isin(objects, salient).astype(np.float32)
    return np.clip(cv2.blur(mask, (3, 3)), 0.0, 1.0)
