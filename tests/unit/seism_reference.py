"""Loop-by-loop transcriptions of the edge tools' chain (docs/seism.md §1, step 4, and §2), written for reading,
not for speed: the independent reference the vectorised code in ``mtcontrast.metrics.edges`` is tested against.

* ``loop_seg2bmap``: BSDS ``seg2bmap`` pixel by pixel, with its border rules.
* ``loop_thin``: ``bwmorph(·, 'thin', inf)`` from the documented conditions. Neighbours x1 … x8 run counter-clockwise
  from the east one (x1 = E, x2 = NE, x3 = N, x4 = NW, x5 = W, x6 = SW, x7 = S, x8 = SE; outside the image = 0).
  G1: X_H(p) = 1 with X_H = Σ_{i=1..4} b_i, b_i = 1 iff x_{2i−1} = 0 and (x_{2i} = 1 or x_{2i+1} = 1);
  G2: 2 ≤ min(n1, n2) ≤ 3 with n1 = Σ_k (x_{2k−1} ∨ x_{2k}), n2 = Σ_k (x_{2k} ∨ x_{2k+1});
  G3: (x2 ∨ x3 ∨ ¬x8) ∧ x1 = 0; G3': (x6 ∨ x7 ∨ ¬x4) ∧ x5 = 0 (indices modulo 8).
  Subiteration 1 deletes, in parallel, every pixel meeting G1 ∧ G2 ∧ G3; subiteration 2 every pixel meeting
  G1 ∧ G2 ∧ G3'; the pair repeats until an iteration deletes nothing.
* ``loop_chain_counts``: per threshold B = E > t (or ≥ t), thinned, matched to thin(seg2bmap(G)).
"""

from __future__ import annotations

import numpy as np

from mtcontrast.metrics.edges.bsds import _correspond

_NEIGHBOURS = [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]  # x1 … x8 as (drow, dcol)


def loop_seg2bmap(seg: np.ndarray) -> np.ndarray:
    h, w = seg.shape
    out = np.zeros((h, w), dtype=bool)
    for r in range(h):
        for c in range(w):
            if r == h - 1 and c == w - 1:
                continue  # the bottom-right pixel is never a boundary
            if r == h - 1:
                out[r, c] = seg[r, c] != seg[r, c + 1]  # last row: east only
            elif c == w - 1:
                out[r, c] = seg[r, c] != seg[r + 1, c]  # last column: south only
            else:
                out[r, c] = seg[r, c] != seg[r, c + 1] or seg[r, c] != seg[r + 1, c] or seg[r, c] != seg[r + 1, c + 1]
    return out


def _deletable(x: list[int], second: bool) -> bool:
    """``x[1] … x[8]`` the neighbours (``x[0]`` unused); True when the centre pixel goes in this subiteration."""

    def n(i: int) -> int:
        return x[(i - 1) % 8 + 1]

    x_h = sum(1 for i in range(1, 5) if n(2 * i - 1) == 0 and (n(2 * i) or n(2 * i + 1)))
    n1 = sum(1 for k in range(1, 5) if n(2 * k - 1) or n(2 * k))
    n2 = sum(1 for k in range(1, 5) if n(2 * k) or n(2 * k + 1))
    g1, g2 = x_h == 1, 2 <= min(n1, n2) <= 3
    if second:
        g3 = not ((n(6) or n(7) or not n(4)) and n(5))
    else:
        g3 = not ((n(2) or n(3) or not n(8)) and n(1))
    return g1 and g2 and g3


def _subiteration(image: np.ndarray, second: bool) -> np.ndarray:
    h, w = image.shape
    out = image.copy()
    for r in range(h):
        for c in range(w):
            if not image[r, c]:
                continue
            x = [0] + [
                int(image[r + dr, c + dc]) if 0 <= r + dr < h and 0 <= c + dc < w else 0 for dr, dc in _NEIGHBOURS
            ]
            if _deletable(x, second):
                out[r, c] = False  # decided on ``image``, the state before this subiteration: parallel deletion
    return out


def loop_thin(binary: np.ndarray) -> np.ndarray:
    image = np.asarray(binary, dtype=bool).copy()
    while True:
        thinned = _subiteration(_subiteration(image, second=False), second=True)
        if np.array_equal(thinned, image):
            return image
        image = thinned


def loop_chain_counts(
    edge_map: np.ndarray, gt_labels: np.ndarray, thresholds: np.ndarray, max_dist: float, *, strict: bool
) -> dict[str, np.ndarray]:
    """cntR, sumR, cntP, sumP per threshold: every threshold thresholded, thinned and matched on its own."""
    gt = loop_thin(loop_seg2bmap(np.asarray(gt_labels)))
    rows = []
    for t in thresholds:
        binary = np.zeros(edge_map.shape, dtype=bool)
        for r in range(edge_map.shape[0]):
            for c in range(edge_map.shape[1]):
                value = float(edge_map[r, c])
                binary[r, c] = value > t if strict else value >= t
        binary = loop_thin(binary)
        cnt_p, cnt_r = _correspond(binary.astype(np.float64), gt.astype(np.float64), max_dist, 100.0)
        rows.append((cnt_r, int(gt.sum()), cnt_p, int(binary.sum())))
    cnt_r, sum_r, cnt_p, sum_p = (np.array(col, dtype=np.int64) for col in zip(*rows, strict=True))
    return {"cnt_r": cnt_r, "sum_r": sum_r, "cnt_p": cnt_p, "sum_p": sum_p}


def ods_f(counts: dict[str, np.ndarray]) -> float:
    """odsF (%) of one image's counts: max over t of 2PR / (P + R), P = cntP / sumP, R = cntR / sumR."""
    best = 0.0
    for cnt_r, sum_r, cnt_p, sum_p in zip(counts["cnt_r"], counts["sum_r"], counts["cnt_p"], counts["sum_p"]):
        if sum_r == 0 or sum_p == 0:
            continue
        p, r = cnt_p / sum_p, cnt_r / sum_r
        if p + r > 0:
            best = max(best, 2 * p * r / (p + r))
    return 100.0 * best
