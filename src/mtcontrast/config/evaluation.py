"""``eval``: evaluation protocol switches (docs/benchmark-protocol.md §2)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mtcontrast.config.base import Section


class EvalParams(Section):
    batch_size: int = Field(4, ge=1)
    pad_to: tuple[int, int] | None = None  # centre-pad target H, W; None: pad to the encoder stride (never resizes)
    sal_protocol: Literal["invpt", "atrc", "mtinet"] = "invpt"  # logged with every saliency result
    edge_nms: bool = True  # SEISM "nms" reader (default) vs "plain" thresholding
    # thin each thresholded edge map to 1 px before matching, edgesEvalImg's default thin = 1 (docs/seism.md §1);
    # false = edgesEvalImg(..., 'thin', 0). The GT is thin(seg2bmap(G)) either way.
    edge_thin: bool = True
    # edge GT (docs/seism.md §1 step 2, §3): labelmap_test_new = thin(seg2bmap(LabelMap)) on PASCAL's 2,498 test_new
    # ids, as SEISM scores PASCAL-Context; prepared_edges = the prepared edge map on every val image; auto = the
    # first for real PASCAL data, the second for the procedural scenes (no test_new) and NYUD.
    edge_gt: Literal["auto", "labelmap_test_new", "prepared_edges"] = "auto"
    # the BSDS correspondPixels assignment, random outlier graph included (metrics/edges/matching.py): fast = built in
    # NumPy and solved by SciPy, ~10x faster per NYUD image; bsds = pyEdgeEval's build of the C++ code the tools run.
    # They agree within the BSDS matcher's own seed-to-seed noise (benchmarks/bench_odsf.py)
    edge_matcher: Literal["fast", "bsds"] = "fast"
    edge_threshold_step: int = Field(1, ge=1)  # every k-th threshold of the protocol set (1 = all 101 / 99)
    export_edges: bool = False  # also write SEISM PNGs (uint8, native size) under <run>/eval/seism/edge/
    limit: int | None = Field(None, ge=1)  # evaluate the first N val images only (smoke tests)
    workers: int | None = Field(None, ge=1)  # processes for the edge matcher (the slow metric); null = all CPUs
