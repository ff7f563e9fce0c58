"""Python odsF (docs/benchmark-protocol.md §2.5): NMS port, BSDS correspondence, ODS / OIS / AP, SEISM export."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image
from pyEdgeEval import nms as c_nms
from scipy import ndimage
from seism_reference import loop_chain_counts, ods_f

with warnings.catch_warnings():  # pyEdgeEval imports a deprecated scipy namespace
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyEdgeEval.common.binary_label.evaluate_boundaries import evaluate_boundaries_threshold
    from pyEdgeEval.preprocess.nms.toolbox import conv_tri as reference_conv_tri

from mtcontrast.metrics.edges import (
    EdgeMeter,
    conv_tri,
    edge_orientation,
    edges_nms,
    export_edge_png,
    read_edge_png,
    seism_nms,
    summarize,
    thin,
    threshold_counts,
)
from mtcontrast.metrics.edges.bsds import _matcher
from mtcontrast.metrics.score import feed

H, W = 64, 80  # diagonal 102.4 px: maxDist 0.011 → 1.13 px, so a 1-px shift matches and a 2-px shift does not
FEW = np.array([0.1, 0.3, 0.5, 0.7, 0.9])


def _two_lines() -> np.ndarray:
    gt = np.zeros((H, W), np.uint8)
    gt[20, 10:71] = 1
    gt[40, 10:71] = 1
    return gt


def _graded_prediction(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A blurred, slightly displaced copy of random GT segments plus clutter: a network-like probability map."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((H, W), np.uint8)
    for _ in range(4):
        r, c = rng.integers(8, H - 8), rng.integers(8, W - 30)
        gt[r, c : c + 22] = 1
        gt[rng.integers(8, H - 30) :, rng.integers(8, W - 8)][:20] = 1
    pred = ndimage.gaussian_filter(np.roll(gt, 1, axis=0).astype(float), 1.2)
    pred += 0.3 * ndimage.gaussian_filter(rng.random((H, W)), 2.0)
    return np.clip(pred / pred.max(), 0, 1), gt


def test_perfect_prediction_scores_100() -> None:
    gt = np.zeros((H, W), np.uint8)
    gt[20, 10:40] = 1
    for nms in (True, False):
        meter = EdgeMeter(0.011, nms=nms)
        meter.update(gt.astype(np.float64), gt)
        out = meter.compute()
        assert out["odsf"] == pytest.approx(100.0) and out["oisf"] == pytest.approx(100.0)
        # SEISM's AP needs ≥ 2 distinct recalls; a binary map has one, so general_ap returns 0
        assert out["ap"] == 0.0


def test_bsds_assignment_drops_a_few_pairs_of_a_perfect_prediction() -> None:
    # matchEdgeMaps links outlier nodes through a sparse random graph (6 edges per node); an outlier node that
    # draws no edge forces one real pair apart, ~e^-6 of the pixels. SEISM inherits this; so do we.
    gt = _two_lines()
    gt[8:57, 50] = 1
    counts = threshold_counts(gt, gt, FEW, 0.011, strict=False)
    assert (counts["sum_r"] == 169).all()
    assert (counts["cnt_r"] >= 167).all() and (counts["cnt_r"] == counts["cnt_p"]).all()
    again = threshold_counts(gt, gt, FEW, 0.011, strict=False)
    np.testing.assert_array_equal(again["cnt_r"], counts["cnt_r"])  # reseeded matcher: reproducible


def test_one_pixel_shift_matches_two_pixel_shift_does_not() -> None:
    gt = _two_lines()
    counts = threshold_counts(np.roll(gt, 1, axis=0), gt, FEW, 0.011, strict=False)
    assert counts["cnt_r"].tolist() == [122] * 5 and counts["cnt_p"].tolist() == [122] * 5
    far = threshold_counts(np.roll(gt, 2, axis=0), gt, FEW, 0.011, strict=False)
    assert far["cnt_r"].tolist() == [0] * 5 and far["sum_p"].tolist() == [122] * 5
    # with PASCAL's maxDist (0.0075 · 102.4 = 0.77 px) even the 1-px shift fails
    assert threshold_counts(np.roll(gt, 1, axis=0), gt, FEW, 0.0075, strict=False)["cnt_r"].sum() == 0


def test_plain_counts_equal_pyedgeeval_bsds_routine() -> None:
    _, reseed = _matcher()
    assert reseed is not None
    for seed in range(3):
        pred, gt = _graded_prediction(seed)
        # Thinning off on both sides: pyEdgeEval's ``binary_thin`` stops as soon as one subiteration removes
        # nothing, so it is not MATLAB's ``bwmorph`` thin (tests/unit/test_edge_bmap.py); this test pins the
        # threshold-and-match part of the chain, the thinning is checked there and by the regression test below.
        ours = threshold_counts(pred, gt, FEW, 0.011, strict=False, thin_pred=False, matcher="bsds")
        for i, t in enumerate(FEW):
            reseed()  # same matcher RNG state as ours, one threshold per call
            ref = evaluate_boundaries_threshold(
                np.array([t]), pred, gt.astype(bool), max_dist=0.011, apply_thinning=False, apply_nms=False
            )
            got = [int(ours[key][i]) for key in ("cnt_r", "sum_r", "cnt_p", "sum_p")]
            assert got == [int(v[0]) for v in ref], f"seed {seed}, t = {t}"
        assert ours["cnt_r"].max() > 0 and (ours["cnt_p"] < ours["sum_p"]).any()  # a non-trivial case


def test_nms_reader_is_strict_and_plain_reader_is_not() -> None:
    # SEISM's nms reader keeps E > t, the plain reader E ≥ t (docs/seism.md §1, step 3): a value equal to t
    # is dropped by the first and kept by the second.
    edge = np.zeros((H, W))
    edge[20, 10:70], edge[40, 10:70] = 0.5, 0.25
    t = np.array([0.25, 0.5])
    assert threshold_counts(edge, _two_lines(), t, 0.011, strict=True)["sum_p"].tolist() == [60, 0]
    assert threshold_counts(edge, _two_lines(), t, 0.011, strict=False)["sum_p"].tolist() == [120, 60]
    sum_p = {}
    for nms in (True, False):
        meter = EdgeMeter(0.011, nms=nms, thresholds=t, quantize=False)
        meter.update(edge, _two_lines(), id="a")
        sum_p[nms] = meter.state()["image/sum_p"][0].tolist()
    assert sum_p[True][1] == 0 and sum_p[True][0] > 0  # the meter's nms variant compares strictly …
    assert sum_p[False] == [120, 60]  # … and its plain variant does not


def _soft_two_pixel_ridges() -> tuple[np.ndarray, np.ndarray]:
    """Two soft vertical ridges centred between two pixel columns (NMS keeps both: 2-px ridges), of varying
    strength, over smooth clutter; the NYUD-style GT strokes lie on the east column of each ridge."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:H, 0:W].astype(float)
    gt = np.zeros((H, W), np.uint8)
    pred = np.zeros((H, W))
    for c, (top, bottom) in ((20, (8, 56)), (50, (12, 52))):
        gt[top:bottom, c + 1] = 1
        strength = np.where((ys >= top) & (ys < bottom), 0.55 + 0.4 * np.sin(ys / 9.0 + c) ** 2, 0.0)
        pred = np.maximum(pred, strength * np.exp(-((xs - c - 0.5) ** 2) / (2 * 1.1**2)))
    pred += 0.35 * ndimage.gaussian_filter(rng.random((H, W)), 2.5)
    return np.clip(pred / pred.max(), 0, 1), gt


def test_odsf_regression_equals_a_loop_reimplementation_of_the_tools_chain() -> None:
    # Independent route (tests/unit/seism_reference.py): E = the reader's NMS map; per t, E > t pixel by pixel,
    # thinned by a loop transcription of bwmorph's documented conditions, matched against the loop-built
    # thin(seg2bmap(G)). The meter's vectorised chain must give the same counts, hence the same odsF.
    pred, gt = _soft_two_pixel_ridges()
    t = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    meter = EdgeMeter(0.011, thresholds=t)
    meter.update(pred, gt, id="ridges")
    reader = seism_nms(np.floor(pred * 255 + 0.5).astype(np.float32) / np.float32(255))
    reference = loop_chain_counts(reader, gt, t, 0.011, strict=True)
    state = meter.state()
    for key, value in reference.items():
        np.testing.assert_array_equal(state[f"image/{key}"][0], value, err_msg=key)
    out = meter.compute()
    assert out["odsf"] == pytest.approx(ods_f(reference))
    # pinned: at t = 0.3 the thinned ridges give 84 predicted pixels, all matched, against 88 GT pixels:
    # P = 1, R = 84/88, F = 2·84/(84 + 88)
    assert out["odsf"] == pytest.approx(100 * 168 / 172) and out["ods_threshold"] == 0.3
    # without thinning both columns of each ridge count and only one can match: precision ≈ 1/2
    unthinned = EdgeMeter(0.011, thresholds=t, thin=False)
    unthinned.update(pred, gt, id="ridges")
    assert unthinned.compute()["odsf"] == pytest.approx(69.0763, abs=1e-4)


def test_conv_tri_matches_toolbox_port() -> None:
    image = np.random.default_rng(0).random((20, 30))
    for r in (1, 4):
        np.testing.assert_allclose(conv_tri(image, r), reference_conv_tri(image, r), atol=1e-12)


def test_vectorised_nms_equals_c_kernel() -> None:
    for seed in range(3):
        pred, _ = _graded_prediction(seed)
        edges = (np.floor(pred * 255 + 0.5) / 255).astype(np.float32)
        ori = edge_orientation(edges)
        ours = edges_nms(edges, ori)
        ref = c_nms(edges.astype(np.float64), ori.astype(np.float64), r=1, s=5, m=1.01)
        np.testing.assert_allclose(ours, ref, atol=1e-6)
        np.testing.assert_array_equal(ours > 0, ref > 0)


def _thinned_columns(line: np.ndarray) -> list[list[int]]:
    """Rows kept by the NMS chain in each interior column of the blurred ``line``."""
    blurred = ndimage.gaussian_filter(line, 1.5)
    inner = seism_nms(blurred / blurred.max())[8:-8, 8:-8]
    return [np.nonzero(inner[:, j])[0].tolist() for j in range(inner.shape[1])]


def test_nms_thins_a_blurred_line_to_one_pixel() -> None:
    vertical = np.zeros((H, H))
    vertical[:, 30] = 1.0
    blurred = ndimage.gaussian_filter(vertical, 1.5)
    thin = seism_nms(blurred / blurred.max())[8:-8, 8:-8]
    assert [np.nonzero(row)[0].tolist() for row in thin] == [[30 - 8]] * 48  # one pixel per row
    assert _thinned_columns(np.eye(H)) == [[j] for j in range(48)]  # the diagonal stays the diagonal
    horizontal = np.zeros((H, H))  # a horizontal ridge with some texture along it and an asymmetric profile
    horizontal[30] = 0.9 + 0.1 * np.random.default_rng(0).random(H)
    horizontal[31] = 0.4
    assert _thinned_columns(horizontal) == [[30 - 8]] * 48


def test_nms_keeps_the_originals_blind_spot_for_uniform_horizontal_ridges() -> None:
    # O = mod(atan(Oyy·sign(−Oxy)/(Oxx + 1e-5)), π) is 0 where Oxy is exactly 0, i.e. along a ridge that is
    # exactly constant in x: the reader then compares along the ridge and suppresses nothing. Faithful port.
    horizontal = np.zeros((H, H))
    horizontal[30] = 1.0
    assert all(len(rows) > 1 for rows in _thinned_columns(horizontal))


def test_nms_fades_the_borders_as_edgesnmsmex() -> None:
    vertical = np.zeros((H, H), np.float32)
    vertical[:, 30] = 1.0
    thin = seism_nms(vertical)
    assert thin[0, 30] == 0.0 and thin[63, 30] == 0.0  # s = 5: rows 0 and h − 1 weighted 0/5
    assert thin[2, 30] == pytest.approx(0.4) and thin[61, 30] == pytest.approx(0.4)
    assert thin[5:59, 30].tolist() == [1.0] * 54


def test_nms_variant_recovers_the_centre_line_of_a_thick_prediction() -> None:
    gt = np.zeros((H, W), np.uint8)
    gt[10:54, 20] = 1
    gt[10:54, 50] = 1
    blurred = ndimage.gaussian_filter(gt.astype(float), 1.5)
    nms, plain = EdgeMeter(0.011), EdgeMeter(0.011, nms=False, thin=False)
    thinned_plain = EdgeMeter(0.011, nms=False)
    for meter in (nms, plain, thinned_plain):
        meter.update(blurred / blurred.max(), gt)
    assert nms.compute()["odsf"] == pytest.approx(100.0)
    assert plain.compute()["odsf"] < 100.0  # without NMS or thinning the thick band costs precision
    # Changed with the tools' chain (docs/seism.md §1, step 4): edgesEvalImg thins every thresholded map, and
    # thinning alone reduces the thick band to its centre line, so the plain variant scores 100 as well.
    assert thinned_plain.compute()["odsf"] == pytest.approx(100.0)


def test_ods_ois_ap_from_counts_by_hand() -> None:
    per_image = {
        "cnt_r": np.array([[8, 6, 2], [5, 3, 1]]),
        "sum_r": np.array([[10, 10, 10], [5, 5, 5]]),
        "cnt_p": np.array([[8, 6, 2], [5, 3, 1]]),
        "sum_p": np.array([[20, 8, 2], [6, 5, 1]]),
    }
    out = summarize(per_image, np.array([0.2, 0.5, 0.8]))
    assert out["odsf"] == pytest.approx(100 * 18 / 28)  # pooled F = 2·9/(15 + 13) at t = 0.5
    assert out["ods_threshold"] == 0.5
    assert out["oisf"] == pytest.approx(100 * 22 / 29)  # image 1 at t = 0.5, image 2 at t = 0.2
    # pooled (R, P) = (13/15, 1/2), (9/15, 9/13), (3/15, 1): P interpolated at R = 0.20 … 0.86, summed / 100
    assert out["ap"] == pytest.approx(50.161058, abs=1e-5)


def test_image_without_gt_edges_only_adds_false_positives() -> None:
    flat, no_gt = np.full((H, W), 0.5), np.zeros((H, W), np.uint8)
    counts = threshold_counts(flat, no_gt, FEW, 0.011, strict=False, thin_pred=False)
    assert counts["sum_p"].tolist() == [H * W] * 3 + [0, 0]
    assert counts["cnt_p"].sum() == 0 and counts["sum_r"].sum() == 0
    # With the tools' thinning (docs/seism.md §1, step 4) sumP counts the thinned map: the full 64×80 block thins
    # to a 17-px line, and those 17 pixels are the false positives.
    counts = threshold_counts(flat, no_gt, FEW, 0.011, strict=False)
    assert counts["sum_p"].tolist() == [int(thin(flat >= 0.5).sum())] * 3 + [0, 0] == [17] * 3 + [0, 0]
    assert counts["cnt_p"].sum() == 0 and counts["sum_r"].sum() == 0


def test_merge_of_halves_equals_one_pass_and_workers_agree() -> None:
    items = [(f"im{s}", *_graded_prediction(s)) for s in range(4)]
    whole = EdgeMeter(0.011, thresholds=FEW)
    for image_id, pred, gt in items:
        whole.update(pred, gt, id=image_id)
    halves = []
    for part in (items[:2], items[2:]):
        meter = EdgeMeter(0.011, thresholds=FEW)
        for image_id, pred, gt in part:
            meter.update(pred, gt, id=image_id)
        halves.append(meter.state())
    merged = EdgeMeter.from_states(halves, max_dist=0.011, thresholds=FEW)
    for key, value in whole.state().items():
        np.testing.assert_array_equal(merged.state()[key], value)
    assert merged.compute() == whole.compute()
    assert [r["id"] for r in merged.records()] == ["im0", "im1", "im2", "im3"]
    parallel = feed(EdgeMeter(0.011, thresholds=FEW), items, workers=2)
    assert parallel.compute() == whole.compute() and parallel.records() == whole.records()


def test_seism_export_rounds_like_matlab_and_meter_writes_it(tmp_path) -> None:
    prob = np.array([[0.0, 0.5 / 255, 2.5 / 255, 1.0]])
    path = export_edge_png(prob, tmp_path, "0001")
    assert path == tmp_path / "edge" / "0001.png"
    np.testing.assert_array_equal(np.asarray(Image.open(path)), [[0, 1, 3, 255]])  # half away from zero
    np.testing.assert_allclose(read_edge_png(path), [[0, 1 / 255, 3 / 255, 1]], atol=1e-7)
    pred, gt = _graded_prediction(0)
    meter = EdgeMeter(0.011, thresholds=FEW, export_dir=tmp_path / "run")
    meter.update(pred, gt, id="0002")
    exported = read_edge_png(tmp_path / "run" / "edge" / "0002.png")
    replay = EdgeMeter(0.011, thresholds=FEW)
    replay.update(exported, gt, id="0002")  # scoring the PNG gives the same counts as scoring the array
    for key, value in meter.state().items():
        np.testing.assert_array_equal(replay.state()[key], value)


def test_bad_edge_input_is_named() -> None:
    gt = _two_lines()
    with pytest.raises(ValueError, match=r"image 'a': edge ground truth must be binary"):
        EdgeMeter(0.011).update(np.zeros((H, W)), np.where(gt > 0, 255, 0), id="a")
    with pytest.raises(ValueError, match=r"probability map in \[0, 1\]"):
        EdgeMeter(0.011).update(np.full((H, W), 2.0), gt)
    with pytest.raises(ValueError, match="strictly increasing"):
        EdgeMeter(0.011, thresholds=[0.5, 0.2])
