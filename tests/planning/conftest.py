"""Fixtures of the planning tests: a small demo registry and the API logged in as a planner."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from circulith.api.settings import Settings
from circulith.cli.planning_commands import forecast_app, network_app
from circulith.server import create_app
from circulith.services import planning as planning_svc
from circulith.services.demo import build_demo
from circulith.services.demo_users import DEMO_PASSWORD, demo_email, seed_demo_users
from circulith.store.database import create_db_engine

PLANNER_ORG = "OEM-ALBIS"


@pytest.fixture(autouse=True)
def _cli_acts_as_nobody_named() -> Iterator[None]:
    """Each test starts with no global ``--as`` left over from an earlier in-process CLI run."""
    from circulith.cli.common import state

    old = state.acting_org
    state.acting_org = None
    yield
    state.acting_org = old


@pytest.fixture(scope="session")
def planning_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API on a 60-pack demo registry, logged in as an OEM's demo user (``db_url`` attribute: its URL)."""
    path = tmp_path_factory.mktemp("planning") / "registry.db"
    engine = create_db_engine(f"sqlite:///{path}")
    build_demo(engine, 60, today=dt.date(2026, 1, 15))
    seed_demo_users(engine)
    app = create_app(Settings(database_url=f"sqlite:///{path}", env="test"), engine=engine)
    client = TestClient(app)
    client.db_url = f"sqlite:///{path}"  # type: ignore[attr-defined]
    client.engine = engine  # type: ignore[attr-defined]
    r = client.post("/api/v1/auth/login", json={"email": demo_email(PLANNER_ORG), "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    yield client
    engine.dispose()


def login(client: TestClient, org_id: str) -> TestClient:
    """A new client of the same app logged in as ``org_id``'s demo user."""
    c = TestClient(client.app)
    r = c.post("/api/v1/auth/login", json={"email": demo_email(org_id), "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


@pytest.fixture(scope="session")
def authority_api(planning_api: TestClient) -> TestClient:
    """The same API logged in as the German market-surveillance authority (MSA-DE)."""
    return login(planning_api, "MSA-DE")


@pytest.fixture(scope="session")
def commission_api(planning_api: TestClient) -> TestClient:
    """The same API logged in as the European Commission (EC)."""
    return login(planning_api, "EC")


@pytest.fixture()
def relaxed_example_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example network with relaxed truck counts (~0.4 s instead of ~12 s; same shape of flows)."""
    monkeypatch.setattr(planning_svc, "NETWORK_INTEGER_TRUCKS", False)
    planning_svc._example_network.cache_clear()


def _cli_json(*args: str) -> Any:
    app = typer.Typer()
    app.add_typer(forecast_app, name="forecast")
    app.add_typer(network_app, name="network")
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture()
def cli_json() -> Callable[..., Any]:
    """Run a planning command with ``--json`` and parse its standard output (nothing else may be on it)."""
    return _cli_json
