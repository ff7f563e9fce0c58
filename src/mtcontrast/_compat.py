"""Import guard for torchvision, which timm imports unconditionally.

The only torchvision matching torch 2.13.0 is a CUDA build; on CPU torch its C++ ops do not load and its import dies
with ``operator torchvision::nms does not exist`` while registering fake kernels. We never call those ops, so when
(and only when) that happens we define the two missing op schemas and import again. Import this module before timm.
"""

from __future__ import annotations

import sys

import torch

_LIB: torch.library.Library | None = None  # keep the schema library alive for the process lifetime


def _import_torchvision() -> None:
    global _LIB
    try:
        import torchvision  # noqa: F401

        return
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    _LIB = torch.library.Library("torchvision", "DEF")
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision  # noqa: F401


_import_torchvision()
