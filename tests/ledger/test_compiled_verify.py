"""The compiled ledger verifier gives exactly the Python verifier's report, on both backends.

Every ledger here -- intact; tampered as test_checkpoints.py and tests/store/test_registry_ledger.py do;
with replay edge cases re-chained consistently, so that only the replay can see them; with stored state
the events may or may not give -- is verified by both (the Python one is the reference): same findings,
counts, head, truncation and Merkle leaves. Where the compiled one leaves data to Python, it must say so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from circulith.demo.fleet import DemoFleet, generate_fleet
from circulith.ledger import merkle
from circulith.ledger.chain import ChainBuilder
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.ledger.hashing import GENESIS_SHA256, content_text
from circulith.ledger.verify import VerificationReport
from circulith.store import native_verify
from circulith.store.database import create_db_engine, transaction, upgrade
from circulith.store.ledger_store import (
    DYNAMIC_KEYS,
    append_events,
    insert_event_rows,
    stream_event_rows,
    verify_ledger,
)
from circulith.store.models import Battery, Event, LedgerHead
from circulith.store.registry import register_passports

TODAY = dt.date(2026, 11, 1)
LATER = "2026-11-15T00:00:00.000000Z"  # after every event of the fleet and of _LIFE
NO_RECORD = "has events but no stored record"  # the one kind of finding whose order is a set's
Rows = list[tuple]
Ids = dict[str, str]
Change = Callable[[Rows, Ids], Rows]  # a rewrite of the stored events (then re-chained consistently)
NOT_BUILT = ("the compiled verifier is not built (circulith.store._ledger_native: 'pip install -e .' with a C "
             "compiler and the SQLite, libpq and OpenSSL headers)")

# The rest of a life for some of the fleet's batteries (kind, payload, actor, site), so that every kind occurs.
_LIFE: dict[str, list[tuple]] = {
    "a": [("tested", {"soh_pct": 81.5, "remaining_capacity_ah": 150.0}, "LAB-X", "lab:1"),
          ("graded", {"grade": "B", "soh_pct": 81.0}), ("installed", {"region": "DE-BY"}, "ESS-OP", "site:Köln"),
          ("bms_snapshot", {"soh_pct": 79.0}), ("removed", {}), ("collected", {}, "REC-NORDMET", "yard"),
          ("tested", {"soh_pct": 78.0}), ("repurposed", {}), ("removed", {}), ("collected", {}), ("dismantled", {}),
          ("discharged", {}), ("shredded", {}), ("black_mass_lot_created", {"lot_id": "L-1"}), ("refined", {}),
          ("material_output", {"kg": 3.5}), ("recycled", {})],
    "b": [("quarantined", {"reason": "swelling"}), ("tested", {"soh_pct": 60.0}), ("graded", {"grade": "D"}),
          ("shipped", {"to_org_id": "REC-NORDMET"}), ("received", {}, "REC-NORDMET", "REC-NORDMET:intake")],
    "c": [("bms_snapshot", {"soh_pct": 88.25, "full_cycles": 310.0}), ("swapped", {}, "FLEET-OP", "depot:1"),
          ("repaired", {}), ("module_replaced", {"module": 2}), ("shipped", {"to_org_id": "FLEET-OP"})],
    "m": [("collected", {}, "REC-NORDMET", "yard"), ("tested", {"soh_pct": 92.0}), ("reused", {})],
    "m2": [("collected", {}, "REC-NORDMET", "yard"), ("graded", {"grade": "A"}), ("remanufactured", {})],
}


@pytest.fixture(scope="module")
def fleet() -> DemoFleet:
    return generate_fleet(12, seed=5, today=TODAY)


def _load(engine: Engine, fleet: DemoFleet) -> Ids:
    """Register the fleet, record its events and the rest of _LIFE; the batteries _LIFE and the cases name."""
    last = {e.battery_id: e for e in fleet.events}
    def ending(kinds: set[str]) -> list[str]:
        return [e.battery_id for e in sorted(last.values(), key=lambda e: e.occurred_at) if e.kind.value in kinds]
    received, installed = ending({"received"}), ending({"installed"})
    modules = [p.battery_id for p in fleet.passports if p.level == "module"]
    ids = {"a": received[0], "b": received[1], "c": installed[0], "n": ending({"manufactured", "placed_on_market"})[0],
           "m": modules[0], "m2": modules[1]}
    start = dt.datetime(2026, 10, 25, tzinfo=dt.UTC)
    more = [LedgerEvent(battery_id=ids[key], kind=EventKind(step[0]), payload=step[1], occurred_at=start + dt.timedelta(
        hours=i), actor_org_id=step[2] if len(step) > 2 else "OEM-TEST", site_id=step[3] if len(step) > 2 else None)
        for key, steps in _LIFE.items() for i, step in enumerate(steps)]
    with transaction(engine) as s:
        register_passports(s, fleet.passports, actor_org_id="OEM-TEST")
    with transaction(engine) as s:
        append_events(s, [*fleet.events, *more])
    return ids


@pytest.fixture
def registry(engine: Engine, fleet: DemoFleet) -> tuple[Engine, Ids]:
    return engine, _load(engine, fleet)


def _same(py: VerificationReport, cc: VerificationReport) -> None:
    def summary(r: VerificationReport) -> tuple:
        return r.events_checked, r.batteries_checked, r.head_global_seq, r.head_sha256, r.truncated, len(r.findings)

    assert summary(cc) == summary(py)
    assert sorted(map(str, cc.findings)) == sorted(map(str, py.findings))
    assert sorted(map(repr, cc.findings)) == sorted(map(repr, py.findings))  # (the types of the fields too)
    assert [f for f in cc.findings if NO_RECORD not in f.detail] == [f for f in py.findings if NO_RECORD not in f.detail]


def _compiled(engine: Engine, *, max_findings: int = 1000, leaves: bool = True) -> object:
    return native_verify.compiled_pass(engine, max_findings=max_findings, want_leaves=leaves, dynamic_keys=DYNAMIC_KEYS)


def _need_built() -> None:
    if native_verify.native is None:
        if os.environ.get("CI"):
            pytest.fail(NOT_BUILT)
        pytest.skip(NOT_BUILT)


def _both(engine: Engine, *, max_findings: int = 1000, leaves: bool = True, fallback: bool = False
          ) -> tuple[VerificationReport, VerificationReport, list[bytes] | None, list[bytes] | None]:
    """Both verifiers' reports and leaves (required equal); the compiled pass must run, or fall back where expected."""
    _need_built()
    ran = _compiled(engine, max_findings=max_findings, leaves=leaves)  # (a fallback: None, or the reason)
    assert isinstance(ran, native_verify.CompiledPass) != fallback, ran if fallback else f"it fell back: {ran}"
    py_leaves: list[bytes] | None = [] if leaves else None
    cc_leaves: list[bytes] | None = [] if leaves else None
    with transaction(engine, read_only=True) as s:
        py = verify_ledger(s, max_findings=max_findings, leaves=py_leaves)
        cc = verify_ledger(s, max_findings=max_findings, leaves=cc_leaves, compiled=True)
    _same(py, cc)
    assert cc_leaves == py_leaves
    verifier = getattr(cc, "verifier", None)  # (where the report says which verifier made it)
    assert verifier is None or (verifier == "compiled") != fallback, verifier
    return py, cc, py_leaves, cc_leaves


def _drop_guard(session: Session) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DROP TRIGGER IF EXISTS events_no_update"))
        session.execute(text("DROP TRIGGER IF EXISTS events_no_delete"))
    else:
        session.execute(text("ALTER TABLE events DISABLE TRIGGER events_append_only"))


def _rechain(engine: Engine, change: Callable[[Rows], Rows]) -> None:
    """Rewrite every stored event from ``change(rows)`` with consistent digests, tips and head (an insider's rewrite)."""
    with transaction(engine) as s:
        rows = change([tuple(r) for r in stream_event_rows(s)])
        _drop_guard(s)
        s.execute(text("DELETE FROM events"))
        builder = ChainBuilder(0, GENESIS_SHA256, {})
        insert_event_rows(s, [builder.link(r[1], r[3], r[4], r[5], r[6], r[7], r[8],
                                           content_text(r[3], r[1], r[4], r[5], r[6], r[7], r[8])) for r in rows])
        s.execute(update(Battery).values(last_seq=0, last_chain_sha256=GENESIS_SHA256))  # (batteries left without events)
        for bid, head in builder.battery_heads.items():
            s.execute(update(Battery).where(Battery.battery_id == bid)
                      .values(last_seq=head.seq, last_chain_sha256=head.chain_sha256))
        s.execute(update(LedgerHead).where(LedgerHead.id == 1)
                  .values(global_seq=builder.global_seq, global_chain_sha256=builder.global_sha256))


def _tamper(engine: Engine, ids: Ids, *statements: str) -> None:
    with transaction(engine) as s:
        last = s.execute(select(func.max(Event.global_seq))).scalar_one()
        _drop_guard(s)
        for st in statements:
            s.execute(text(st), {**ids, **_PARAMS, "last": last})


def _forge(row: tuple, soh: float) -> tuple:
    payload = json.loads(row[8]) | {"soh_pct": soh}
    return (*row[:8], json.dumps(payload, sort_keys=True, separators=(",", ":")), *row[9:])


def _document(engine: Engine, ids: Ids, *, digest_too: bool) -> None:
    with transaction(engine) as s:
        doc = s.execute(select(Battery.document).where(Battery.battery_id == ids["c"])).scalar_one()
        new = json.dumps(json.loads(doc) | {"mass_kg": 1.0}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        values = {"document": new} | ({"document_sha256": hashlib.sha256(new.encode()).hexdigest()} if digest_too else {})
        s.execute(update(Battery).where(Battery.battery_id == ids["c"]).values(**values))


def _soh(engine: Engine, ids: Ids) -> None:
    """The SOH edit of test_checkpoints.py: the column and the dynamic value, consistently."""
    with transaction(engine) as s:
        dyn = json.loads(s.execute(select(Battery.dynamic_json).where(Battery.battery_id == ids["c"])).scalar_one())
        dyn["soh_pct"]["value"] = 99.5
        s.execute(update(Battery).where(Battery.battery_id == ids["c"]).values(
            soh_pct=99.5, dynamic_json=json.dumps(dyn, sort_keys=True, separators=(",", ":"))))


def _ghost(engine: Engine, ids: Ids) -> None:
    """Remove two batteries' records but not their events (foreign keys off)."""
    if engine.dialect.name == "sqlite":
        con = sqlite3.connect(str(engine.url.database))  # (foreign keys are off on a plain connection)
        con.executemany("DELETE FROM batteries WHERE battery_id = ?", [(ids["a"],), (ids["m"],)])
        con.commit()
        con.close()
        return
    with transaction(engine) as s:
        s.execute(text("SET LOCAL session_replication_role = replica"))
        s.execute(text("DELETE FROM batteries WHERE battery_id IN (:a, :m)"), ids)


_G40 = "WHERE global_seq = 40"
_PARAMS = {"forged": '{"forged":true}', "dyn": '{"soh_pct":{"updated_at":"2026-10-25T00:00:00.000000Z","value":99.5}}'}
DIRECT: dict[str, Callable[[Engine, Ids], None]] = {
    "alter_payload": lambda e, i: _tamper(e, i, f"UPDATE events SET payload_json = :forged {_G40}"),
    "alter_site": lambda e, i: _tamper(e, i, f"UPDATE events SET site_id = 'FORGED' {_G40}"),
    "site_to_null": lambda e, i: _tamper(e, i, "UPDATE events SET site_id = NULL WHERE site_id IS NOT NULL"),
    "alter_kind": lambda e, i: _tamper(e, i, f"UPDATE events SET kind = 'repaired' {_G40}"),
    "alter_global_link": lambda e, i: _tamper(e, i, f"UPDATE events SET global_prev_sha256 = content_sha256 {_G40}"),
    "uppercase_digest": lambda e, i: _tamper(e, i, f"UPDATE events SET content_sha256 = UPPER(content_sha256) {_G40}"),
    "delete": lambda e, i: _tamper(e, i, f"DELETE FROM events {_G40}"),
    "insert": lambda e, i: _tamper(e, i, (
        "INSERT INTO events SELECT battery_id, battery_seq + 1000, :last + 1, 'forged-id', kind, occurred_at, "
        "actor_org_id, site_id, payload_json, content_sha256, battery_prev_sha256, battery_chain_sha256, "
        f"global_prev_sha256, global_chain_sha256 FROM events {_G40}")),
    "reorder": lambda e, i: _tamper(e, i, "UPDATE events SET global_seq = -1 WHERE global_seq = 40",
                                    "UPDATE events SET global_seq = 40 WHERE global_seq = 41",
                                    "UPDATE events SET global_seq = 41 WHERE global_seq = -1"),
    "truncate": lambda e, i: _tamper(e, i, "DELETE FROM events WHERE global_seq = :last"),
    "head": lambda e, i: _tamper(e, i, "UPDATE ledger_head SET global_seq = global_seq + 2"),
    "tip": lambda e, i: _tamper(e, i, "UPDATE batteries SET last_seq = last_seq - 1 WHERE battery_id = :c"),
    "every_tip": lambda e, i: _tamper(e, i, "UPDATE batteries SET last_chain_sha256 = global_prev_sha256 FROM "
                                      "(SELECT global_prev_sha256 FROM events WHERE global_seq = 7) AS g"),
    "document": lambda e, i: _document(e, i, digest_too=True),
    "document_only": lambda e, i: _document(e, i, digest_too=False),
    "custody": lambda e, i: _tamper(e, i, "UPDATE batteries SET custodian_org_id = 'ORG-THIEF' WHERE battery_id = :c"),
    "custody_site": lambda e, i: _tamper(e, i, "UPDATE batteries SET custody_site_id = 'x:\u00e9' WHERE battery_id = :b"),
    "soh": lambda e, i: _soh(e, i),
    "dynamic_replaced": lambda e, i: _tamper(e, i, "UPDATE batteries SET dynamic_json = :dyn WHERE battery_id = :c"),
    "soh_column": lambda e, i: _tamper(e, i, "UPDATE batteries SET soh_pct = 12.5 WHERE battery_id = :c"),
    "dynamic_not_json": lambda e, i: _tamper(e, i, "UPDATE batteries SET dynamic_json = '{' WHERE battery_id = :c"),
    "dynamic_a_list": lambda e, i: _tamper(e, i, "UPDATE batteries SET dynamic_json = '[1]' WHERE battery_id = :c"),
    "lifecycle_state": lambda e, i: _tamper(e, i, "UPDATE batteries SET lifecycle_state = 'recycled' WHERE battery_id = :c"),
    "region": lambda e, i: _tamper(e, i, "UPDATE batteries SET region = 'K\u00f6ln' WHERE battery_id IN (:a, :c)"),
    "status": lambda e, i: _tamper(e, i, "UPDATE batteries SET status = 'original' WHERE battery_id = :a"),
    "ghost": _ghost,
}


@pytest.mark.parametrize("case", DIRECT)
def test_direct_tampering_gives_the_same_report(registry: tuple[Engine, Ids], case: str) -> None:
    engine, ids = registry
    DIRECT[case](engine, ids)
    py, _cc, _, _ = _both(engine)
    assert not py.ok


_SOH = '{"updated_at":"2026-10-25T00:00:00.000000Z","value":88.25}'  # battery c's stored SOH entry, from _LIFE


def _stored_dynamic(edit: Callable[[str], str] | str, soh: float | None = 88.25) -> Callable[[Engine, Ids], None]:
    """An edit of battery c's stored dynamic values (a function of the text, or a new SOH entry) and SOH column."""
    def tamper(engine: Engine, ids: Ids) -> None:
        with transaction(engine) as s:
            old = s.execute(select(Battery.dynamic_json).where(Battery.battery_id == ids["c"])).scalar_one()
            new = old.replace(_SOH, edit) if isinstance(edit, str) else edit(old)
            assert _SOH in old and new != old
            s.execute(update(Battery).where(Battery.battery_id == ids["c"]).values(dynamic_json=new, soh_pct=soh))
    return tamper


STORED: dict[str, Callable[[Engine, Ids], None]] = {  # edits of the stored dynamic values the events may or may not give
    "duplicate_key_last_differs": _stored_dynamic(lambda t: t[:-1] + ',"soh_pct":{"updated_at":"2000-01-01","value":1}}'),
    "duplicate_key_first_differs": _stored_dynamic(lambda t: '{"soh_pct":{"updated_at":"2000-01-01","value":1},' + t[1:]),
    "escaped_key": _stored_dynamic(lambda t: t.replace('"soh_pct"', '"soh\\u005fpct"')),
    "trailing_garbage": _stored_dynamic(lambda t: t + " x"),
    "raw_control_character": _stored_dynamic(lambda t: t[:-1] + ',"note":"a\nb"}'),
    "leading_zero": _stored_dynamic('{"updated_at":"2026-10-25T00:00:00.000000Z","value":088.25}'),
    "duplicate_value": _stored_dynamic('{"updated_at":"2026-10-25T00:00:00.000000Z","value":88.25,"value":1}'),
    "duplicate_value_null": _stored_dynamic('{"updated_at":"2026-10-25T00:00:00.000000Z","value":88.25,"value":null}'),
    "duplicate_updated_at": _stored_dynamic('{"updated_at":"2026-10-25T00:00:00.000000Z","value":88.25,'
                                            '"updated_at":"2000-01-01"}'),
    "escaped_updated_at": _stored_dynamic('{"updated_at":"2026-10-25T00:00:00.000000\\u005a","value":88.25}'),
    "value_as_text": _stored_dynamic('{"updated_at":"2026-10-25T00:00:00.000000Z","value":"88.25"}'),
    "value_other_spelling": _stored_dynamic('{"updated_at":"2026-10-25T00:00:00.000000Z","value":8825e-2}'),
    "later_reading_infinite": _stored_dynamic('{"updated_at":"2099-01-01","value":1e400}', soh=float("inf")),
    "later_reading_nan": _stored_dynamic('{"updated_at":"2099-01-01","value":NaN}', soh=float("nan")),
    "later_reading_big_int": _stored_dynamic('{"updated_at":"2099-01-01","value":1' + "0" * 29 + "1}", soh=1e30),
    "soh_column_null": _stored_dynamic(lambda t: t.replace(_SOH, _SOH.replace("88.25", "null")), soh=None),
    "pretty_printed": _stored_dynamic(lambda t: json.dumps(json.loads(t), indent=2)),
}


@pytest.mark.parametrize("case", STORED)
def test_stored_dynamic_values_compare_the_same(registry: tuple[Engine, Ids], case: str) -> None:
    engine, ids = registry
    STORED[case](engine, ids)
    py, _cc, _, _ = _both(engine)
    assert all(f.problem == "state_mismatch" for f in py.findings)


def _swap_before(rows: Rows, kind: str) -> Rows:
    """The first event of this kind and its battery's previous event, swapped."""
    i = next(i for i, r in enumerate(rows) if r[4] == kind)
    j = max(j for j in range(i) if rows[j][1] == rows[i][1])
    rows[i], rows[j] = rows[j], rows[i]
    return rows


REWRITES: dict[str, Callable[[Rows], Rows]] = {
    "rewrite_range": lambda rows: [_forge(r, 99.0) if 60 <= i < 160 and r[4] == "bms_snapshot" else r
                                   for i, r in enumerate(rows)],
    "rewrite_whole_chain": lambda rows: [_forge(r, 99.0) if r[4] == "bms_snapshot" else r for r in rows],
    "reorder": lambda rows: _swap_before(rows, "repurposed"),
    "truncate_1": lambda rows: rows[:-1],
    "truncate_50": lambda rows: rows[:-50],
}


@pytest.mark.parametrize("case", REWRITES)
def test_consistent_rewrites_give_the_same_report(registry: tuple[Engine, Ids], case: str) -> None:
    engine, _ids = registry
    _rechain(engine, REWRITES[case])
    py, _cc, _, _ = _both(engine)
    assert not py.ok
    assert all(f.problem == "state_mismatch" for f in py.findings)  # (the chains alone do not see a consistent rewrite)


def _row(bat: str, kind: str, payload: str, at: str = LATER, site: str | None = "edge:site") -> tuple:
    return (0, bat, 0, str(uuid.uuid4()), kind, at, "ORG-EDGE", site, payload, "", "", "", "", "")


def _append(*events: tuple[str, ...]) -> Change:
    """A change appending events (battery key, kind, payload text[, occurred_at]) to the histories."""
    return lambda rows, ids: rows + [_row(ids[e[0]], *e[1:]) for e in events]


def _registered(key: str, **raw: str) -> Change:
    """A change replacing members of the battery's ``registered`` payload with raw JSON texts."""
    def change(rows: Rows, ids: Ids) -> Rows:
        out = []
        for r in rows:
            if r[1] == ids[key] and r[4] == "registered":
                kept = {k: v for k, v in json.loads(r[8]).items() if k not in raw}
                body = ",".join([json.dumps(kept, sort_keys=True)[1:-1], *(f'"{k}":{v}' for k, v in raw.items())])
                r = (*r[:8], "{" + body + "}", *r[9:])
            out.append(r)
        return out
    return change


def _set(key: str, kind: str, field: int, value: str) -> Change:
    """A change setting a field (4: kind, 8: payload) of the battery's events of this kind."""
    return lambda rows, ids: [(*r[:field], value, *r[field + 1:]) if r[1] == ids[key] and r[4] == kind else r
                              for r in rows]


SNAP = "bms_snapshot"
_ODD_DYNAMIC = ('{"soh_pct":5,"full_cycles":{"value":2},"energy_throughput_kwh":{"value":3,"updated_at":7},'
                '"remaining_capacity_ah":{"updated_at":"2020-01-01T00:00:00.000000Z"},"not_a_key":{"value":1,'
                '"updated_at":"x"},"soc_pct":{"value":1,"updated_at":"2020-01-01T00:00:00.000000Z"},"soc_pct":{'
                '"value":2,"updated_at":"2020-02-01T00:00:00.000000Z"},"time\\u005fbelow_min_temp_h":{"value":[1,'
                '{"a":null}],"updated_at":"2020\\u002d03-01T00:00:00.000000Z"},"soh_pct":{"value":7,"updated_at":null}}')
EDGES: dict[str, Change] = {
    "payload_not_json": _append(("c", SNAP, "{not json"), ("c", SNAP, '{"soh_pct":50}')),
    "payload_empty": _append(("c", SNAP, "")),
    "payload_a_list": _append(("c", SNAP, '[{"soh_pct":1}]')),
    "payload_null_and_string": _append(("c", "shipped", "null"), ("c", "shipped", '"text"')),
    "payload_trailing_garbage": _append(("c", SNAP, '{"soh_pct":70} x')),
    "payload_whitespace": _append(("c", SNAP, ' \n{ "soh_pct" : 70.5 ,\t"full_cycles":3 } ')),
    "not_json_without_payload_kind": _append(("c", "repaired", "{not json")),
    "unknown_kind": _append(("c", "teleported", "{}"), ("c", SNAP, '{"soh_pct":50}'), ("c", "BMS_SNAPSHOT", "{}"),
                             ("c", "bms_snapsh\u00f6t", "{}")),
    "installed_after_shredded": _append(("b", "shredded", "{}"), ("b", "installed", '{"region":"FR"}'),
                                         ("b", "received", "{}"), ("b", SNAP, '{"soh_pct":40}'),
                                         ("b", "installed", '{"region":"ES"}')),
    "registered_twice": _append(("c", "registered", '{"status":"x","dynamic":{}}')),
    "first_event_not_registered": _set("m", "registered", 4, "manufactured"),
    "duplicate_keys_last_null": _append(("c", SNAP, '{"soh_pct":90,"soh_pct":null}')),
    "duplicate_keys_last_value": _append(("c", SNAP, '{"soh_pct":null,"full_cycles":1,"soh_pct":89}')),
    "escaped_keys": _append(("c", SNAP, '{"soh\\u005fpct":91.5,"full\\u005Fcycles":2,"\\u0073oc_pct":3}')),
    "nan_and_infinity": _append(("c", SNAP, '{"soh_pct":NaN,"full_cycles":Infinity,"soc_pct":-Infinity}')),
    "huge_and_tiny_numbers": _append(("c", SNAP, '{"soh_pct":1e400,"full_cycles":123456789012345678901234567890,'
                                       '"soc_pct":-0.0,"remaining_capacity_ah":1E2,"overcharge_events":1e-400,'
                                       '"deep_discharge_events":-9223372036854775809}')),
    "nested_values": _append(("c", SNAP, '{"soh_pct":{"a":[1,{"b":null}],"c":"\\u00e9"},"full_cycles":[],'
                               '"soc_pct":{}}')),
    "nested_150_deep": _append(("c", SNAP, '{"soh_pct":' + "[" * 150 + "]" * 150 + "}")),
    "odd_value_types": _append(("c", SNAP, '{"soh_pct":true,"full_cycles":false,"soc_pct":"12",'
                                 '"remaining_energy_kwh":0}')),
    "string_escapes": _append(("c", SNAP, '{"soh_pct":"a\\"b\\\\c\\/\\n\\t\\u00e9\\ud83d\\ude00 \u20ac \u00fc"}')),
    "lone_surrogate_value": _append(("c", SNAP, '{"soh_pct":"\\ud800","full_cycles":"\\udc00x"}')),
    "registered_odd_dynamic": _registered("c", dynamic=_ODD_DYNAMIC),
    "registered_dynamic_a_list": _registered("c", dynamic="[1,2]", status="5", document_sha256="null"),
    "registered_status_escaped": _registered("a", status='"orig\\u0069nal"', document_sha256='"\\u0030"'),
    "registered_not_an_object": _set("n", "registered", 8, "[]"),
    "region_escapes": _append(("n", "installed", '{"region":"K\\u00f6ln \\"Nord\\" \\\\ \u2603 \u00fc"}')),
    "region_not_a_string": _append(("n", "installed", '{"region":5}')),
    "region_duplicated": _append(("n", "installed", '{"region":"A","regi\\u006fn":"B"}')),
    "region_null": _append(("n", "installed", '{"region":null}')),
    "equal_timestamps": _append(("c", SNAP, '{"soh_pct":70}'), ("c", SNAP, '{"soh_pct":71}')),
    "earlier_snapshot_later": _append(("c", SNAP, '{"soh_pct":70}'),
                                       ("c", SNAP, '{"soh_pct":60}', "2026-11-14T00:00:00.000000Z")),
    "shorter_timestamp": _append(("c", SNAP, '{"soh_pct":70}'), ("c", SNAP, '{"soh_pct":60}', "2026-11-15")),
    "not_an_object_on_a_custody_kind": _append(("n", "installed", "{bad"), ("n", SNAP, '{"soh_pct":1}')),
    "raw_control_characters": _append(("n", "installed", '{"region":"A\tB"}'), ("c", SNAP, '{"soh_pct":"a\nb"}')),
    "byte_order_mark": _append(("c", SNAP, '\ufeff{"soh_pct":1}')),
    "battery_without_events": lambda rows, ids: [r for r in rows if r[1] != ids["m"]],
    "duplicate_keys_order": lambda rows, ids: _append(("m", SNAP, '{"soc_pct":1,"full_cycles":2,"soc\\u005fpct":3,'
                                                       '"soh_pct":4}'))(_registered("m", dynamic="{}")(rows, ids), ids),
    "registered_duplicate_entries": _registered("m", dynamic=(
        '{"soc_pct":{"updated_at":5,"updated_at":"2020-01-01T00:00:00Z","value":1},"soh_pct":{"updated_at":'
        '"2020-01-01T00:00:00Z","updated_at":5,"value":2},"full_cycles":{"value":1,"updated_at":"2020-01-01T00:00:00Z",'
        '"value":3}}'), status='"original","status":"waste"'),
    "escaped_keys_in_registered": _registered("m", **{"dyn\\u0061mic": '{"soh_pct":{"v\\u0061lue":3,'
                                                        '"upd\\u0061ted_at":"2020-01-01T00:00:00Z","value":4}}'}),
    "non_ascii_timestamps": _append(("c", SNAP, '{"soh_pct":70}', LATER[:-1] + "\u00e9"), ("c", SNAP, '{"soh_pct":71}'),
                                     ("c", "teleported", "{}", 'a"\\\n')),
    "escapes_in_every_field": lambda rows, ids: [*rows, (0, ids["c"], 0, 'ev"\\\t\u2028\u00e9', SNAP, LATER,
                                                          'ac"\\\n\x01\x7f', 'si"\\\r\x1f \u20ac\U0001f600',
                                                          '{"soh_pct":1}', *[""] * 5)],
    **{f"to_org_id={v}": _append(("c", "received", "{}"), ("c", "shipped", f'{{"to_org_id":{v}}}'))
       for v in ('""', "0", "-0.0", "1e-400", "false", "[]", "{}", '"0"', "[0]", '"\\u00e9"', '"REC-\u00d6"',
                 "0." + "0" * 70, "1" + "0" * 70 + "e-999", '"X","to_org_id":""', '"","to_org_id":"X"')},
}


@pytest.mark.parametrize("case", EDGES)
def test_replay_edge_cases_give_the_same_report(registry: tuple[Engine, Ids], case: str) -> None:
    engine, ids = registry
    _rechain(engine, lambda rows: EDGES[case](rows, ids))
    py, _cc, _, _ = _both(engine)
    assert py.events_checked == _count(engine)
    assert all(f.problem == "state_mismatch" for f in py.findings)  # the chains are consistent: only the replay sees


def _count(engine: Engine) -> int:
    with transaction(engine, read_only=True) as s:
        return int(s.execute(select(func.count()).select_from(Event)).scalar_one())


@pytest.mark.parametrize("statement", [
    "UPDATE events SET content_sha256 = SUBSTR(content_sha256, 1, 63) WHERE global_seq = 30",
    "UPDATE events SET battery_chain_sha256 = '' WHERE global_seq = :last",
], ids=["short_digest", "empty_chain_digest"])
def test_a_digest_of_the_wrong_length_is_left_to_python(registry: tuple[Engine, Ids], statement: str) -> None:
    engine, ids = registry
    _tamper(engine, ids, statement)
    py, _cc, _, _ = _both(engine, fallback=True)
    assert not py.ok


@pytest.mark.parametrize("statement", [
    "UPDATE events SET battery_seq = battery_seq + 0.5 WHERE global_seq = 30",  # (CAST(3 AS TEXT) is stored as 3)
    "UPDATE events SET payload_json = CAST(payload_json AS BLOB) WHERE global_seq = 30",
    "UPDATE events SET battery_seq = 'x' || battery_seq WHERE global_seq = 30",
    "UPDATE batteries SET document = CAST(document AS BLOB) WHERE rowid = 1",
], ids=["battery_seq_real", "payload_blob", "battery_seq_text", "document_blob"])
def test_a_column_of_the_wrong_type_is_left_to_python(sqlite_engine: Engine, fleet: DemoFleet, statement: str) -> None:
    _tamper(sqlite_engine, _load(sqlite_engine, fleet), statement)
    if "'x'" not in statement:
        py, _cc, _, _ = _both(sqlite_engine, fallback=True)
        assert not py.ok
        return
    _need_built()  # a text sequence number: reported by the Python verifier (the compiled one leaves it to it)
    assert not isinstance(_compiled(sqlite_engine), native_verify.CompiledPass)
    py, _cc, _, _ = _both(sqlite_engine, fallback=True)
    assert any("cannot be read as an event" in f.detail for f in py.findings), py.findings


def test_a_deeply_nested_payload_is_left_to_python(registry: tuple[Engine, Ids]) -> None:
    engine, ids = registry
    _rechain(engine, lambda rows: _append(("c", SNAP, '{"soh_pct":' + "[" * 300 + "]" * 300 + "}"))(rows, ids))
    py, _cc, _, _ = _both(engine, fallback=True)
    assert [f.problem for f in py.findings] == ["state_mismatch"]


def test_an_intact_ledger_gives_the_same_report(registry: tuple[Engine, Ids], fleet: DemoFleet) -> None:
    engine, _ids = registry
    for leaves in (True, False):
        py, cc, _, _ = _both(engine, leaves=leaves)
        assert py.ok and cc.ok, py.findings
        assert cc.events_checked == len(fleet.passports) + len(fleet.events) + sum(map(len, _LIFE.values()))
        assert cc.batteries_checked == len(fleet.passports)
    with transaction(engine, read_only=True) as s:
        kinds = {k for (k,) in s.execute(select(Event.kind).distinct())}
    assert kinds == {k.value for k in EventKind}  # every kind of event occurs


def test_merkle_leaves_are_the_same(registry: tuple[Engine, Ids]) -> None:
    engine, _ids = registry
    _py, _cc, py_leaves, cc_leaves = _both(engine, leaves=True)
    assert py_leaves and cc_leaves and len(cc_leaves) == _count(engine)
    assert merkle.root_hash(cc_leaves) == merkle.root_hash(py_leaves)
    assert all(isinstance(leaf, bytes) and len(leaf) == 32 for leaf in cc_leaves)


def test_max_findings_truncates_the_same_way(registry: tuple[Engine, Ids]) -> None:
    engine, ids = registry
    _tamper(engine, ids, "UPDATE events SET site_id = 'FORGED' WHERE global_seq > 150",
            "UPDATE batteries SET custodian_org_id = 'ORG-THIEF'")
    everything, _cc, _, _ = _both(engine, max_findings=100_000)
    chain = sum(f.problem != "state_mismatch" for f in everything.findings)
    total = len(everything.findings)
    assert not everything.truncated and 3 < chain < total
    for limit in (-1, 0, 1, 3, chain - 1, chain, chain + 1, total - 1, total):
        py, _cc, _, _ = _both(engine, max_findings=limit)
        assert len(py.findings) == max(limit, 0) and py.truncated == (limit < total)


def test_switched_off_it_falls_back_to_python(registry: tuple[Engine, Ids], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, ids = registry
    _need_built()
    assert isinstance(_compiled(engine), native_verify.CompiledPass)
    DIRECT["custody"](engine, ids)
    monkeypatch.setenv("CIRCULITH_COMPILED_VERIFY", "0")
    assert not native_verify.available()
    py, _cc, _, _ = _both(engine, fallback=True)
    assert not py.ok


def test_a_registry_not_in_utf8_is_left_to_python(fleet: DemoFleet, tmp_path: Path) -> None:
    """The compiled reader takes text cells as their stored bytes, which are UTF-8 only in a UTF-8 database."""
    path = tmp_path / "utf16.db"
    with contextlib.closing(sqlite3.connect(path)) as con:  # the encoding is fixed when the first table is made
        con.execute("PRAGMA encoding = 'UTF-16le'")
        con.execute("CREATE TABLE made (x)")
        con.execute("DROP TABLE made")
        con.commit()
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        ids = _load(engine, fleet)
        _need_built()
        assert _compiled(engine) == "the compiled verifier left the data to it: a database not in UTF-8"
        _tamper(engine, ids, "UPDATE batteries SET custody_site_id = 'dépôt-Ω' WHERE rowid = 1")
        py, _cc, _, _ = _both(engine, fallback=True)
        assert any("dépôt-Ω" in f.detail for f in py.findings), py.findings
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_registry_falls_back_to_python(fleet: DemoFleet, url: str) -> None:
    engine = create_db_engine(url)
    try:
        upgrade(engine)
        DIRECT["custody"](engine, _load(engine, fleet))
        py, _cc, _, _ = _both(engine, fallback=True)
        assert [f.problem for f in py.findings] == ["state_mismatch"]
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("refused", ["a second connection", "the snapshot's export"])
def test_on_one_postgresql_connection_the_report_is_the_same(postgres_server: str, fleet: DemoFleet,
                                                            refused: str) -> None:
    """The stored batteries are read beside the events, by a second connection in the same exported
    snapshot; a role that may open only one connection, or not export a snapshot, gets them read first on
    its one connection, and the same report."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool
    from tests.conftest import _drop_postgres_db, _fresh_postgres_db

    _need_built()
    url, name = _fresh_postgres_db(postgres_server)
    engine = create_db_engine(url)
    role = f"verifier_{uuid.uuid4().hex[:10]}"
    as_role = create_engine(engine.url.set(username=role), poolclass=NullPool)  # no idle connection held
    try:
        upgrade(engine)
        ids = _load(engine, fleet)
        DIRECT["custody"](engine, ids)
        with engine.begin() as conn:
            limit = " CONNECTION LIMIT 1" if refused == "a second connection" else ""
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN{limit}")
            conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
            if refused == "the snapshot's export":
                conn.exec_driver_sql("REVOKE EXECUTE ON FUNCTION pg_catalog.pg_export_snapshot() FROM PUBLIC")
        with transaction(engine, read_only=True) as s:
            py = verify_ledger(s)
        with transaction(as_role, read_only=True) as s:  # (the session connects after the compiled pass)
            cc = verify_ledger(s, compiled=True)
        assert cc.verifier == "compiled" and not py.ok
        _same(py, cc)
    finally:
        as_role.dispose()
        engine.dispose()
        _drop_postgres_db(postgres_server, name)
        admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


def test_the_compiled_verifier_is_built_in_ci() -> None:
    _need_built()
    assert callable(native_verify.native.verify_sqlite) and callable(native_verify.native.verify_postgres)
