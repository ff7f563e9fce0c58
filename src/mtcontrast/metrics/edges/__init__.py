"""Edge detection metrics: the SEISM NMS reader port, ``seg2bmap`` and ``bwmorph`` thinning, BSDS correspondence
ODS / OIS / AP, the SEISM PNG export."""

from mtcontrast.metrics.edges.bmap import gt_boundaries, seg2bmap, thin
from mtcontrast.metrics.edges.bsds import HED_THRESHOLDS, PLAIN_THRESHOLDS, EdgeMeter, summarize, threshold_counts
from mtcontrast.metrics.edges.export import export_edge_png, quantize_prob, read_edge_png
from mtcontrast.metrics.edges.nms import conv_tri, edge_orientation, edges_nms, seism_nms

__all__ = [
    "HED_THRESHOLDS",
    "PLAIN_THRESHOLDS",
    "EdgeMeter",
    "conv_tri",
    "edge_orientation",
    "edges_nms",
    "export_edge_png",
    "gt_boundaries",
    "quantize_prob",
    "read_edge_png",
    "seg2bmap",
    "seism_nms",
    "summarize",
    "thin",
    "threshold_counts",
]
