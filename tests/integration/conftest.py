"""Integration fixtures: one temporary Prefect API for the whole session (its start takes ~20 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import mtcontrast  # noqa: F401  first: sets the Prefect env defaults (analytics off, server start timeout)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """Flows run against a throwaway Prefect server and database (never the user's profile)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
