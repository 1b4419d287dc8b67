"""The China-bound traceability report pages over its own rows, and agrees with the late-reporter tally.

Receipts by a refiner (a role with no upload obligation) are interleaved with the obliged events: a page
must never be shortened by them, every obliged event appears on exactly one page, and ``total`` counts the
rows that ``compliance late`` tallies.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from circulith.auth.policy import Principal, Role, Scope
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.passport.examples import example_passport
from circulith.services.traceability import late_report, traceability_report
from circulith.store.database import create_db_engine, transaction, upgrade
from circulith.store.ledger_store import append_events
from circulith.store.registry import ensure_organisations, register_passports

YEAR = 2025
ORGS = [{"org_id": o, "name": o, "role": r, "country": "DE"} for o, r in (
    ("OEM-X", "oem"), ("DIS-Y", "dismantler"), ("REC-A", "recycler"), ("REF-B", "refiner"))]
AUTHORITY = Principal(org_id="MSA-DE", role=Role.MARKET_SURVEILLANCE, scopes=frozenset({Scope.READ}), via="cli")


def _at(month: int, day: int) -> dt.datetime:
    return dt.datetime(YEAR, month, day, 9, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    eng = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('trace') / 'r.db'}")
    upgrade(eng)
    passports = [example_passport(f"{i:06d}", seed=i) for i in range(1, 13)]
    with transaction(eng) as s:
        ensure_organisations(s, ORGS)
        register_passports(s, passports, actor_org_id="OEM-X")
    events = []
    for i, p in enumerate(passports):
        b = p.battery_id
        to = "REF-B" if i % 2 else "REC-A"  # half the receipts carry no obligation (a refiner's)
        events += [LedgerEvent(battery_id=b, kind=EventKind.PLACED_ON_MARKET, occurred_at=_at(1, 2),
                               actor_org_id="OEM-X"),
                   LedgerEvent(battery_id=b, kind=EventKind.INSTALLED, occurred_at=_at(1, 9), actor_org_id="OEM-X"),
                   LedgerEvent(battery_id=b, kind=EventKind.REMOVED, occurred_at=_at(3, 3), actor_org_id="DIS-Y"),
                   LedgerEvent(battery_id=b, kind=EventKind.COLLECTED, occurred_at=_at(3, 4), actor_org_id="DIS-Y"),
                   LedgerEvent(battery_id=b, kind=EventKind.SHIPPED, occurred_at=_at(5, 1), actor_org_id="DIS-Y",
                               payload={"to_org_id": to}),
                   LedgerEvent(battery_id=b, kind=EventKind.RECEIVED, occurred_at=_at(5, 6), actor_org_id=to)]
    with transaction(eng) as s:
        append_events(s, events)
    return eng


def test_pages_cover_every_obliged_event_once(engine: Engine) -> None:
    as_of = dt.date(YEAR, 12, 31)
    seen: list[str] = []
    pages = []
    with transaction(engine) as s:
        offset = 0
        while True:
            page = traceability_report(s, AUTHORITY, YEAR, as_of=as_of, offset=offset, limit=10)
            pages.append(page)
            seen += [e.event_id for e in page.events]
            if not page.truncated:
                break
            offset += page.limit
        late = late_report(s, AUTHORITY, YEAR, as_of=as_of)
    obliged = 12 * 3 + 6  # removed, collected, shipped by the dismantler; the recycler's 6 receipts
    assert [p.returned for p in pages] == [10, 10, 10, 10, 2]
    assert len(seen) == len(set(seen)) == obliged
    assert all(p.total == obliged for p in pages)
    assert sum(o.events_due for o in late.operators) == obliged
    assert {o.org_id: o.events_due for o in late.operators} == {"DIS-Y": 36, "REC-A": 6}
    assert all(e.actor_org_id != "REF-B" for p in pages for e in p.events)


def test_a_page_past_the_end_is_empty_and_still_counts(engine: Engine) -> None:
    with transaction(engine) as s:
        page = traceability_report(s, AUTHORITY, YEAR, as_of=dt.date(YEAR, 12, 31), offset=500, limit=10)
    assert page.returned == 0 and page.total == 42 and not page.truncated
