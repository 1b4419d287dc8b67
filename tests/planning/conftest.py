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

from circulith.api.app import create_app
from circulith.api.settings import Settings
from circulith.cli.planning_commands import forecast_app, network_app
from circulith.services import planning as planning_svc
from circulith.services.demo import build_demo
from circulith.services.platform import DEMO_PASSWORD, demo_email, seed_demo_users
from circulith.store.database import create_db_engine

PLANNER_ORG = "OEM-ALBIS"


@pytest.fixture(scope="session")
def planning_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API on a 12-pack demo registry, logged in as an OEM's demo user."""
    path = tmp_path_factory.mktemp("planning") / "registry.db"
    engine = create_db_engine(f"sqlite:///{path}")
    build_demo(engine, 12, today=dt.date(2026, 1, 15))
    seed_demo_users(engine)
    app = create_app(Settings(database_url=f"sqlite:///{path}", env="test"), engine=engine)
    client = TestClient(app)
    r = client.post("/api/v1/auth/login", json={"email": demo_email(PLANNER_ORG), "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    yield client
    engine.dispose()


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
