"""Fixtures of the web tests: the API tests' registry and clients."""

from api.conftest import clients, registry, scenario  # noqa: F401 - shared fixtures
