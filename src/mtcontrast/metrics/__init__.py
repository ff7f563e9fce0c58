"""Evaluation metrics of docs/benchmark-protocol.md §2 with sum-reducible state (exact DDP reduction), per-image
records, the offline ``score_folder`` route, the Python odsF with its SEISM export, and Δm."""

from mtcontrast.metrics.base import Meter
from mtcontrast.metrics.delta_m import DELTA_M_METRICS, delta_m
from mtcontrast.metrics.depth import DepthMeter
from mtcontrast.metrics.edges import EdgeMeter, export_edge_png, read_edge_png
from mtcontrast.metrics.normals import NormalsMeter
from mtcontrast.metrics.saliency import SAL_PROTOCOLS, SaliencyMeter
from mtcontrast.metrics.score import build_meter, evaluate_samples, read_prediction, score, score_folder
from mtcontrast.metrics.segmentation import ConfusionMeter

__all__ = [
    "DELTA_M_METRICS",
    "SAL_PROTOCOLS",
    "ConfusionMeter",
    "DepthMeter",
    "EdgeMeter",
    "Meter",
    "NormalsMeter",
    "SaliencyMeter",
    "build_meter",
    "delta_m",
    "evaluate_samples",
    "export_edge_png",
    "read_edge_png",
    "read_prediction",
    "score",
    "score_folder",
]
