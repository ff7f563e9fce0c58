"""Data: raw dataset layouts, adapters, validated HDF5 and torch datasets."""

from mtcontrast.data.errors import DataError
from mtcontrast.data.prepare import PrepareSummary, prepare_dataset
from mtcontrast.data.prepared import PreparedSplit

__all__ = ["DataError", "PrepareSummary", "PreparedSplit", "prepare_dataset"]
