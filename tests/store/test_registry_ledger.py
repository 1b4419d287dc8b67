"""Registry and ledger storage on SQLite and on a real PostgreSQL (both backends run every test)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from circulith.demo.fleet import generate_fleet
from circulith.errors import InvalidInput, NotFound
from circulith.ledger.events import LedgerEvent
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events, verify_ledger
from circulith.store.models import Battery, Event, Identifier
from circulith.store.registry import get_passport, register_passports, resolve

TODAY = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def fleet():
    return generate_fleet(4, seed=7, today=TODAY)


@pytest.fixture
def loaded(engine, fleet):
    with transaction(engine) as s:
        register_passports(s, fleet.passports, actor_org_id="OEM-TEST")
    with transaction(engine) as s:
        append_events(s, fleet.events)
    return engine


def _count(engine, model) -> int:
    with transaction(engine) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _verify(engine):
    with transaction(engine) as s:
        return verify_ledger(s)


def test_register_and_history_verify(loaded, fleet):
    assert _count(loaded, Battery) == len(fleet.passports)
    assert _count(loaded, Event) == len(fleet.passports) + len(fleet.events)
    report = _verify(loaded)
    assert report.ok, report.findings
    assert report.events_checked == len(fleet.passports) + len(fleet.events)


def test_reregistering_is_idempotent_and_conflicts_are_refused(loaded, fleet):
    with transaction(loaded) as s:
        again = register_passports(s, fleet.passports, actor_org_id="OEM-TEST")
    assert again.created == 0 and again.unchanged == len(fleet.passports)
    changed = fleet.passports[0].model_copy(update={"mass_kg": fleet.passports[0].mass_kg + 1.0})
    with pytest.raises(InvalidInput, match="different content"), transaction(loaded) as s:
        register_passports(s, [changed], actor_org_id="OEM-TEST")
    with transaction(loaded) as s:
        again = append_events(s, fleet.events)
    assert again.appended == 0 and again.unchanged == len(fleet.events)
    assert _verify(loaded).ok


def test_identifiers_resolve_from_every_scheme_and_are_never_reused(loaded, fleet):
    pack = fleet.passports[0]
    with transaction(loaded) as s:
        assert resolve(s, pack.battery_id) == pack.battery_id
        assert resolve(s, pack.identifiers[0]) == pack.battery_id  # GB/T 34014 code
        assert resolve(s, pack.passport_id) == pack.battery_id
        with pytest.raises(NotFound):
            resolve(s, "urn:uuid:00000000-0000-4000-8000-000000000000")
    other = fleet.passports[1]
    thief = other.model_copy(update={"battery_id": "urn:example:new-battery-1", "passport_id":
                                     "urn:uuid:11111111-1111-4111-8111-111111111111", "identifiers": [pack.identifiers[0]],
                                     "parent_battery_id": other.parent_battery_id})
    with pytest.raises(InvalidInput, match="never reused"), transaction(loaded) as s:
        register_passports(s, [thief], actor_org_id="OEM-TEST")
    assert _count(loaded, Identifier) == sum(len(p.all_identifiers()) for p in fleet.passports)


def test_dynamic_values_follow_bms_snapshots(loaded, fleet):
    snaps = [e for e in fleet.events if e.kind == "bms_snapshot" and "soh_pct" in e.payload]
    last = max((e for e in snaps if e.battery_id == snaps[0].battery_id), key=lambda e: e.occurred_at)
    with transaction(loaded) as s:
        passport = get_passport(s, last.battery_id)
    assert passport.dynamic.soh_pct is not None
    assert passport.dynamic.soh_pct.value == pytest.approx(last.payload["soh_pct"])
    assert passport.dynamic.soh_pct.updated_at == last.occurred_at


def test_bad_events_are_all_reported_and_nothing_is_written(loaded, fleet):
    pack = fleet.passports[0]
    before = _count(loaded, Event)
    bad = [
        LedgerEvent(battery_id=pack.battery_id, kind="shredded", occurred_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
                    actor_org_id="REC", payload={}),  # impossible from in service
        LedgerEvent(battery_id=pack.battery_id, kind="repaired", occurred_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
                    actor_org_id="REC"),  # before manufacture
        LedgerEvent(battery_id="urn:example:nobody", kind="repaired", occurred_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                    actor_org_id="REC"),  # unknown battery
        LedgerEvent(battery_id=pack.battery_id, kind="bms_snapshot",
                    occurred_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3), actor_org_id="REC"),  # future
    ]
    with pytest.raises(InvalidInput) as info, transaction(loaded) as s:
        append_events(s, bad)
    fields = [p.field for p in info.value.problems]
    assert len(info.value.problems) == 4 and fields.count("occurred_at") == 2
    assert "kind" in fields and "battery_id" in fields
    assert _count(loaded, Event) == before


def _drop_guard(session) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DROP TRIGGER events_no_update"))
        session.execute(text("DROP TRIGGER events_no_delete"))
    else:
        session.execute(text("ALTER TABLE events DISABLE TRIGGER events_append_only"))


def test_events_are_append_only_in_the_database(loaded):
    with pytest.raises(DBAPIError, match="append-only"), transaction(loaded) as s:
        s.execute(text("UPDATE events SET kind = 'repaired' WHERE global_seq = 3"))
    with pytest.raises(DBAPIError, match="append-only"), transaction(loaded) as s:
        s.execute(text("DELETE FROM events WHERE global_seq = 3"))


@pytest.mark.parametrize("tamper", ["alter", "delete", "insert", "reorder", "truncate"])
def test_verify_detects_and_names_direct_tampering(loaded, tamper):
    with transaction(loaded) as s:
        victim = s.execute(select(Event).where(Event.global_seq == 40)).scalar_one()
        vid, vbat, vseq = victim.event_id, victim.battery_id, victim.battery_seq
        last = s.execute(select(func.max(Event.global_seq))).scalar_one()
    with transaction(loaded) as s:
        _drop_guard(s)
        if tamper == "alter":
            payload = json.loads(victim.payload_json) | {"forged": True}
            s.execute(text("UPDATE events SET payload_json = :p WHERE event_id = :e"),
                      {"p": json.dumps(payload, sort_keys=True, separators=(",", ":")), "e": vid})
        elif tamper == "delete":
            s.execute(text("DELETE FROM events WHERE event_id = :e"), {"e": vid})
        elif tamper == "insert":
            s.execute(text(
                "INSERT INTO events SELECT battery_id, battery_seq + 1000, :g, 'forged-id', kind, occurred_at, "
                "actor_org_id, site_id, payload_json, content_sha256, battery_prev_sha256, battery_chain_sha256, "
                "global_prev_sha256, global_chain_sha256 FROM events WHERE event_id = :e"), {"g": last + 1, "e": vid})
        elif tamper == "reorder":
            s.execute(text("UPDATE events SET global_seq = -1 WHERE global_seq = 40"))
            s.execute(text("UPDATE events SET global_seq = 40 WHERE global_seq = 41"))
            s.execute(text("UPDATE events SET global_seq = 41 WHERE global_seq = -1"))
        else:
            s.execute(text("DELETE FROM events WHERE global_seq = :g"), {"g": last})
    report = _verify(loaded)
    assert not report.ok
    named = {f.event_id for f in report.findings}
    if tamper in ("alter", "reorder"):
        assert vid in named
    elif tamper == "insert":
        assert "forged-id" in named
    elif tamper == "delete":
        # The gap in the global chain names the missing position (#40); when the battery has later
        # events, the gap in its own chain names it too.
        assert any(f.problem == "deleted" and "#40..#40" in f.detail for f in report.findings)
        # Besides the gaps, the tip and state checks may name what the missing event changed (the
        # battery's chain tip, lifecycle, custody, dynamic values); every chain finding is a deletion.
        assert all(f.problem == "deleted" for f in report.findings if f.problem not in ("state_mismatch", "tip_mismatch"))
        assert any(f"#{vseq}" in f.detail for f in report.findings if f.battery_id == vbat) or not any(
            f.battery_id == vbat and "battery events" in f.detail for f in report.findings)
    else:
        chain = [f for f in report.findings if f.problem not in ("state_mismatch", "tip_mismatch")]
        assert chain[-1].problem == "head_mismatch"
        # the battery whose last event went keeps a stored tip past its events
        assert any(f.problem == "tip_mismatch" for f in report.findings)
