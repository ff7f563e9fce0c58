"""``build_model``: ``params.model`` + the dataset's spec → a host with a timm encoder."""

from __future__ import annotations

from mtcontrast.config.model import ModelParams
from mtcontrast.models.encoders import ModelError, build_encoder
from mtcontrast.models.heads import output_channels
from mtcontrast.models.hosts import HOSTS, MultiTaskHost
from mtcontrast.tasks import DatasetSpec

__all__ = ["build_model", "select_tasks"]


def select_tasks(params: ModelParams, spec: DatasetSpec) -> tuple[str, ...]:
    """``model.tasks`` (None = all) checked against the dataset, in the dataset's task order."""
    if params.tasks is None:
        return spec.tasks
    unknown = [t for t in params.tasks if t not in spec.tasks]
    if unknown or not params.tasks:
        raise ModelError(
            f"model.tasks = {params.tasks}: expected a non-empty subset of the {spec.name} tasks "
            f"{', '.join(spec.tasks)}" + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return tuple(t for t in spec.tasks if t in params.tasks)


def build_model(params: ModelParams, spec: DatasetSpec, load_weights: bool = True) -> MultiTaskHost:
    """The host named by ``model.host`` over the ``model.encoder`` timm encoder, for the selected tasks.

    ``load_weights=False`` skips ``model.encoder.pretrained_file`` (rebuilding a model to load a checkpoint into).
    """
    tasks = select_tasks(params, spec)
    encoder = build_encoder(params.encoder, load_weights=load_weights)
    return HOSTS.create(params.host, encoder, output_channels(spec, tasks), params)
