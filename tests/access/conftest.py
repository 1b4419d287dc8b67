"""The API tests' registry and clients (a demo registry with known custody facts), shared here."""

from api.conftest import Client, clients, registry, scenario  # noqa: F401 - fixtures re-exported
