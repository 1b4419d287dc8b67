"""Engines, sessions and schema migrations."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from circulith.errors import CirculithError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def create_db_engine(url: str, *, echo: bool = False, pool_size: int | None = None,
                     max_overflow: int | None = None) -> Engine:
    """Create an engine for ``url`` (SQLite or PostgreSQL) with circulith's connection settings.

    ``pool_size`` and ``max_overflow`` size the PostgreSQL connection pool (e.g. for a server worker);
    SQLAlchemy's defaults when None.

    Raises
    ------
    CirculithError
        If the URL cannot be parsed or names an unsupported backend.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise CirculithError(f"database URL '{url}' is not a valid SQLAlchemy URL") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(parsed, echo=echo)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        sizing = {k: v for k, v in (("pool_size", pool_size), ("max_overflow", max_overflow)) if v is not None}
        return create_engine(parsed, echo=echo, pool_pre_ping=True, **sizing)
    raise CirculithError(f"unsupported database backend '{backend}': use sqlite:/// or postgresql://")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine`` (objects stay readable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any exception."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the schema to ``revision`` with Alembic and return the revision now in force."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() or "base"


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision of the database, or None if it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_schema(engine: Engine) -> None:
    """Refuse to work on a database that was never migrated, with the command that fixes it."""
    if "batteries" not in inspect(engine).get_table_names():
        raise CirculithError(
            f"database {engine.url.render_as_string(hide_password=True)} has no circulith schema: "
            "run 'circulith db upgrade' first"
        )
