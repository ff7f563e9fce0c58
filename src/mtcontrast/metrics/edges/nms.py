"""Vectorised port of the SEISM "nms" edge reader (prismformore/Boundary-Detection-Evaluation-Tools
``read_one_cont_png.m``), built on Piotr Dollár's toolbox (BSD licence):

    E = im2single(png)                                    % the uint8 export / 255
    [Ox, Oy] = gradient2(convTri(E, 4))
    [Oxx, ~] = gradient2(Ox); [Oxy, Oyy] = gradient2(Oy)
    O = mod(atan(Oyy .* sign(-Oxy) ./ (Oxx + 1e-5)), pi)
    E = edgesNmsMex(E, O, 1, 5, 1.01, 1)                  % r = 1, s = 5, m = 1.01
    E > t                                                 % per threshold, done by the caller

Everything runs in float32 like the MATLAB/mex original. ``edges_nms`` follows ``edgesNmsMex.cpp`` operation by
operation (bilinear samples at ±d along the orientation, clamped to [0, w − 1.001] × [0, h − 1.001]; a pixel is
zeroed when m·E < a sample; then the linear fade over the ``s`` pixels nearest each border), but over whole
arrays instead of a pixel loop. It agrees with pyEdgeEval's C++ port of the kernel to float32 rounding.

Blind spot kept from the original: where Oxy is exactly 0 (a ridge exactly constant along x, e.g. a synthetic
horizontal line), sign(−Oxy) = 0 gives O = 0, the samples lie along the ridge, and nothing is suppressed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def conv_tri(image: np.ndarray, r: float) -> np.ndarray:
    """``convTri(I, r)``: separable triangle filter with symmetric ('reflect' in scipy) borders.

    r ≥ 1 (integer): f = [1 … r, r+1, r … 1] / (r+1)²; 0 < r < 1: f = [1 p 1]/(2+p) with p = 12/r/(r+2) − 2.
    """
    if r == 0:
        return image
    if r < 1:
        p = 12.0 / r / (r + 2.0) - 2.0
        f = np.array([1.0, p, 1.0]) / (2.0 + p)
    else:
        r = int(r)
        f = np.concatenate([np.arange(1, r + 2), np.arange(r, 0, -1)]) / float((r + 1) ** 2)
    out = ndimage.correlate1d(image, f, axis=1, mode="reflect")  # along x first, as convn(J, f) then f'
    return ndimage.correlate1d(out, f, axis=0, mode="reflect")


def gradient2(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[Gx, Gy] = gradient2(I)``: central differences inside, one-sided at the borders (x = columns)."""
    gy, gx = np.gradient(image)
    return gx, gy


def edge_orientation(edges: np.ndarray, r: int = 4) -> np.ndarray:
    """Orientation in [0, π) of the edge through each pixel, from second derivatives of convTri(E, r)."""
    ox, oy = gradient2(conv_tri(edges, r))
    oxx, _ = gradient2(ox)
    oxy, oyy = gradient2(oy)
    with np.errstate(divide="ignore", invalid="ignore"):
        ori = np.mod(np.arctan(oyy * np.sign(-oxy) / (oxx + np.float32(1e-5))), np.float32(np.pi))
    return np.nan_to_num(ori, nan=0.0).astype(np.float32)  # 0/0 (flat map) → 0, where the C code is undefined


def _interp(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear sample of ``image`` at float32 (x, y), clamped as ``interp`` in edgesNmsMex.cpp."""
    h, w = image.shape
    # The C code compares the float coordinate with the double w − 1.001, then stores it back as float.
    x = np.where(x < 0, np.float32(0), np.where(x.astype(np.float64) > w - 1.001, np.float32(w - 1.001), x))
    y = np.where(y < 0, np.float32(0), np.where(y.astype(np.float64) > h - 1.001, np.float32(h - 1.001), y))
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    dx0, dy0 = x - x0.astype(np.float32), y - y0.astype(np.float32)
    dx1, dy1 = np.float32(1) - dx0, np.float32(1) - dy0
    x1 = np.minimum(x0 + 1, w - 1)  # only reached with weight 0 (x ≤ w − 1.001 keeps x0 + 1 ≤ w − 1 anyway)
    y1 = np.minimum(y0 + 1, h - 1)
    return image[y0, x0] * dx1 * dy1 + image[y0, x1] * dx0 * dy1 + image[y1, x0] * dx1 * dy0 + image[y1, x1] * dx0 * dy0


def edges_nms(edges: np.ndarray, ori: np.ndarray, r: int = 1, s: int = 5, m: float = 1.01) -> np.ndarray:
    """``edgesNmsMex(E, O, r, s, m)``: suppress pixels not maximal across the edge, then fade the borders."""
    e0 = np.ascontiguousarray(edges, dtype=np.float32)
    ori = np.asarray(ori, dtype=np.float32)
    h, w = e0.shape
    cos_o, sin_o = np.cos(ori), np.sin(ori)
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    e = e0 * np.float32(m)
    keep = e0 != 0
    for d in range(-r, r + 1):
        if d:
            fd = np.float32(d)
            keep &= ~(e < _interp(e0, xs + fd * cos_o, ys + fd * sin_o))
    out = np.where(keep, e0, np.float32(0))
    s = min(s, w // 2, h // 2)
    if s > 0:
        ramp = np.arange(s, dtype=np.float32) / np.float32(s)
        col = np.ones(w, np.float32)
        col[:s] = ramp
        col[w - s :] = np.minimum(col[w - s :], ramp[::-1])
        row = np.ones(h, np.float32)
        row[:s] = ramp
        row[h - s :] = np.minimum(row[h - s :], ramp[::-1])
        out = out * col[None, :]  # columns first, then rows: the order of the C loops
        out = out * row[:, None]
    return out


def seism_nms(prob: np.ndarray) -> np.ndarray:
    """The reader's chain on an edge probability map (already quantised to k/255 when mirroring the PNG)."""
    edges = np.asarray(prob, dtype=np.float32)
    return edges_nms(edges, edge_orientation(edges, 4), r=1, s=5, m=1.01)
