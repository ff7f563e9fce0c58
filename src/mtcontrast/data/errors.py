"""The one exception type for bad dataset input: its message names the file and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_MARK = "DataError: "


class DataError(ValueError):
    """Raised for any unusable input file or folder; the CLI prints it as one line and exits non-zero.

    It survives crossing a process: pickling keeps ``path`` and the message, and a DataLoader worker's error,
    which torch re-raises as ``DataError(<worker traceback>)``, is cut back to its own last line, so a corrupted
    file read by a worker still ends in one line.
    """

    def __init__(self, path: str | Path | None, message: str | None = None) -> None:
        if message is None:  # one argument: a bare message, e.g. torch's re-raise of a worker's DataError
            lines = [line for line in str(path).splitlines() if line.strip()]
            last = lines[-1] if lines else ""
            path, message = None, last.split(_MARK, 1)[1] if _MARK in last else last
        self.path = Path(path) if path is not None else None
        self.message = message
        super().__init__(f"{path}: {message}" if path is not None else message)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.path, self.message)
