"""Shared helpers for CLI commands: output in text or JSON, the database URL in effect."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from rich.console import Console
from rich.markup import escape

from circulith.io.terminal import printable, printable_json

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from circulith.auth.policy import Principal

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite:///circulith.db"

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    """Options given before the command (``circulith --db URL ...``)."""

    db_url: str | None = None
    acting_org: str | None = None

    def database_url(self) -> str:
        """The database URL in effect: ``--db``, then ``CIRCULITH_DATABASE_URL``, then the SQLite default."""
        return self.db_url or os.environ.get("CIRCULITH_DATABASE_URL") or DEFAULT_DATABASE_URL

    def acting_org_id(self) -> str | None:
        """Who the command acts as: ``--as``, then ``CIRCULITH_AS``; None: the registry operator."""
        return self.acting_org or os.environ.get("CIRCULITH_AS") or None


state = CliState()


def acting_principal() -> Principal:
    """The principal the command acts as (see :func:`call_service`), for services that take an engine."""
    return call_service(lambda _session, principal: principal)


def call_service(fn: Callable[Concatenate[Session, Principal, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run the service ``fn(session, principal, *args, **kwargs)`` in one transaction as the acting principal.

    The principal is resolved by :func:`circulith.services.credentials.principal_for_cli` (``--as ORG``,
    ``CIRCULITH_AS``, or the registry operator), so a command obeys the same access rules as the API and
    its reads of restricted data are written to the access log in the same transaction. A unit of work
    that lost a race with another writer is run again (:func:`~circulith.store.database.with_write_retries`);
    if the registry stays busy, the :class:`~circulith.store.database.WriteConflict` says so (exit 2).
    """
    from circulith.services.credentials import principal_for_cli
    from circulith.store.database import (
        create_db_engine,
        require_schema,
        snapshot_engine,
        transaction,
        with_write_retries,
    )

    engine = create_db_engine(state.database_url())
    require_schema(snapshot_engine(engine))  # a plain read: it must not queue for another writer's lock

    def unit() -> T:
        with transaction(engine) as session:
            principal = principal_for_cli(session, state.acting_org_id())
            return fn(session, principal, *args, **kwargs)

    return with_write_retries(unit)


def shown(text: object) -> str:
    """Stored or user text made safe to print with the consoles above.

    Control characters become visible escapes (:func:`circulith.io.terminal.printable`: an
    ``ESC [ 2 J`` in a site ID is shown as ``\\x1b[2J``, never sent to the terminal), and Rich markup
    in it (``[bold]``, ``[/]``) is printed as written, never interpreted.
    """
    return escape(printable(text))


def _default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def emit_json(obj: Any) -> None:
    """Write ``obj`` as JSON to standard output (one document, UTF-8, stable key order, no raw control codes)."""
    sys.stdout.write(printable_json(json.dumps(obj, default=_default, indent=2, ensure_ascii=False)) + "\n")
    sys.stdout.flush()
