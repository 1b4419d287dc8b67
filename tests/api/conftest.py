"""Fixtures of the API tests: a module-wide registry and logged-in clients per organisation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from circulith.api.settings import Settings
from circulith.server import create_app
from circulith.services import planning as planning_svc
from circulith.store.database import create_db_engine, upgrade

from .scenario import Scenario, build_scenario, email

# The example network plan with relaxed truck counts solves in ~0.4 s instead of ~12 s (same flows' shape).
planning_svc.NETWORK_INTEGER_TRUCKS = False


class Client:
    """A TestClient logged in as one organisation's demo user (CSRF header added to unsafe calls)."""

    def __init__(self, app, org_id: str | None, password: str) -> None:
        self.http = TestClient(app)
        self.org_id = org_id
        self.csrf = ""
        if org_id is not None:
            r = self.http.post("/api/v1/auth/login", json={"email": email(org_id), "password": password})
            assert r.status_code == 200, r.text
            self.csrf = r.json()["csrf_token"]

    def get(self, url: str, **kw):
        return self.http.get(url, **kw)

    def _unsafe(self, method: str, url: str, **kw):
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kw)

    def post(self, url: str, **kw):
        return self._unsafe("POST", url, **kw)

    def patch(self, url: str, **kw):
        return self._unsafe("PATCH", url, **kw)

    def delete(self, url: str, **kw):
        return self._unsafe("DELETE", url, **kw)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """(app, engine, scenario) on a module-wide SQLite registry."""
    path = tmp_path_factory.mktemp("platform") / "registry.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    scenario = build_scenario(engine)
    app = create_app(Settings(database_url=f"sqlite:///{path}", env="test"), engine=engine)
    yield app, engine, scenario
    engine.dispose()


@pytest.fixture(scope="module")
def scenario(registry) -> Scenario:
    """Known facts of the registry."""
    return registry[2]


@pytest.fixture(scope="module")
def clients(registry) -> dict[str | None, Client]:
    """One logged-in client per demo organisation, and ``None`` for the anonymous public."""
    app, _, sc = registry
    out: dict[str | None, Client] = {None: Client(app, None, sc.password)}
    for u in sc.users:
        out[u["org_id"]] = Client(app, u["org_id"], sc.password)
    return out
