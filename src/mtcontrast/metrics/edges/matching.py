"""BSDS's pixel-correspondence problem, built in NumPy and solved by SciPy: the counts of ``correspondPixels`` up to
its random outlier graph, in about a tenth of its time per NYUD-size image (``benchmarks/bench_odsf.py``).

What BSDS solves (``matchEdgeMaps`` in the BSDS / pyEdgeEval C++ code, run by SEISM, docs/seism.md §1 step 4). Nodes
are the *matchable* pixels only (those with a pixel of the other map within maxDist): n1 predicted, n2 GT. One
assignment problem of size n = n1 + n2 on each side: left = the n1 predicted pixels + n2 outlier nodes (one per
GT pixel), right = the n2 GT pixels + n1 outlier nodes. Edges:

* real: a predicted and a GT pixel with du² + dv² ≤ maxDist² (cost: 100 · distance, rounded);
* outlier: each predicted pixel to ``min(6, n1 − 1)`` distinct random outlier nodes of the right side, other than
  its own index; each GT pixel from ``min(6, n2 − 1)`` random outlier nodes of the left side, likewise;
* outlier–outlier: each outlier node of the larger outlier set to ``min(6, n1, n2)`` random nodes of the smaller;
* overlay: pixel i to its own outlier node, cost 100 × the outlier cost, so that a perfect assignment exists.

All outlier edges cost ``ow = ceil(100 · outlierCost)``, with outlierCost = 100 · maxDist (pyEdgeEval's wrapper). A
perfect assignment with k real pairs and v overlay edges costs ``Σ distances + ow · (n − k) + 99 · ow · v``: the
solver maximises k first, then avoids overlay edges, and the distances only break ties (an extra pair saves ``ow``
= 100 · 100 · maxDist, more than any rerouting of a few pairs can cost). The four counts only see k (cntR = cntP =
k).

Why the random graph matters: k is the largest number of real pairs for which the *leftover* nodes can still be
assigned through the sparse outlier edges. An outlier node that draws few edges can force a pair apart, so BSDS
returns the maximum matching within maxDist or a few pairs less (≈ 0.1–0.2 % on network-like maps, more than the
run-to-run noise of its draws; docs/seism.md §5). A matcher without that graph scores systematically higher.

What this module does: builds exactly that graph (same node sets, degrees, exclusions and overlay), draws the
random edges with NumPy from a fixed seed per call (``k_of_n``: uniform k-subsets, as BSDS's ``kOfN``), and solves
it with SciPy's ``min_weight_full_bipartite_matching`` (LAPJVsp). Costs are 1 per real, 2 per outlier and 101 per
overlay edge: the same order of priorities (k first, then no overlay) without the distance tie-break, which is
what makes LAPJVsp fast here; k is unchanged (checked against BSDS's own costs in
tests/unit/test_odsf_matcher.py). The draws differ from BSDS's C++ generator, so single counts differ by the same
few pixels as two BSDS seeds do; ``benchmarks/bench_odsf.py`` puts ODS / OIS / AP of both side by side with the
BSDS seed spread.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

DEGREE = 6  # BSDS's degree of outlier connections
REAL_COST, OUTLIER_COST, OVERLAY_COST = 1.0, 2.0, 101.0  # BSDS's priorities: pairs first, then no overlay edge


def disk_offsets(max_dist_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets (dv, du) of BSDS's search window: every integer offset with du² + dv² ≤ maxDist²."""
    r = int(np.ceil(max_dist_px))
    dv, du = np.mgrid[-r : r + 1, -r : r + 1]
    keep = (du * du + dv * dv) <= max_dist_px * max_dist_px
    return dv[keep].astype(np.intp), du[keep].astype(np.intp)


def k_of_n(rng: np.random.Generator, rows: int, k: int, n: int) -> np.ndarray:
    """``rows`` × ``k`` draws, each row a uniform k-subset of ``range(n)`` (BSDS's ``kOfN``; order irrelevant)."""
    if not 0 <= k <= n:
        raise ValueError(f"cannot draw {k} distinct values from {n}")
    if k == 0 or rows == 0:
        return np.zeros((rows, k), dtype=np.int64)
    if n <= 4 * k:  # small pools: a random permutation per row
        return np.argsort(rng.random((rows, n)), axis=1)[:, :k]
    out = rng.integers(0, n, size=(rows, k))
    while True:  # redraw the rows with a repeated value (rare for n ≫ k); uniform over k-subsets
        ordered = np.sort(out, axis=1)
        bad = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
        if bad.size == 0:
            return out
        out[bad] = rng.integers(0, n, size=(bad.size, k))


def _dense(index: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """``index`` renumbered 0..m-1 over the m distinct values it uses (order kept), and m."""
    used = np.zeros(n, dtype=bool)
    used[index] = True
    return (np.cumsum(used) - 1)[index], int(used.sum())


def bsds_graph(
    pred: np.ndarray,
    gt: np.ndarray,
    n_pred: int,
    n_gt: int,
    rng: np.random.Generator,
    costs: tuple[np.ndarray | float, float, float] = (REAL_COST, OUTLIER_COST, OVERLAY_COST),
) -> tuple[csr_matrix, int, int]:
    """BSDS's assignment graph (module docstring) for the real edges (pred[e], gt[e]) within maxDist.

    ``pred`` / ``gt``: pixel indices of each real edge (no pair twice) among ``n_pred`` / ``n_gt`` pixels;
    ``costs``: of a real edge (a scalar or one per edge), an outlier and an overlay edge; BSDS's own are 100 ·
    distance, ``ow`` and 100 · ``ow`` (same k, tested). Returns the n × n biadjacency, n1 and n2. Rows: the n2
    outlier nodes of the GT pixels, then the n1 matchable predicted pixels; columns: the n2 matchable GT pixels,
    then the n1 outlier nodes of the predicted pixels. So the overlay is the diagonal, and LAPJVsp meets the
    outlier rows first, an order it solves faster than the other one (same k).
    """
    p, n1 = _dense(pred, n_pred)  # matchable pixels only, as BSDS
    g, n2 = _dense(gt, n_gt)
    d1, d2, d3 = max(0, min(DEGREE, n1 - 1)), max(0, min(DEGREE, n2 - 1)), min(DEGREE, n1, n2)
    n = n1 + n2
    real, outlier, overlay = costs
    rows, cols, cost = [n2 + p], [g], [np.broadcast_to(np.asarray(real, dtype=np.float64), p.shape)]
    own = np.arange(n1)[:, None]
    pick = k_of_n(rng, n1, d1, n1 - 1)  # predicted pixel → outlier nodes of other predicted pixels
    rows.append(np.broadcast_to(n2 + own, pick.shape).ravel())
    cols.append(n2 + (pick + (pick >= own)).ravel())
    own = np.arange(n2)[:, None]
    pick = k_of_n(rng, n2, d2, n2 - 1)  # outlier nodes of other GT pixels → GT pixel
    rows.append((pick + (pick >= own)).ravel())
    cols.append(np.broadcast_to(own, pick.shape).ravel())
    pick = k_of_n(rng, max(n1, n2), d3, min(n1, n2))  # each node of the larger outlier set → the smaller
    larger = np.broadcast_to(np.arange(max(n1, n2))[:, None], pick.shape).ravel()
    rows.append(larger if n1 < n2 else pick.ravel())
    cols.append(n2 + (pick.ravel() if n1 < n2 else larger))
    cost.append(np.full(d1 * n1 + d2 * n2 + pick.size, outlier))
    rows.append(np.arange(n))  # the overlay: each pixel to its own outlier node
    cols.append(np.arange(n))
    cost.append(np.full(n, overlay))
    graph = csr_matrix((np.concatenate(cost), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return graph, n1, n2


def real_pairs(matched: np.ndarray, n2: int) -> int:
    """k of an assignment of ``bsds_graph`` (``matched[row]`` = its column): predicted rows on GT columns."""
    return int(np.count_nonzero(matched[n2:] < n2))


def bsds_assignment_count(pred: np.ndarray, gt: np.ndarray, n_pred: int, n_gt: int, rng: np.random.Generator) -> int:
    """k, the number of real pairs in a minimum-cost perfect assignment of ``bsds_graph``."""
    if pred.size == 0:
        return 0
    graph, _, n2 = bsds_graph(pred, gt, n_pred, n_gt, rng)
    return real_pairs(min_weight_full_bipartite_matching(graph)[1], n2)


class GtNeighbourhood:
    """The GT pixels of one image and, per GT pixel, the padded flat positions of its search window.

    Built once per image (the GT does not change across thresholds), so each threshold only costs one gather.
    """

    def __init__(self, gt: np.ndarray, max_dist_px: float) -> None:
        gt_map = np.asarray(gt, dtype=bool)
        if gt_map.ndim != 2:
            raise ValueError(f"GT boundary map must be 2-D; got shape {gt_map.shape}")
        self.shape = gt_map.shape
        self.radius = int(np.ceil(max_dist_px))
        self.padded_width = self.shape[1] + 2 * self.radius
        gy, gx = np.nonzero(gt_map)
        self.n_gt = int(gy.size)
        dv, du = disk_offsets(max_dist_px)
        centre = (gy + self.radius) * self.padded_width + (gx + self.radius)
        self.window = (dv * self.padded_width + du)[:, None] + centre[None, :]  # (offsets, GT pixels)
        self.rows = np.broadcast_to(np.arange(self.n_gt, dtype=np.int64)[None, :], self.window.shape)

    def edges(self, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """(predicted index, GT index) of every pair within maxDist, and the number of predicted pixels."""
        binary = np.asarray(pred, dtype=bool)
        if binary.shape != self.shape:
            raise ValueError(f"prediction shape {binary.shape} differs from the GT's {self.shape}")
        py, px = np.nonzero(binary)
        r = self.radius
        index = np.full((self.shape[0] + 2 * r, self.padded_width), -1, dtype=np.int64)
        index[py + r, px + r] = np.arange(py.size)
        hit = index.ravel()[self.window]
        found = hit >= 0
        return hit[found], self.rows[found], int(py.size)

    def match_count(self, pred: np.ndarray, seed: int) -> int:
        """k of BSDS's assignment between ``pred`` and the GT, its random outlier graph drawn from ``seed``."""
        pred_idx, gt_idx, n_pred = self.edges(pred)
        return bsds_assignment_count(pred_idx, gt_idx, n_pred, self.n_gt, np.random.default_rng(seed))
