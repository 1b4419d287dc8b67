"""Custody is read under the ledger lock: a write decided on custody that another writer just moved is refused.

On PostgreSQL (read committed) a writer that read the battery's custody before queueing for the
ledger head would authorise itself on a custody another transaction is changing. The write paths
take the head lock first, so the custody they read is the one they append after.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import Principal, Role, Scope
from circulith.demo.fleet import ORGANISATIONS, generate_fleet
from circulith.errors import InvalidInput
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.services.access_models import EventIn
from circulith.services.event_import import import_events
from circulith.services.events import append_event
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events
from circulith.store.registry import ensure_organisations, register_passports

RECYCLER = "REC-NORDMET"


def _wait_for_a_lock_waiter(engine, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as c:
            if c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                              "AND datname = current_database()")).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError("the import never queued for the ledger lock")


def _setup(engine) -> tuple[str, str, dt.datetime]:
    """A pack its maker has shipped to the recycler (custody still the maker's until received)."""
    pack = generate_fleet(1, seed=4, today=dt.date(2026, 11, 1)).passports[0]
    maker = pack.manufacturer.id
    at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with transaction(engine) as s:
        ensure_organisations(s, ORGANISATIONS)
        register_passports(s, [pack], actor_org_id=maker)
        append_events(s, [LedgerEvent(battery_id=pack.battery_id, kind=EventKind.SHIPPED, occurred_at=at,
                                      actor_org_id=maker, payload={"to_org_id": RECYCLER})])
    return pack.battery_id, maker, at


def _race(engine, battery_id: str, at: dt.datetime, write: Callable[[], object]) -> BaseException | object:
    """Run ``write`` while the recycler's receipt (custody moving) is uncommitted; its outcome."""
    outcome: list[BaseException | object] = []

    def writer() -> None:
        try:
            outcome.append(write())
        except BaseException as exc:  # judged by the test thread
            outcome.append(exc)

    with transaction(engine) as s:
        append_events(s, [LedgerEvent(battery_id=battery_id, kind=EventKind.RECEIVED,
                                      occurred_at=at + dt.timedelta(minutes=1), actor_org_id=RECYCLER)])
        worker = threading.Thread(target=writer)
        worker.start()
        _wait_for_a_lock_waiter(engine)
    worker.join(timeout=60)
    assert len(outcome) == 1, outcome
    return outcome[0]


def _postgres_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises every unit of work from its first statement (BEGIN IMMEDIATE)")


def test_an_import_waits_for_a_custody_change_and_is_judged_after_it(engine, db_url, tmp_path: Path) -> None:
    _postgres_only(db_url)
    battery_id, maker, at = _setup(engine)
    path = tmp_path / "events.jsonl"  # the maker, still holding the pack when the file was written
    path.write_text(json.dumps({"battery_id": battery_id, "kind": "placed_on_market",
                                "occurred_at": (at + dt.timedelta(minutes=2)).isoformat(),
                                "actor_org_id": maker}) + "\n", encoding="utf-8")
    outcome = _race(engine, battery_id, at, lambda: import_events(engine, path))
    assert isinstance(outcome, InvalidInput), outcome
    assert "holding it" in str(outcome) and RECYCLER in str(outcome)


def test_an_api_write_waits_for_a_custody_change_and_is_judged_after_it(engine, db_url) -> None:
    _postgres_only(db_url)
    battery_id, maker, at = _setup(engine)
    principal = Principal(org_id=maker, role=Role.OEM, scopes=frozenset({Scope.READ, Scope.WRITE}), via="api_key")
    body = EventIn(battery_id=battery_id, kind="placed_on_market", occurred_at=at + dt.timedelta(minutes=2))

    def post() -> object:
        with transaction(engine) as s:
            return append_event(s, principal, body)

    outcome = _race(engine, battery_id, at, post)
    assert isinstance(outcome, AccessDenied), outcome
    assert "holding it" in str(outcome) and RECYCLER in str(outcome)
