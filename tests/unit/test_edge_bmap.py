"""``seg2bmap`` and ``bwmorph`` thinning as the edge tools run them (docs/seism.md §1, step 4, and §2)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from seism_reference import loop_seg2bmap, loop_thin

from mtcontrast.metrics.edges import gt_boundaries, seg2bmap, thin


def _framed(block: list[list[int]], pad: int = 1) -> np.ndarray:
    return np.pad(np.array(block, dtype=bool), pad)


def _cells(mask: np.ndarray) -> list[tuple[int, int]]:
    return [(int(r), int(c)) for r, c in zip(*np.nonzero(mask), strict=True)]


# ---------------------------------------------------------------- thin: hand-computed cases


def test_two_pixel_horizontal_ridge_keeps_its_south_row_minus_the_east_end() -> None:
    # Subiteration 1 (G3: x1 = 0, or x1 = 1 with x2 = x3 = 0 and x8 = 1) deletes the whole north row (its pixels
    # have a free north side: X_H = 1, n1 = n2 = 3 inside, 2 at the corners) and the south row's east end (x1 = 0,
    # X_H = 1, n1 = n2 = 2); the south row's other pixels have x1 = x2 = 1 and stay. What is left is a 1-px line
    # whose ends have n1 = 1 (G2 fails) and whose interior has X_H = 2 (G1 fails): it is final.
    ridge = _framed([[1] * 6, [1] * 6])
    assert _cells(thin(ridge)) == [(2, c) for c in range(1, 6)]


def test_two_pixel_vertical_ridge_keeps_its_west_column_minus_the_north_end() -> None:
    # The same rules turned a quarter: G3 spares the west column (x1 = x2 = 1) except its north end.
    ridge = _framed([[1, 1]] * 6)
    assert _cells(thin(ridge)) == [(r, 1) for r in range(2, 7)]


def test_two_pixel_diagonal_ridge_becomes_the_diagonal() -> None:
    ridge = _framed((np.eye(6, dtype=int) + np.eye(6, k=1, dtype=int)).tolist())
    assert _cells(thin(ridge)) == [(r, r) for r in range(1, 7)]


def test_plateaus_shrink_to_one_pixel_or_their_midline() -> None:
    # 2×2: subiteration 1 deletes NW (corner: X_H = 1, n1 = n2 = 2), NE and SE (x1 = 0); SW has x1 = x2 = 1 and
    # stays; alone, it has X_H = 0 and stays for good.
    assert _cells(thin(_framed([[1, 1], [1, 1]]))) == [(2, 1)]
    assert _cells(thin(_framed([[1] * 3] * 3))) == [(2, 2)]  # 3×3: the centre
    assert _cells(thin(_framed([[1] * 7] * 3))) == [(2, c) for c in range(2, 7)]  # 3×7: the midline, ends trimmed


def test_l_corner_loses_its_corner_in_the_second_subiteration() -> None:
    # Subiteration 1 deletes nothing: the corner has x1 = 1 and ¬x8 (G3 fails), the two arms have n1 or n2 = 1.
    # Subiteration 2 deletes the corner: x5 = 0 (G3' holds), X_H = 1 (only b3 = 1), n1 = n2 = 2.
    corner = _framed([[1, 1], [1, 0]])
    assert _cells(thin(corner)) == [(1, 2), (2, 1)]
    with warnings.catch_warnings():  # pyEdgeEval imports a deprecated scipy namespace
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyEdgeEval.preprocess import binary_thin
    # pyEdgeEval's binary_thin stops when subiteration 1 removes nothing, before subiteration 2 runs: not MATLAB
    assert _cells(binary_thin(corner)) == _cells(corner)


def test_thin_keeps_lines_points_and_holes_and_prunes_one_pixel_spurs() -> None:
    line = np.zeros((6, 9), bool)
    line[2, 1:8] = True
    assert np.array_equal(thin(line), line)
    spur = line.copy()
    spur[3, 4] = True  # x2 = x3 = x4 = 1, the rest 0: x1 = 0 (G3), X_H = 1 (b1), n1 = n2 = 2: deleted at once
    assert np.array_equal(thin(spur), line)
    assert np.array_equal(thin(_framed([[1]])), _framed([[1]]))
    ring = _framed([[1] * 5, [1, 1, 1, 1, 1], [1, 1, 0, 1, 1], [1, 1, 1, 1, 1], [1] * 5])
    thinned = thin(ring)
    assert not thinned[3, 3] and thinned.sum() > 1  # the hole survives: the Euler number is preserved
    from scipy import ndimage

    assert ndimage.label(~thinned)[1] == 2  # outside and the hole are still separate


def test_thin_at_the_image_border_and_of_an_empty_map() -> None:
    full = np.ones((5, 7), bool)  # foreground touching every border: outside counts as background
    assert np.array_equal(thin(full), thin(np.pad(full, 2))[2:-2, 2:-2])
    assert _cells(thin(full)) == _cells(loop_thin(full)) == [(2, 2), (2, 3), (2, 4)]
    assert not thin(np.zeros((4, 4), bool)).any()
    with pytest.raises(ValueError, match="2-D"):
        thin(np.ones((2, 2, 2), bool))


def test_thin_equals_the_documented_conditions_on_random_maps() -> None:
    rng = np.random.default_rng(0)
    for _ in range(120):
        h, w = rng.integers(3, 18, 2)
        image = rng.random((h, w)) < rng.uniform(0.2, 0.9)
        assert np.array_equal(thin(image), loop_thin(image))
    sparse = np.zeros((40, 50), bool)  # a small blob far from the origin
    sparse[20:24, 30:36] = rng.random((4, 6)) < 0.8
    assert np.array_equal(thin(sparse), loop_thin(sparse))


def test_thin_equals_scikit_image_thin_whose_tables_it_evaluates_sparsely() -> None:
    from skimage.morphology import thin as skimage_thin

    rng = np.random.default_rng(1)
    for _ in range(60):
        h, w = rng.integers(1, 60, 2)
        image = rng.random((h, w)) < rng.uniform(0.05, 0.95)
        assert np.array_equal(thin(image), skimage_thin(image))
    band = np.zeros((30, 40), bool)
    band[:, 10:14] = True  # touches the top and bottom borders: outside counts as background
    assert np.array_equal(thin(band), skimage_thin(band)) and thin(band).sum() < band.sum()


# ---------------------------------------------------------------- seg2bmap: border rules on hand-made label images


def test_seg2bmap_marks_the_pixel_before_each_label_change() -> None:
    vertical = np.array([[1, 1, 2, 2]] * 3)
    assert _cells(seg2bmap(vertical)) == [(0, 1), (1, 1), (2, 1)]  # last row: the east comparison still applies
    horizontal = np.array([[1] * 3, [1] * 3, [2] * 3, [2] * 3])
    assert _cells(seg2bmap(horizontal)) == [(1, 0), (1, 1), (1, 2)]  # last column: the south comparison applies


def test_seg2bmap_single_pixel_region_and_the_south_east_neighbour() -> None:
    seg = np.zeros((5, 5), np.uint32)
    seg[2, 2] = 7
    # (1, 1) only through its south-east neighbour, (1, 2) south, (2, 1) east, (2, 2) all three
    assert _cells(seg2bmap(seg)) == [(1, 1), (1, 2), (2, 1), (2, 2)]


def test_seg2bmap_border_rules() -> None:
    # 2×2 with a different bottom-right label: (0, 0) sees it south-east, (0, 1) south (last column), (1, 0) east
    # (last row); the bottom-right pixel is never a boundary.
    assert seg2bmap(np.array([[1, 1], [1, 2]])).astype(int).tolist() == [[1, 1], [1, 0]]
    # last row: only east is compared, so (1, 0) and (1, 1) are not boundaries although row 0 differs
    assert seg2bmap(np.array([[1, 2], [1, 1]])).astype(int).tolist() == [[1, 1], [0, 0]]
    # last column: (1, 2) compares south only, so its south-east (outside) and west (2 ≠ 1) do not count
    seg = np.array([[1, 1, 1], [1, 2, 1], [1, 1, 1]])
    assert seg2bmap(seg).astype(int).tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
    # a uniform image has no boundary, not even along the last row or column (MATLAB pads e, s, se with 0 there,
    # but overwrites those comparisons)
    assert not seg2bmap(np.full((4, 5), 3)).any()
    assert not seg2bmap(np.ones((1, 1))).any()
    with pytest.raises(ValueError, match="2-D"):
        seg2bmap(np.ones((2, 2, 2)))


def test_seg2bmap_equals_the_loop_transcription_on_random_label_images() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        h, w = rng.integers(1, 12, 2)
        seg = rng.integers(0, rng.integers(1, 4), (h, w))
        assert np.array_equal(seg2bmap(seg), loop_seg2bmap(seg))


def test_nyud_edge_stroke_read_as_a_label_image() -> None:
    # A 1-px GT stroke (row 4, columns 3..8) in an edge PNG read as labels 0 / 255: seg2bmap marks both sides, a
    # 2 × 7 band (rows 3..4, columns 2..8); thinning keeps its south row minus the east end: row 4, columns 2..7,
    # as many pixels as the stroke, half a pixel towards the origin as seg2bmap's boundaries are.
    png = np.zeros((9, 12), np.uint8)
    png[4, 3:9] = 255
    assert _cells(seg2bmap(png)) == [(r, c) for r in (3, 4) for c in range(2, 9)]
    assert _cells(gt_boundaries(png)) == [(4, c) for c in range(2, 8)]
    assert np.array_equal(gt_boundaries(png), gt_boundaries(png // 255))  # 0/255 and 0/1: the same partition
