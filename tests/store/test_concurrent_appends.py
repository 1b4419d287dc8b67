"""Concurrent writers never move the ledger head backwards (both backends).

Reproduces the critical report of concurrent writes on SQLite: an idempotent re-post of an event
already recorded, racing a new event, left ``ledger_head`` one event behind the events table, after
which every write failed. Each round starts several re-posters and one writer of a new event at a
barrier, each in its own transaction on its own connection; after every round the head must be the
last stored event and a further write must succeed.
"""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import func, select, update

from circulith.demo.fleet import generate_fleet
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events, verify_ledger
from circulith.store.models import Battery, Event, LedgerHead
from circulith.store.registry import register_passports

TODAY = dt.date(2026, 11, 1)
ROUNDS = 30
REPOSTERS = 3


@pytest.fixture
def loaded(engine):
    fleet = generate_fleet(3, seed=11, today=TODAY)
    with transaction(engine) as s:
        register_passports(s, fleet.passports, actor_org_id="OEM-TEST")
    with transaction(engine) as s:
        append_events(s, fleet.events)
    return engine, fleet


def _head_and_last(engine) -> tuple[int, int]:
    with transaction(engine, read_only=True) as s:
        head = s.execute(select(LedgerHead.global_seq)).scalar_one()
        last = s.execute(select(func.max(Event.global_seq))).scalar_one()
    return int(head), int(last)


def _snapshot(battery_id: str, n: int) -> LedgerEvent:
    return LedgerEvent(battery_id=battery_id, kind=EventKind.BMS_SNAPSHOT,
                       occurred_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n),
                       actor_org_id="OEM-TEST", payload={"soc_pct": float(n % 100)})


def test_racing_reposts_and_new_events_leave_the_head_at_the_last_event(loaded):
    engine, fleet = loaded
    battery_id = fleet.passports[0].battery_id
    recorded = _snapshot(battery_id, 0)
    with transaction(engine) as s:
        append_events(s, [recorded])
    errors: list[BaseException] = []

    def write(events: list[LedgerEvent], barrier: threading.Barrier) -> None:
        try:
            barrier.wait(timeout=30)
            with transaction(engine) as s:
                append_events(s, events)
        except BaseException as exc:  # collected and reported by the test thread
            errors.append(exc)

    for n in range(1, ROUNDS + 1):
        barrier = threading.Barrier(REPOSTERS + 1)
        threads = [threading.Thread(target=write, args=([recorded], barrier)) for _ in range(REPOSTERS)]
        threads.append(threading.Thread(target=write, args=([_snapshot(battery_id, n)], barrier)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, f"round {n}: {errors[0]!r}"
        head, last = _head_and_last(engine)
        assert head == last, f"round {n}: the head is at #{head}, the events end at #{last}"
    with transaction(engine, read_only=True) as s:
        report = verify_ledger(s)
    assert report.ok, report.findings
    with transaction(engine) as s:
        assert append_events(s, [_snapshot(battery_id, ROUNDS + 1)]).appended == 1


def test_a_repost_alone_does_not_rewrite_the_head(loaded):
    engine, fleet = loaded
    ev = _snapshot(fleet.passports[1].battery_id, 5)
    with transaction(engine) as s:
        first = append_events(s, [ev])
    with transaction(engine) as s:
        again = append_events(s, [ev])
    assert (first.appended, again.appended, again.unchanged) == (1, 0, 1)
    assert again.head_global_seq == first.head_global_seq and again.head_sha256 == first.head_sha256


def test_two_imports_at_once_both_succeed_and_duplicate_nothing(loaded, tmp_path):
    from circulith.services.registry import import_events

    engine, fleet = loaded
    lines = [json.dumps(_snapshot(p.battery_id, 100 + i).model_dump(mode="json"))
             for i, p in enumerate(fleet.passports)]
    path = tmp_path / "more.jsonl"
    path.write_text("\n".join(lines) + "\n")
    reports: list = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            reports.append(import_events(engine, path))
        except BaseException as exc:  # collected and reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, repr(errors[0])
    assert sorted((r.written, r.unchanged) for r in reports) == [(0, len(lines)), (len(lines), 0)]
    head, last = _head_and_last(engine)
    assert head == last


def test_verify_checks_each_battery_tip_against_its_events(loaded):
    engine, fleet = loaded
    victim = fleet.passports[2].battery_id
    with transaction(engine) as s:
        s.execute(update(Battery).where(Battery.battery_id == victim).values(last_chain_sha256="f" * 64))
    with transaction(engine, read_only=True) as s:
        report = verify_ledger(s)
    assert [(f.problem, f.battery_id) for f in report.findings] == [("tip_mismatch", victim)]
