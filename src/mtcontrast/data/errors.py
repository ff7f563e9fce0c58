"""The one exception type for bad dataset input: its message names the file and what was expected."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Raised for any unusable input file or folder; the CLI prints it as one line and exits non-zero."""

    def __init__(self, path: str | Path | None, message: str) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)
