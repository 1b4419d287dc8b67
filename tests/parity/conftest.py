"""Fixtures of the parity tests: the API tests' registry (SQLite file), its URL, and logged-in clients."""

from __future__ import annotations

import pytest

from api.conftest import clients, registry, scenario  # noqa: F401 - shared fixtures


@pytest.fixture(scope="module")
def db_url(registry) -> str:  # noqa: F811
    """The URL of the registry's database, for the CLI door."""
    return registry[0].state.settings.database_url
