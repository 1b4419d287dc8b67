"""Test setup shared by the whole suite.

Storage tests run against both backends: an SQLite file per test, and a real PostgreSQL server
that this setup starts (initdb + pg_ctl from Debian's ``postgresql`` package) in a throwaway
directory for the session and stops at the end. Each test gets a fresh database.

Set ``CIRCULITH_TEST_POSTGRES_URL`` to use an existing server instead. Without PostgreSQL
binaries the PostgreSQL variants are skipped with a message, except under CI (``CI=true``),
where that is an error: CI must exercise both backends.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from circulith.store.throwaway_postgres import ThrowawayPostgres, postgres_bindir

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()


def shared_path(*parts: str) -> Path:
    """A path under ``../shared``; skips the test with a clear message when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (tests read ../shared beside the repository)")
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of the session's PostgreSQL server (admin database)."""
    url = os.environ.get("CIRCULITH_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    bindir = postgres_bindir()
    if bindir is None:
        msg = "PostgreSQL binaries not found (apt-get install postgresql, or run 'make test')"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    server = ThrowawayPostgres(bindir)
    try:
        url = server.start()
    except subprocess.CalledProcessError as exc:
        server.stop()
        pytest.fail(f"could not start PostgreSQL: {exc.stderr or exc.stdout}")
    try:
        yield url
    finally:
        server.stop()


def _fresh_postgres_db(admin_url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), name


def _drop_postgres_db(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'circulith.db'}"
        return
    admin_url = request.getfixturevalue("postgres_server")
    url, name = _fresh_postgres_db(admin_url)
    try:
        yield url
    finally:
        _drop_postgres_db(admin_url, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """URLs of two fresh, empty databases on each backend (to run the same work two ways and compare)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'second.db'}"
        return
    admin_url = request.getfixturevalue("postgres_server")
    made = [_fresh_postgres_db(admin_url) for _ in range(2)]
    try:
        yield made[0][0], made[1][0]
    finally:
        for _, name in made:
            _drop_postgres_db(admin_url, name)


@pytest.fixture
def engine(db_url: str):
    """An engine on a fresh database at the current schema revision."""
    from circulith.store.database import create_db_engine, upgrade

    eng = create_db_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path):
    """An engine on a fresh SQLite database at the current schema revision (backend-neutral tests)."""
    from circulith.store.database import create_db_engine, upgrade

    eng = create_db_engine(f"sqlite:///{tmp_path / 'circulith.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    """Poll ``predicate`` until true or timeout (for servers started by tests)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False
