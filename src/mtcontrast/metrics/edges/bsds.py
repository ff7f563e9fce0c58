"""BSDS-style edge evaluation as SEISM runs it: pixel correspondence, per-image counts, ODS / OIS / AP.

The chain per image and threshold t (docs/seism.md §1, SEISM HEAD ``eval_cont`` → ``edgesEvalImg`` with its default
``thin = 1``):

1. prediction: B_t = NMS(E) > t (nms reader, strict) or E ≥ t (plain reader), then thinned to 1 px with
   ``bwmorph(B_t, 'thin', inf)`` (``bmap.thin``; ``EdgeMeter(thin=False)`` skips this step, as
   ``edgesEvalImg(..., 'thin', 0)`` would);
2. GT: the label image G (NYUD: the edge map read as a label image) becomes ``thin(seg2bmap(G))``
   (``bmap.gt_boundaries``), whatever ``thin`` says, as in ``edgesEvalImg``;
3. BSDS's ``correspondPixels`` (maxDist as a fraction of the image diagonal, outlier cost 100) gives four counts:
   cntR (matched GT pixels), sumR (GT pixels), cntP (matched predicted pixels), sumP (predicted pixels, after
   thinning). Two implementations of its assignment problem (``matcher``): ``"fast"`` (default), the same graph
   built in NumPy and solved by SciPy (``matching.py``), and ``"bsds"``, pyEdgeEval's Cython build of the BSDS C++
   code. Both draw a random outlier graph from ``MATCHER_SEED`` before each call (``_matcher`` reseeds the C++
   generator); their results agree within the BSDS matcher's seed-to-seed noise (``benchmarks/bench_odsf.py``).

From the counts (SEISM ``gather_measure`` / ``general_ods`` / ``general_ois`` / ``general_ap``):

* ODS: counts summed over images per t → P, R → F = 2PR/(P+R); odsF = max over t (no interpolation, unlike the
  BSDS benchmark). Special cases: sumR = 0 ∧ cntP = 0 → (R, P) = (1, 0); sumP = 0 ∧ cntR = 0 → (0, 1).
* OIS: per image the t of its best F (first on ties), the counts at those t summed, then F.
* AP: unique recalls (first occurrence, as MATLAB ``unique``), linear interpolation of P at R = 0:0.01:1 inside
  the observed recall range, sum / 100.

Counts are kept per image (N×T arrays) so OIS works after a merge, and a merge is a concatenation.

The BSDS assignment is approximate: outlier nodes are linked by a sparse random graph (6 edges per node), and an
outlier node that draws no edge keeps one real pair apart, about e^-6 ≈ 0.25 % of the pixels. Even a perfect
prediction then scores ~99.7 at NYUD size, in SEISM as here, with either matcher.

How this implementation was checked (tests/unit/test_odsf.py, tests/unit/test_edge_bmap.py): ``thin`` equals a
loop-by-loop transcription of the documented ``bwmorph`` thinning conditions on random images and hand-computed
cases (2-px ridges, plateaus, an L corner); ``seg2bmap`` follows the BSDS border rules on hand-made label images;
odsF of a small fixed case equals an independent, loop-based re-implementation of the whole chain and is pinned;
a perfect prediction scores odsF = oisF = 100 (a short line; larger ones lose the matcher's ~0.25 %); a 1-px
shifted line matches within maxDist, a 2-px shift does not; with thinning off, the plain variant's counts equal
pyEdgeEval's own ``evaluate_boundaries_threshold`` (same RNG seed, same GT map) on synthetic network-like maps;
``conv_tri`` equals pyEdgeEval's port of the MATLAB code and ``edges_nms`` its C++ NMS kernel; NMS of a blurred
vertical, diagonal or textured horizontal line leaves a 1-px line; ODS / OIS / AP match hand computations on a
count table; the PNG export scored again gives the same counts.
Assumption not checked against MATLAB: SEISM compares the single-precision NMS map with the double threshold in
double precision (the map value is promoted), which decides the ties E = t at t = 0.2, 0.4, 0.6, 0.8.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mtcontrast.metrics.base import IMAGE_PREFIX, ImageFields, Meter, check_same_shape, squeeze_map
from mtcontrast.metrics.edges.bmap import gt_boundaries, thin
from mtcontrast.metrics.edges.export import export_edge_png, quantize_prob
from mtcontrast.metrics.edges.matching import GtNeighbourhood
from mtcontrast.metrics.edges.nms import seism_nms

# SEISM parameters/HED.txt (nms reader) and MTL-PyTorch's default 0.01..0.99 (plain reader).
HED_THRESHOLDS = np.array([0.001, *(np.arange(1, 100) / 100.0), 0.999])
PLAIN_THRESHOLDS = np.arange(1, 100) / 100.0
OUTLIER_COST = 100.0
COUNT_KEYS = ("cnt_r", "sum_r", "cnt_p", "sum_p")


MATCHERS = ("fast", "bsds")  # EdgeMeter's default first


def check_matcher(matcher: str) -> None:
    """Reject an unknown ``matcher`` by name (the two are described in ``threshold_counts``)."""
    if matcher not in MATCHERS:
        raise ValueError(f"edge matcher must be one of {MATCHERS}; got {matcher!r}")


MATCHER_SEED = 1  # any non-zero value; 0 would mean "seed from the clock" to the BSDS Random class


@functools.cache
def _matcher() -> tuple[Callable[..., Any], Callable[[], None] | None]:
    """pyEdgeEval's ``correspond_pixels`` and a function that reseeds the BSDS matcher's global RNG.

    ``matchEdgeMaps`` draws its sparse outlier connections from a global, clock-seeded ``Random::rand``, so the
    counts of one map pair vary by a pixel or two between calls and between runs (in MATLAB as well). Reseeding
    that generator before every call (through the C++ symbols of the extension module) makes each image's counts
    a pure function of its two maps, which makes results reproducible and merges exact.
    """
    import pyEdgeEval._lib  # noqa: F401  (loads the extension module)

    module = sys.modules["pyEdgeEval._lib.correspond_pixels"]
    try:
        lib = ctypes.CDLL(module.__file__)
        generator = ctypes.addressof(ctypes.c_char.in_dll(lib, "_ZN6Random4randE"))
        reseed = lib._ZN6Random6reseedEm  # void Random::reseed(uint64 seed), called on Random::rand
        reseed.argtypes, reseed.restype = [ctypes.c_void_p, ctypes.c_uint64], None
    except (OSError, AttributeError, ValueError):
        warnings.warn(
            "cannot reseed the BSDS matcher's RNG in this pyEdgeEval build; edge counts may vary by a pixel "
            "between runs",
            RuntimeWarning,
            stacklevel=2,
        )
        return module.correspond_pixels, None
    return module.correspond_pixels, lambda: reseed(generator, MATCHER_SEED)


def _correspond(binary: np.ndarray, gt: np.ndarray, max_dist: float, outlier_cost: float) -> tuple[int, int]:
    correspond_pixels, reseed = _matcher()
    if reseed is not None:
        reseed()
    match_pred, match_gt, _, _ = correspond_pixels(binary, gt, max_dist=max_dist, outlier_cost=outlier_cost)
    return int(np.count_nonzero(match_pred > 0)), int(np.count_nonzero(match_gt > 0))


def threshold_counts(
    edge_map: np.ndarray,
    gt: np.ndarray,
    thresholds: np.ndarray,
    max_dist: float,
    *,
    strict: bool,
    thin_pred: bool = True,
    outlier_cost: float = OUTLIER_COST,
    matcher: str = "fast",
) -> dict[str, np.ndarray]:
    """cntR, sumR, cntP, sumP (int64, one per threshold) of one image.

    ``edge_map`` is compared in float64 (``> t`` when ``strict``, else ``≥ t``) and, when ``thin_pred``, each
    binary map is thinned to 1 px (``bmap.thin``) before counting and matching, as ``edgesEvalImg`` does with
    ``thin = 1``. ``gt`` is the binary boundary map that gets matched, used as given (``EdgeMeter`` passes
    ``thin(seg2bmap(G))``). ``thresholds`` ascending. The binary maps are nested, so a threshold that selects as
    many pixels as the previous one has the same map and reuses its counts, and empty maps skip the matcher.
    ``matcher``: ``"fast"`` builds BSDS's assignment problem, random outlier graph included, in NumPy and solves it
    with SciPy (``matching.py``, its draws seeded by ``MATCHER_SEED``); ``"bsds"`` calls pyEdgeEval's build of the
    BSDS C++ ``correspondPixels`` (reseeded with ``MATCHER_SEED``). They agree within the BSDS matcher's own
    seed-to-seed noise (``benchmarks/bench_odsf.py``); ``"fast"`` takes ~1/10 of the time at NYUD size.
    """
    check_matcher(matcher)
    values = np.asarray(edge_map, dtype=np.float64)
    gt_map = np.asarray(gt, dtype=bool)
    t = np.asarray(thresholds, dtype=np.float64)
    n_t = t.size
    ordered = np.sort(values, axis=None)
    n_pos = ordered.size - np.searchsorted(ordered, t, side="right" if strict else "left")
    out = {key: np.zeros(n_t, dtype=np.int64) for key in COUNT_KEYS}
    n_gt = int(np.count_nonzero(gt_map))
    out["sum_r"][:] = n_gt
    gt_f = gt_map.astype(np.float64)
    if matcher == "fast" and n_gt:
        neighbourhood = GtNeighbourhood(gt_map, max_dist * float(np.hypot(*gt_map.shape)))
    last_n = -1
    for i in range(n_t):
        if n_pos[i] == 0:
            continue
        if n_pos[i] == last_n:
            for key in ("cnt_p", "cnt_r", "sum_p"):
                out[key][i] = out[key][i - 1]
            continue
        binary = (values > t[i]) if strict else (values >= t[i])
        if thin_pred:
            binary = thin(binary)
        out["sum_p"][i] = int(np.count_nonzero(binary))
        if n_gt and matcher == "fast":
            out["cnt_p"][i] = out["cnt_r"][i] = neighbourhood.match_count(binary, MATCHER_SEED)
        elif n_gt:  # without GT edges there is nothing to match: precision counts only the false positives
            out["cnt_p"][i], out["cnt_r"][i] = _correspond(binary.astype(np.float64), gt_f, max_dist, outlier_cost)
        last_n = int(n_pos[i])
    return out


def _f_measure(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    denom = precision + recall
    return np.where(denom > 0, 2.0 * precision * recall / np.where(denom > 0, denom, 1.0), 0.0)


def image_precision_recall(counts: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """SEISM ``eval_cont`` / ``general_ois`` rules: sumR = 0 → (P, R) = (0, 1); sumP = 0 → (1, 0)."""
    cnt_r, sum_r, cnt_p, sum_p = (np.asarray(counts[k], dtype=np.float64) for k in COUNT_KEYS)
    no_gt, no_pred = sum_r == 0, sum_p == 0
    recall = np.where(no_gt, 1.0, np.where(no_pred, 0.0, cnt_r / np.where(no_gt, 1.0, sum_r)))
    precision = np.where(no_gt, 0.0, np.where(no_pred, 1.0, cnt_p / np.where(no_pred, 1.0, sum_p)))
    return precision, recall


def pooled_precision_recall(counts: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """SEISM ``gather_measure`` rules on counts already summed over images (one value per threshold)."""
    cnt_r, sum_r, cnt_p, sum_p = (np.asarray(counts[k], dtype=np.float64) for k in COUNT_KEYS)
    precision, recall = np.zeros_like(sum_p), np.zeros_like(sum_p)
    case = (sum_r == 0) & (cnt_p == 0)
    recall[case], precision[case] = 1.0, 0.0
    case = (sum_p == 0) & (cnt_r == 0)
    recall[case], precision[case] = 0.0, 1.0
    case = (sum_p != 0) & (cnt_r != 0)
    recall[case], precision[case] = cnt_r[case] / sum_r[case], cnt_p[case] / sum_p[case]
    return precision, recall


def seism_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """``general_ap``: precision interpolated at recall 0:0.01:1 within the observed range, summed / 100."""
    uniq, first = np.unique(recall, return_index=True)
    if uniq.size < 2:
        return 0.0
    grid = np.linspace(0.0, 1.0, 101)
    inside = (grid >= uniq[0]) & (grid <= uniq[-1])
    return float(np.interp(grid[inside], uniq, precision[first]).sum() / 100.0)


def summarize(per_image: dict[str, np.ndarray], thresholds: np.ndarray) -> dict[str, float]:
    """ODS / OIS / AP (in %) and the ODS operating point from N×T per-image counts."""
    pooled = {key: per_image[key].sum(axis=0) for key in COUNT_KEYS}
    precision, recall = pooled_precision_recall(pooled)
    f = _f_measure(precision, recall)
    best = int(np.argmax(f))
    p_img, r_img = image_precision_recall(per_image)
    pick = np.argmax(_f_measure(p_img, r_img), axis=1)
    rows = np.arange(len(pick))
    ois = {key: np.asarray([per_image[key][rows, pick].sum()]) for key in COUNT_KEYS}
    p_ois, r_ois = image_precision_recall(ois)
    return {
        "odsf": 100.0 * float(f[best]),
        "oisf": 100.0 * float(_f_measure(p_ois, r_ois)[0]),
        "ap": 100.0 * seism_ap(precision, recall),
        "ods_threshold": float(thresholds[best]),
        "ods_precision": 100.0 * float(precision[best]),
        "ods_recall": 100.0 * float(recall[best]),
    }


class EdgeMeter(Meter):
    """odsF / oisF / AP of edge probability maps against binary GT edges (see the module docstring).

    ``max_dist``: fraction of the image diagonal (``DatasetSpec.edge_max_dist``: 0.011 NYUD, 0.0075 PASCAL).
    ``nms``: the SEISM "nms" reader (default) with the 101 HED thresholds and ``> t``; else the "plain" reader,
    ``≥ t`` over 0.01..0.99. ``thin``: thin each thresholded prediction to 1 px, ``edgesEvalImg``'s default
    (params ``eval.edge_thin``); the GT is ``thin(seg2bmap(gt))`` either way, ``gt`` read as a label image.
    ``gt_kind``: ``"binary"`` (default) accepts {0, 1} edge maps only; ``"labels"`` any integer label image, e.g.
    PASCAL's ``LabelMap`` (params ``eval.edge_gt``, docs/seism.md §1 step 2).
    ``quantize``: score the uint8 export's values k/255, exactly what SEISM reads.
    ``export_dir``: also write each prediction as ``<export_dir>/edge/<id>.png`` (SEISM export mode).
    ``matcher``: ``"fast"`` (default, ``matching.py``) or ``"bsds"`` (the C++ ``correspondPixels`` SEISM calls);
    the same assignment problem, see ``threshold_counts``. ``outlier_cost`` is passed to ``"bsds"`` only; ``"fast"``
    keeps BSDS's priorities for its default of 100.
    """

    def __init__(
        self,
        max_dist: float,
        *,
        nms: bool = True,
        thin: bool = True,
        thresholds: np.ndarray | list[float] | None = None,
        quantize: bool = True,
        export_dir: str | Path | None = None,
        outlier_cost: float = OUTLIER_COST,
        gt_kind: str = "binary",
        matcher: str = "fast",
    ) -> None:
        if gt_kind not in ("binary", "labels"):
            raise ValueError(f"gt_kind must be 'binary' or 'labels'; got {gt_kind!r}")
        self.gt_kind = gt_kind
        if not 0 < max_dist < 1:
            raise ValueError(f"max_dist is a fraction of the image diagonal in (0, 1); got {max_dist}")
        self.max_dist = float(max_dist)
        self.nms = bool(nms)
        self.thin = bool(thin)
        default = HED_THRESHOLDS if self.nms else PLAIN_THRESHOLDS
        self.thresholds = np.asarray(default if thresholds is None else thresholds, dtype=np.float64)
        if self.thresholds.ndim != 1 or self.thresholds.size == 0 or np.any(np.diff(self.thresholds) <= 0):
            raise ValueError("edge thresholds must be a non-empty strictly increasing 1-D sequence")
        self.quantize = bool(quantize)
        self.export_dir = Path(export_dir) if export_dir is not None else None
        self.outlier_cost = float(outlier_cost)
        check_matcher(matcher)
        self.matcher = matcher
        super().__init__()

    def config(self) -> dict[str, Any]:
        """Scoring configuration (``export_dir`` excluded: a merged meter exports nothing)."""
        return {
            "max_dist": self.max_dist,
            "nms": self.nms,
            "thin": self.thin,
            "thresholds": self.thresholds,
            "quantize": self.quantize,
            "outlier_cost": self.outlier_cost,
            "gt_kind": self.gt_kind,
            "matcher": self.matcher,
        }

    def _empty_sums(self) -> dict[str, np.ndarray]:
        return {}

    def _image_fields(self) -> ImageFields:
        return {key: ((self.thresholds.size,), np.int64) for key in COUNT_KEYS}

    def update(self, pred: np.ndarray, gt: np.ndarray, *, id: str | None = None) -> None:
        if self.export_dir is not None:
            if id is None:
                raise ValueError("EdgeMeter with export_dir needs the image id to name the PNG")
            export_edge_png(squeeze_map(np.asarray(pred), "edge prediction"), self.export_dir, str(id))
        super().update(pred, gt, id=id)

    def edge_map(self, prob: np.ndarray) -> np.ndarray:
        """The map that gets thresholded: (quantised) probability, through the NMS chain when ``nms``."""
        if self.quantize:
            q = quantize_prob(prob)
            prob = q.astype(np.float32) / np.float32(255.0) if self.nms else q.astype(np.float64) / 255.0
        else:
            quantize_prob(prob)  # range check only
        return seism_nms(prob) if self.nms else np.asarray(prob, dtype=np.float64)

    def _measure(self, pred: np.ndarray, gt: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        pred, gt = squeeze_map(pred, "edge prediction"), squeeze_map(gt, "edge ground truth")
        check_same_shape(pred, gt, "edge")
        if self.gt_kind == "labels":
            if not (np.issubdtype(gt.dtype, np.integer) or gt.dtype == np.bool_):
                raise ValueError(f"edge label image must hold integer labels; got dtype {gt.dtype}")
        elif gt.size and not np.isin(gt, (0, 1)).all():
            raise ValueError("edge ground truth must be binary {0, 1} (crop the 255 padding before scoring)")
        counts = threshold_counts(
            self.edge_map(pred),
            gt_boundaries(gt),
            self.thresholds,
            self.max_dist,
            strict=self.nms,
            thin_pred=self.thin,
            outlier_cost=self.outlier_cost,
            matcher=self.matcher,
        )
        return {}, counts

    def compute(self) -> dict[str, float]:
        if len(self) == 0:
            raise ValueError("EdgeMeter.compute: no images were added")
        state = self.state()
        return summarize({key: state[IMAGE_PREFIX + key] for key in COUNT_KEYS}, self.thresholds)

    def _record(self, row: dict[str, Any]) -> dict[str, Any]:
        p, r = image_precision_recall({key: row[key] for key in COUNT_KEYS})
        f = _f_measure(p, r)
        best = int(np.argmax(f))
        return {
            "id": row["id"],
            "f": 100.0 * float(f[best]),
            "threshold": float(self.thresholds[best]),
            "precision": 100.0 * float(p[best]),
            "recall": 100.0 * float(r[best]),
            "n_gt": int(row["sum_r"][0]),
        }
