"""Engines, sessions and schema migrations."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from circulith.errors import CirculithError, Conflict

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long an SQLite writer waits for the write lock before giving up [ms]."""

SQLITE_POOL_SIZE = 64
"""Connections kept per SQLite engine: at least as many as the server's worker threads (one each)."""

WRITE_ATTEMPTS = 5
"""Attempts of one unit of work that lost a race with another writer, before :class:`WriteConflict`."""

RETRY_AFTER_S = 1
"""Retry hint given with a :class:`WriteConflict` [s]."""

_BEGIN = "circulith_begin"


class WriteConflict(Conflict):
    """Another writer changed the registry at the same moment (or held the write lock too long).

    Nothing was written; the same request can be sent again after :attr:`retry_after_s` seconds.
    """

    def __init__(self, message: str, *, retry_after_s: int = RETRY_AFTER_S):
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # circulith issues BEGIN itself (see _sqlite_begin): the driver's implicit transactions would start
    # only at the first write, after the reads that decide what is written.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """Open SQLite transactions explicitly: ``BEGIN IMMEDIATE`` for a unit of work, ``BEGIN`` for reads.

    ``BEGIN IMMEDIATE`` takes the database's write lock before the first read, so everything a writer
    reads (ledger head, battery tips, existing event IDs) stays current until it commits: writers queue
    (up to the busy timeout) instead of overwriting each other's head.
    """
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return
    conn.connection.driver_connection.isolation_level = None  # type: ignore[union-attr]  # reset by the pool
    conn.exec_driver_sql(f"BEGIN {options.get(_BEGIN, 'IMMEDIATE')}")


def create_db_engine(url: str, *, echo: bool = False, pool_size: int | None = None,
                     max_overflow: int | None = None) -> Engine:
    """Create an engine for ``url`` (SQLite or PostgreSQL) with circulith's connection settings.

    ``pool_size`` and ``max_overflow`` size the connection pool (e.g. for a server worker); SQLAlchemy's
    defaults when None on PostgreSQL. SQLite keeps :data:`SQLITE_POOL_SIZE` connections (at least one per
    worker thread, never fewer than ``pool_size + max_overflow``) in WAL mode with a busy timeout: readers
    never wait for the writer, and writers queue for the write lock.

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
        if parsed.database in (None, "", ":memory:"):
            engine = create_engine(parsed, echo=echo)  # one connection: SQLAlchemy's SingletonThreadPool
        else:
            size = max(SQLITE_POOL_SIZE, (pool_size or 0) + (max_overflow or 0))
            engine = create_engine(parsed, echo=echo, pool_size=size, max_overflow=0, pool_timeout=60)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
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


def snapshot_engine(engine: Engine) -> Engine:
    """The same engine, opening plain (deferred) transactions: for reads that must not wait for or block
    writers (SQLite); PostgreSQL ignores the option."""
    return engine.execution_options(**{_BEGIN: "DEFERRED"})


@contextmanager
def transaction(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any exception.

    On SQLite a unit of work holds the write lock from its first statement (``BEGIN IMMEDIATE``);
    ``read_only=True`` opens a plain snapshot instead (for reads that must agree with each other and
    write nothing: they neither wait for nor block writers). A lost race with another writer (the
    write lock not obtained within the busy timeout, a guarded update of the ledger head that found
    it moved, a unique key taken meanwhile) raises :class:`WriteConflict`, after rolling back.
    """
    bind = snapshot_engine(engine) if read_only else engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            with session.begin():
                yield session
        except OperationalError as exc:
            if not _is_contention(exc):
                raise
            raise WriteConflict("the registry is busy with another write: nothing was written, retry shortly") from exc
        except IntegrityError as exc:
            if not _is_unique_race(exc):
                raise
            raise WriteConflict("another write recorded the same position or key at the same moment: nothing was "
                                "written, retry") from exc


def _is_contention(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    code = getattr(exc.orig, "sqlstate", None)
    return "database is locked" in text or "database is busy" in text or code in ("40001", "40P01", "55P03")


def _is_unique_race(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "events.global_seq" in text or "events_global_seq" in text or "ledger_head" in text


def with_write_retries(unit: Callable[[], T], *, attempts: int = WRITE_ATTEMPTS) -> T:
    """Run ``unit`` (one complete unit of work: its own :func:`transaction`) again when it lost a race.

    Retries a :class:`WriteConflict` up to ``attempts`` times in all, with a short randomised back-off,
    then lets the last one propagate (the API answers it 409 with a ``Retry-After`` hint).
    """
    for attempt in range(1, attempts + 1):
        try:
            return unit()
        except WriteConflict:
            if attempt == attempts:
                raise
            time.sleep(random.uniform(0.01, 0.05) * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


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
    if "batteries" not in inspect(snapshot_engine(engine)).get_table_names():
        raise CirculithError(
            f"database {engine.url.render_as_string(hide_password=True)} has no circulith schema: "
            "run 'circulith db upgrade' first"
        )
