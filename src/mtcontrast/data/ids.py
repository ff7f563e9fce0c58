"""Sample ids as file names. Ids come from files a user or a download controls (split files, a prepared HDF5,
prediction folders) and every one of them ends up in a path, so an id must be a plain name and every path built
from one must stay inside its folder: ``../../outside/victim`` or ``/etc/passwd`` in a split file must not make
``prepare`` read, ``score`` read or the SEISM export write outside the project.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from mtcontrast.data.errors import DataError

EXPECTED = "expected a plain file name (no '/' or '\\', not '.' or '..', not absolute, no control characters)"


def _problem(sid: str) -> str | None:
    """Why ``sid`` is not a plain name, or None."""
    if not sid:
        return "is empty"
    if PurePosixPath(sid).is_absolute() or PureWindowsPath(sid).is_absolute() or PureWindowsPath(sid).drive:
        return "is an absolute path"
    if "/" in sid or "\\" in sid:
        return "contains a path separator"
    if sid in (".", ".."):
        return "is a relative folder name"
    if any(ord(c) < 32 or ord(c) == 127 for c in sid):
        return "contains a NUL or control character"
    return None


def check_id(sid: object, source: str | Path) -> str:
    """``sid`` if it is a plain file name; otherwise one DataError naming ``source`` (the file the id was read
    from) and the id. Windows separators and drives are refused on every OS so a folder stays portable."""
    if not isinstance(sid, str):
        raise DataError(source, f"id {sid!r} is a {type(sid).__name__}; {EXPECTED}")
    problem = _problem(sid)
    if problem is not None:
        raise DataError(source, f"id {sid!r} {problem}; {EXPECTED}")
    return sid


def check_ids(ids: list[str], source: str | Path) -> list[str]:
    """:func:`check_id` on each of ``ids`` (the first bad one is reported)."""
    for sid in ids:
        check_id(sid, source)
    return ids


def path_inside(root: str | Path, *parts: str, follow_links: bool = False) -> Path:
    """``root / parts``, refused with a DataError naming ``root`` unless it stays inside ``root``.

    By default the check is lexical (``.`` and ``..`` collapsed without touching the disk): raw datasets and
    DVC-tracked folders are often made of symlinks into a shared store, and following a link the user placed is
    not an escape. ``follow_links=True`` also resolves symlinks, for paths about to be written, so a planted link
    cannot redirect a write either.
    """
    base = Path(root)
    path = base.joinpath(*parts)
    if follow_links:
        inside, under = path.resolve(), base.resolve()
    else:
        inside, under = Path(os.path.normpath(os.path.abspath(path))), Path(os.path.normpath(os.path.abspath(base)))
    if inside == under or not inside.is_relative_to(under):
        shown = os.path.join(*parts) if parts else ""
        raise DataError(base, f"path {shown!r} leads outside this folder (to {inside}); expected a file inside it")
    return path
