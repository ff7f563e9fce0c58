"""SEISM export of edge predictions: ``<out>/edge/<id>.png`` = uint8(round(255·prob)) at native size.

The same quantisation is used by the Python odsF (``EdgeMeter(quantize=True)``), so both numbers see the same map.
Rounding is MATLAB's ``uint8()`` (half away from zero), not numpy's half-to-even.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mtcontrast.data.errors import DataError
from mtcontrast.data.ids import check_id, path_inside


def quantize_prob(prob: np.ndarray) -> np.ndarray:
    """Probability in [0, 1] → uint8 0..255 with MATLAB rounding."""
    prob = np.asarray(prob, dtype=np.float64)
    if prob.size and (not np.isfinite(prob).all() or prob.min() < 0 or prob.max() > 1):
        raise ValueError("edge prediction must be a probability map in [0, 1] (apply the sigmoid to the logit)")
    return np.floor(prob * 255.0 + 0.5).astype(np.uint8)


def export_edge_png(prob: np.ndarray, out_dir: str | Path, image_id: str) -> Path:
    """Write one SEISM PNG; returns its path. ``prob`` is H×W at the image's native size (padding cropped).

    The id names the file, so it must be a plain name and the path, symlinks resolved, must stay inside
    ``<out_dir>/edge``: an id from a hand-edited split never writes elsewhere.
    """
    prob = np.asarray(prob)
    if prob.ndim == 3 and 1 in (prob.shape[0], prob.shape[-1]):
        prob = prob.reshape(prob.shape[1:] if prob.shape[0] == 1 else prob.shape[:-1])
    if prob.ndim != 2:
        raise ValueError(f"edge prediction for {image_id!r} must be H×W; got shape {prob.shape}")
    folder = Path(out_dir) / "edge"
    path = path_inside(folder, f"{check_id(image_id, folder)}.png", follow_links=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(quantize_prob(prob)).save(path)
    return path


def read_edge_png(path: str | Path) -> np.ndarray:
    """A SEISM edge PNG back as float32 probability v / 255 (``im2single``)."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            array = np.asarray(img)
    except (OSError, ValueError) as err:
        raise DataError(path, f"cannot read edge PNG ({err})") from None
    if array.ndim != 2 or array.dtype != np.uint8:
        raise DataError(path, f"expected a single-channel uint8 PNG; got shape {array.shape}, dtype {array.dtype}")
    return array.astype(np.float32) / np.float32(255.0)
