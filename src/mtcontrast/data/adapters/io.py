"""File readers shared by the adapters. Each turns any decoding failure into one :class:`DataError` that names the
file and what was expected, so a bad download fails on the first bad file with a message a user can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from PIL import Image

from mtcontrast.data.errors import DataError

_PIL_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file; otherwise a DataError saying which file of which sample is missing."""
    if not path.is_file():
        raise DataError(path, f"missing {what}")
    return path


def read_split_ids(path: Path) -> list[str]:
    """Ids of a split file (one per line, blank lines skipped); duplicates are an error because they would
    silently weight a sample twice."""
    if not path.is_file():
        raise DataError(path, "missing split file; expected one sample id per line")
    try:
        ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, f"cannot read split file ({err})") from None
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(path, f"duplicate id {dup!r} in split file")
    return ids


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) from the image header only (no pixel decoding), for the cheap first pass over a dataset."""
    try:
        with Image.open(path) as img:
            w, h = img.size
    except FileNotFoundError:
        raise DataError(path, "missing image") from None
    except _PIL_ERRORS as err:
        raise DataError(path, f"cannot read image header ({err}); expected a JPEG/PNG image") from None
    return h, w


def read_rgb(path: Path) -> np.ndarray:
    """uint8 H×W×3. Pillow decodes lazily, so truncation only shows at ``convert``; that is caught here too."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(path, "missing image") from None
    except _PIL_ERRORS as err:
        raise DataError(path, f"cannot decode image ({err}); the file is truncated or corrupt") from None


def read_png(path: Path, what: str, *, channels: int | None = None) -> np.ndarray:
    """The stored values of a label PNG (palette indices for mode P, not colours), checked for H×W or H×W×C."""
    try:
        with Image.open(path) as img:
            array = np.asarray(img)
    except FileNotFoundError:
        raise DataError(path, f"missing {what}") from None
    except _PIL_ERRORS as err:
        raise DataError(path, f"cannot decode {what} PNG ({err}); the file is truncated or corrupt") from None
    if channels is None and array.ndim != 2:
        raise DataError(path, f"{what} has shape {array.shape}; expected a single-channel H×W PNG")
    if channels is not None and (array.ndim != 3 or array.shape[2] != channels):
        raise DataError(path, f"{what} has shape {array.shape}; expected an H×W×{channels} PNG")
    if array.dtype != np.uint8:
        raise DataError(path, f"{what} has dtype {array.dtype}; expected an 8-bit PNG")
    return array


def read_npy(path: Path, what: str) -> np.ndarray:
    """A numeric .npy array (pickles refused: they could run code and are never part of the datasets)."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(path, f"missing {what}") from None
    except (OSError, ValueError, EOFError) as err:
        raise DataError(path, f"cannot read {what} .npy ({err}); the file is truncated or corrupt") from None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise DataError(path, f"{what} has dtype {array.dtype}; expected a numeric array")
    return array


def read_mat_variable(path: Path, key: str, what: str) -> Any:
    """One variable of a MATLAB file; a file without it names the variables it does hold."""
    try:
        content = scipy.io.loadmat(path, variable_names=[key])
    except FileNotFoundError:
        raise DataError(path, f"missing {what}") from None
    except Exception as err:  # scipy raises ValueError / MatReadError / TypeError / OSError for bad files
        raise DataError(path, f"cannot read {what} .mat ({err}); the file is truncated or corrupt") from None
    if key not in content:
        try:
            found = sorted(name for name, _, _ in scipy.io.whosmat(path))
        except Exception:
            found = []
        raise DataError(path, f"{what} .mat has no variable {key!r} (found: {', '.join(found) or 'none'})")
    return content[key]


def check_size(path: Path, array: np.ndarray, size: tuple[int, int], what: str) -> None:
    """Labels must have their image's H×W: the benchmark's silent cv2 resize would hide a broken package."""
    if tuple(array.shape[:2]) != tuple(size):
        raise DataError(
            path, f"{what} is {array.shape[0]}×{array.shape[1]} but its image is {size[0]}×{size[1]}; expected equal"
        )


def check_finite(path: Path, array: np.ndarray, what: str) -> None:
    if not np.isfinite(array).all():
        raise DataError(path, f"{what} contains NaN or infinite values; expected finite numbers")
