"""Login limits behind a reverse proxy: X-Forwarded-For is believed only from a configured trusted proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from circulith.api.settings import Settings
from circulith.auth.ratelimit import LoginLimiter
from circulith.errors import CirculithError
from circulith.server import create_app
from circulith.store.database import create_db_engine, upgrade

PROXY = "10.0.0.5"


def _app(tmp_path: Path, trusted: tuple[str, ...]):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    app = create_app(Settings(database_url=url, env="test", trusted_proxies=trusted), engine=engine)
    app.state.limiter = LoginLimiter(source_max_failures=2, source_window_s=600.0)  # a small source limit
    return app, engine


def _fail(http: TestClient, n: int, forwarded_for: str) -> int:
    """Status of a failed login with a fresh e-mail (so only the source counter matters)."""
    r = http.post("/api/v1/auth/login", json={"email": f"nobody{n}@example.org", "password": "wrong"},
                  headers={"X-Forwarded-For": forwarded_for})
    return r.status_code


def test_behind_a_trusted_proxy_clients_are_counted_apart(tmp_path: Path) -> None:
    app, engine = _app(tmp_path, (PROXY,))
    http = TestClient(app, client=(PROXY, 40000))
    assert [_fail(http, i, "198.51.100.1") for i in range(3)] == [401, 401, 429]
    assert _fail(http, 10, "198.51.100.2") == 401  # another client behind the same proxy is not locked out
    # a client forging the header in front of the proxy is still counted by its own address
    assert _fail(http, 11, "203.0.113.9, 198.51.100.1") == 429
    engine.dispose()


def test_from_an_untrusted_peer_the_header_is_ignored(tmp_path: Path) -> None:
    app, engine = _app(tmp_path, (PROXY,))
    http = TestClient(app, client=("192.0.2.77", 40000))
    assert [_fail(http, i, f"198.51.100.{i}") for i in range(3)] == [401, 401, 429]  # one source, whatever it claims
    engine.dispose()


def test_without_trusted_proxies_the_header_is_ignored(tmp_path: Path) -> None:
    app, engine = _app(tmp_path, ())
    http = TestClient(app, client=(PROXY, 40000))
    assert [_fail(http, i, f"198.51.100.{i}") for i in range(3)] == [401, 401, 429]
    engine.dispose()


def test_trusted_proxies_from_the_environment_are_checked() -> None:
    s = Settings.from_env({"CIRCULITH_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16,::1"})
    assert s.trusted_proxies == ("10.0.0.5", "10.1.0.0/16", "::1")
    assert len(s.trusted_networks) == 3
    assert Settings.from_env({}).trusted_proxies == ()
    with pytest.raises(CirculithError, match="CIRCULITH_TRUSTED_PROXIES: 'proxy.example' is neither"):
        Settings.from_env({"CIRCULITH_TRUSTED_PROXIES": "proxy.example"})
