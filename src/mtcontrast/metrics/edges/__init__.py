"""Edge detection metrics: the SEISM NMS reader port, BSDS correspondence ODS / OIS / AP, the SEISM PNG export."""

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
    "quantize_prob",
    "read_edge_png",
    "seism_nms",
    "summarize",
    "threshold_counts",
]
