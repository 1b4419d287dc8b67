"""Fixtures of the parity tests: the API tests' registry and logged-in clients."""

from api.conftest import clients, registry, scenario  # noqa: F401 - shared fixtures
