"""Shared fixtures. Everything runs offline on generated data."""

from __future__ import annotations

from pathlib import Path

import pytest

import mtcontrast  # noqa: F401  first: sets the offline / telemetry env defaults before any test imports MLflow

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
