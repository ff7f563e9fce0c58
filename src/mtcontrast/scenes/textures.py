"""Procedural solid textures: the albedo of a surface point from its coordinates in the primitive's own frame.

Textures are 3-D ("solid"), so they need no uv mapping and stay attached to an object whatever its pose. Each
semantic class picks a pattern and a palette, so appearance carries the semantics the way real materials do
(wood grain on furniture, tiles on bathroom floors, folds on curtains, spines on bookshelves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Pattern = Literal["plain", "stripes", "checker", "noise", "grid", "waves", "spots"]


@dataclass(frozen=True)
class Material:
    """Linear-RGB albedos in [0, 1]; ``scale`` = pattern cycles per metre; ``phase`` varies one instance."""

    color: tuple[float, float, float]
    color2: tuple[float, float, float]
    pattern: Pattern = "plain"
    scale: float = 4.0
    phase: float = 0.0


def _hash(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, phase: float) -> np.ndarray:
    """Cheap deterministic per-cell pseudo-random value in [0, 1)."""
    h = np.sin(ix * 12.9898 + iy * 78.233 + iz * 37.719 + phase * 3.7) * 43758.5453
    return h - np.floor(h)


def _noise(p: np.ndarray, scale: float, phase: float) -> np.ndarray:
    """Smooth band-limited noise in [0, 1]: three sinusoids along fixed, phase-dependent directions."""
    out = np.zeros(len(p))
    for k, (a, b) in enumerate(((1.0, 0.37), (0.61, 1.0), (-0.83, 0.52))):
        direction = np.array([np.cos(a + phase), np.sin(b * phase + k), np.sin(a * b + phase)])
        out += np.sin(scale * (k + 1) * 2.1 * (p @ direction) + phase * (k + 2))
    return 0.5 + out / 6.0


def albedo(material: Material, local: np.ndarray) -> np.ndarray:
    """Albedo (N, 3) at ``local`` points (N, 3) in the primitive frame."""
    c1 = np.asarray(material.color)
    c2 = np.asarray(material.color2)
    s, ph = material.scale, material.phase
    x, y, z = local[:, 0], local[:, 1], local[:, 2]
    pattern = material.pattern
    if pattern == "plain":
        w = 0.15 * _noise(local, s, ph)
    elif pattern == "stripes":  # wood grain: warped parallel bands
        w = 0.5 + 0.5 * np.sin(2 * np.pi * s * (x + 0.08 * np.sin(2 * np.pi * s * 0.3 * (y + z) + ph)) + ph)
    elif pattern == "checker":  # tiles
        cells = np.floor(x * s) + np.floor(y * s) + np.floor(z * s)
        w = np.mod(cells, 2.0)
    elif pattern == "noise":  # fabric, foliage, grass
        w = _noise(local, s, ph)
    elif pattern == "grid":  # books on shelves, windows of a bus: random shade per cell
        w = _hash(np.floor(x * s), np.floor(y * s * 0.5), np.floor(z * s), ph)
    elif pattern == "waves":  # curtain folds
        w = 0.5 + 0.5 * np.sin(2 * np.pi * s * (x + z) + ph)
    elif pattern == "spots":  # cow / dalmatian patches
        w = (_noise(local, s, ph) > 0.62).astype(float)
    else:
        raise ValueError(f"unknown texture pattern {pattern!r}")
    return c1 + w[:, None] * (c2 - c1)


def jitter(
    rng: np.random.Generator, color: tuple[float, float, float], amount: float = 0.12
) -> tuple[float, float, float]:
    """Per-instance colour variation (multiplicative, per channel), so a class has a colour distribution."""
    c = np.clip(np.asarray(color) * (1.0 + rng.uniform(-amount, amount, 3)), 0.0, 1.0)
    return (float(c[0]), float(c[1]), float(c[2]))


def make_material(
    rng: np.random.Generator,
    palette: list[tuple[float, float, float]],
    pattern: Pattern = "plain",
    scale: float = 4.0,
    contrast: float = 0.35,
) -> Material:
    """A material whose base colour comes from ``palette`` (jittered) and whose pattern colour is a darker or
    lighter shade of it (``contrast`` = relative difference)."""
    base = jitter(rng, palette[int(rng.integers(len(palette)))])
    factor = 1.0 - contrast if rng.random() < 0.7 else 1.0 + contrast
    r, g, b = (float(v) for v in np.clip(np.asarray(base) * factor, 0.0, 1.0))
    return Material(base, (r, g, b), pattern, scale * float(rng.uniform(0.8, 1.25)), float(rng.uniform(0, 2 * np.pi)))
