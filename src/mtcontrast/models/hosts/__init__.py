"""Multi-task host frameworks, chosen by ``model.host``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from mtcontrast.config.model import HOST_NAMES, ModelParams
from mtcontrast.models.encoders import Encoder
from mtcontrast.models.hosts.base import Endpoints, MultiTaskHost, grid_size
from mtcontrast.models.hosts.baseline import MTLBaseline
from mtcontrast.models.hosts.mtinet import MTINet
from mtcontrast.models.hosts.padnet import PADNet

__all__ = ["HOSTS", "Endpoints", "HostRegistry", "MTINet", "MTLBaseline", "MultiTaskHost", "PADNet", "grid_size"]

HostFactory = Callable[[Encoder, Mapping[str, int], ModelParams], MultiTaskHost]


class HostRegistry(dict[str, HostFactory]):
    """``name → factory``; one entry per value of ``model.host``.

    Call contract: ``HOSTS[name](encoder, outputs, params) -> MultiTaskHost`` where ``encoder`` is a built
    :class:`~mtcontrast.models.encoders.Encoder`, ``outputs`` maps each task (in order) to its prediction width and
    ``params`` is ``params.model``. The host has ``tasks``, ``feat_channels`` (task → C_t), ``feat_stride`` and
    ``pad_multiple``, and ``host(image)`` with ``image`` B×3×H×W (any H, W; padded internally) returns
    ``{"final": {t: B×K_t×H×W}, "aux": {t: [B×K_t×h_i×w_i, ...]}, "feat": {t: B×C_t×ceil(H/s)×ceil(W/s)}}``
    with s = ``feat_stride``; ``final`` and ``aux`` are activated (depth softplus, the rest raw logits / normals).
    """

    def create(self, name: str, encoder: Encoder, outputs: Mapping[str, int], params: ModelParams) -> MultiTaskHost:
        if name not in self:
            raise KeyError(f"model.host = {name!r} is not a registered host; known: {', '.join(self)}")
        return self[name](encoder, outputs, params)


HOSTS = HostRegistry(mtl_baseline=MTLBaseline, padnet=PADNet, mtinet=MTINet)
if tuple(HOSTS) != HOST_NAMES:  # the schema validates model.host against HOST_NAMES: both must list the same hosts
    raise ImportError(f"HOSTS registers {list(HOSTS)} but config.model.HOST_NAMES is {list(HOST_NAMES)}; edit both")
