"""Data: raw dataset layouts, adapters, validated HDF5 and torch datasets."""
