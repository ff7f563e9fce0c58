"""Models: timm encoders, multi-task host frameworks and the inference export."""

from mtcontrast.models.build import build_model, select_tasks
from mtcontrast.models.encoders import Encoder, ModelError, build_encoder
from mtcontrast.models.export import TrainingModel, count_parameters, export_inference
from mtcontrast.models.hosts import HOSTS, Endpoints, HostRegistry, MultiTaskHost

__all__ = [
    "HOSTS",
    "Encoder",
    "Endpoints",
    "HostRegistry",
    "ModelError",
    "MultiTaskHost",
    "TrainingModel",
    "build_encoder",
    "build_model",
    "count_parameters",
    "export_inference",
    "select_tasks",
]
