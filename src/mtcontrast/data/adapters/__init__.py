"""Raw dataset layouts → prepared-sample dicts. ``build_adapter(name, root)`` picks the adapter for ``data.dataset``.

Each adapter decodes exactly per docs/benchmark-protocol.md §1 and raises :class:`~mtcontrast.data.errors.DataError`
(naming the file and what was expected) for anything it cannot use.
"""

from __future__ import annotations

from pathlib import Path

from mtcontrast.data.adapters.base import SPLITS, DatasetAdapter, Decoded
from mtcontrast.data.adapters.nyud import NyudMtAdapter, NyudV2Adapter
from mtcontrast.data.adapters.pascal import PascalContextAdapter

ADAPTERS: dict[str, type[DatasetAdapter]] = {
    cls.name: cls for cls in (NyudV2Adapter, NyudMtAdapter, PascalContextAdapter)
}

__all__ = [
    "ADAPTERS",
    "SPLITS",
    "DatasetAdapter",
    "Decoded",
    "NyudMtAdapter",
    "NyudV2Adapter",
    "PascalContextAdapter",
    "build_adapter",
]


def build_adapter(name: str, root: str | Path) -> DatasetAdapter:
    """The adapter registered for ``name`` (a ``data.dataset`` value), reading the folder ``root``."""
    try:
        cls = ADAPTERS[name]
    except KeyError:
        raise KeyError(f"unknown dataset adapter {name!r}; known: {', '.join(ADAPTERS)}") from None
    return cls(root)
