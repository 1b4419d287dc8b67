"""The fast import path gives the same records, events, payload texts and refusals as the standard one.

``iter_event_records`` (orjson) against ``iter_records`` (json), and ``parse_event_text`` (a hand-written
check, one serialisation) against ``parse_event`` (pydantic) followed by ``canonical_json``: for the
hostile corpus of the CLI tests, hand-picked edge cases and generated records, every accepted record
must come out identical and every refused one with the very same problems (row, field, reason).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circulith.errors import InvalidInput
from circulith.io.records import iter_records
from circulith.ledger.chain import event_uuid5
from circulith.ledger.events import derived_event_id
from circulith.ledger.hashing import canonical_json
from circulith.services.event_import import iter_event_records, parse_event, parse_event_text

GS1 = "https://id.gs1.org/01/04012345000009/21/B1"
AT = "2026-10-01T00:00:00Z"
BASE = {"battery_id": GS1, "kind": "bms_snapshot", "occurred_at": AT, "actor_org_id": "OEM-1"}


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except InvalidInput as exc:
        return ("refused", [(p.row, p.field, p.reason, p.record_id) for p in exc.problems], str(exc))


def _standard(record: dict[str, Any], row: int) -> tuple:
    event = parse_event(record, row)
    return event, canonical_json(event.payload)


def _same_parse(record: dict[str, Any], row: int = 7) -> None:
    fast, slow = _outcome(parse_event_text, record, row), _outcome(_standard, record, row)
    assert fast == slow, record
    if fast[0] == "ok":  # equal models, and equal in what the chain hashes
        assert fast[1][0].model_dump() == slow[1][0].model_dump()
        assert fast[1][1] == slow[1][1]


PAYLOADS = [
    {}, {"soh_pct": 95.5}, {"soh_pct": "95.5", "full_cycles": "12"}, {"soh_pct": 150}, {"soh_pct": True},
    {"full_cycles": -4}, {"full_cycles": 2.5}, {"soh_pct": None}, {"note": "a\x00b"}, {"note": "\ud800"},
    {"x": 1e16}, {"x": 1e-5}, {"x": 9.999e-5}, {"x": 1e-4}, {"x": -0.0}, {"x": 123456789.123}, {"x": 2**53},
    {"x": 2**53 + 1}, {"x": float("nan")}, {"x": float("inf")}, {"é": "ü", "a": [1, {"b": None}]},
    {"x": "\u2028\x1f\"\\"}, {"accident": {"kind": "thermal", "description": "hot"}}, {"accident": {"kind": "meteor"}},
    {"accident": {"kind": ["x"]}}, {"accident": "bad"}, {"accident": {"kind": "crash", "description": 3}},
    {"x": "y" * 70_000}, {"x": "€" * 22_000}, {"x": "€" * 21_000}, {"d": {"a": {"b": {"c": {}}}}},
    json.loads('{"x": ' + '{"y": ' * 15 + "1" + "}" * 15 + "}"), json.loads('{"x": ' + '{"y": ' * 16 + "1" + "}" * 16 + "}"),
    {1: "non-text key"}, {"t": (1, 2)}, "not an object", '{"soh_pct": 90}', '{"soh_pct": NaN}', "{bad", None, [],
]
RECORDS = [
    BASE, {**BASE, "kind": "registered"}, {**BASE, "kind": "exploded"}, {**BASE, "kind": 3}, {**BASE, "kind": ["x"]},
    {**BASE, "extra": 1}, {**BASE, "event_id": str(uuid.uuid4())}, {**BASE, "event_id": ""}, {**BASE, "event_id": None},
    {**BASE, "event_id": 12}, {**BASE, "site_id": None}, {**BASE, "site_id": "SITE-Köln"}, {**BASE, "site_id": "s" * 121},
    {**BASE, "site_id": 5}, {**BASE, "actor_org_id": ""}, {**BASE, "actor_org_id": "a" * 121},
    {**BASE, "actor_org_id": "a\x00"}, {**BASE, "actor_org_id": "\udc00"}, {**BASE, "battery_id": "not an identifier"},
    {**BASE, "battery_id": ""}, {**BASE, "battery_id": "x" * 301}, {**BASE, "battery_id": 4012345000009},
    {k: v for k, v in BASE.items() if k != "battery_id"}, {k: v for k, v in BASE.items() if k != "actor_org_id"},
    {k: v for k, v in BASE.items() if k != "occurred_at"}, {k: v for k, v in BASE.items() if k != "kind"},
    {**BASE, "occurred_at": "2026-10-01T00:00:00"}, {**BASE, "occurred_at": "yesterday"}, {**BASE, "occurred_at": 5},
    {**BASE, "occurred_at": "2026-10-01T02:00:00+02:00"}, {**BASE, "kind": "installed", "payload": {"region": "EU"}},
    *({**BASE, "payload": p} for p in PAYLOADS),
]


@pytest.mark.parametrize("index", range(len(RECORDS)))
def test_fast_parse_equals_standard_parse(index: int) -> None:
    _same_parse(RECORDS[index])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
DYNAMIC = st.sampled_from(["soh_pct", "full_cycles", "note", "accident", "region"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.dictionaries(DYNAMIC | st.text(max_size=4), JSON_VALUES, max_size=4),
       site=st.none() | st.text(max_size=6), kind=st.sampled_from(["bms_snapshot", "tested", "installed", "x"]))
def test_generated_records_parse_alike(payload: dict[str, Any], site: str | None, kind: str) -> None:
    _same_parse({**BASE, "kind": kind, "site_id": site, "payload": payload})


def _read(fn: Any, path: Path) -> Any:
    try:
        return ("ok", list(fn(path)))
    except InvalidInput as exc:
        return ("refused", [(p.row, p.field, p.reason) for p in exc.problems], str(exc))


LINES = {
    "plain": [json.dumps(BASE)] * 3,
    "blank lines": [json.dumps(BASE), "", "   ", json.dumps(BASE)],
    "nan": [json.dumps(BASE), '{"a": NaN}'],
    "overflow": [json.dumps(BASE), '{"a": 1e999}'],
    "surrogate": [json.dumps(BASE), '{"a": "\\ud800"}'],
    "pair": [json.dumps(BASE), '{"a": "\\ud83d\\ude00"}'],
    "nul": [json.dumps(BASE), '{"a": "x\\u0000"}'],
    "escaped backslash then u0000": [json.dumps(BASE), '{"a": "\\\\u0000"}'],
    "safe 16 digits": [json.dumps(BASE), '{"a": 1234567890123456}', '{"b": "1234567890123456789"}'],
    "beyond 2**53": [json.dumps(BASE), '{"a": 9007199254740993}'],
    "beyond 2**64": [json.dumps(BASE), '{"a": 18446744073709551616}'],
    "long float": [json.dumps(BASE), '{"a": 0.30000000000000004}'],
    "huge int": [json.dumps(BASE), '{"a": ' + "7" * 5000 + "}"],
    "deep": [json.dumps(BASE), '{"x": ' + "[" * 3000 + "]" * 3000 + "}"],
    "array": [json.dumps(BASE), "[1, 2]"],
    "malformed": [json.dumps(BASE), '{"a": 1,}'],
    "duplicate keys": ['{"a": 1, "b": 2, "a": 3}'],
    "control character": [json.dumps(BASE), '{"a": "x\x01"}'],
}


@pytest.mark.parametrize("case", sorted(LINES))
@pytest.mark.parametrize("bom", [False, True])
def test_fast_reader_equals_standard_reader(tmp_path: Path, case: str, bom: bool) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(("\ufeff" if bom else "") + "\n".join(LINES[case]) + "\n", encoding="utf-8")
    assert _read(iter_event_records, path) == _read(iter_records, path)


def test_fast_reader_equals_standard_reader_on_bad_utf8_and_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes((json.dumps(BASE) + "\n").encode() * 3 + b'{"a": "\xff"}\n')
    assert _read(iter_event_records, path) == _read(iter_records, path)
    assert _read(iter_event_records, path)[0] == "refused"
    csv_path = tmp_path / "events.csv"
    csv_path.write_text("battery_id,kind,occurred_at,actor_org_id,payload.soh_pct\n" + f"{GS1},bms_snapshot,{AT},O,90\n")
    assert _read(iter_event_records, csv_path) == _read(iter_records, csv_path)
    assert _read(iter_event_records, tmp_path / "missing.jsonl") == _read(iter_records, tmp_path / "missing.jsonl")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_event_uuid5_is_uuid5(text: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        return  # not Unicode text: never an event's content
    assert event_uuid5(text) == derived_event_id(text)


def test_plain_records_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import circulith.services.event_import as event_import

    def refuse(record: dict[str, Any], row: int) -> None:
        raise AssertionError("the standard parser was used")

    monkeypatch.setattr(event_import, "parse_event", refuse)
    for payload in ({"soh_pct": 95.5, "full_cycles": 3}, {"soh_pct": "95.5"}, {"note": "Köln", "a": [1, {"b": None}]}):
        event, text = parse_event_text({**BASE, "site_id": "S-1", "payload": payload}, 1)
        assert text == canonical_json(event.payload)


# SHA-256 over [event_id, payload_json, content_sha256] of the 21 snapshots below, as imported by the
# implementation before the fast path (commit 2843003: json, pydantic, uuid.uuid5): the stored bytes must not change.
IMPORTED_BEFORE_SHA256 = "747535b6fe9c8dea29b29f7592426ecf1e297115922cad0e7e739acdefef3c51"


def test_import_stores_the_bytes_it_stored_before(tmp_path: Path) -> None:
    import datetime as dt
    import hashlib
    import random

    from circulith.passport.examples import example_passport_data
    from circulith.passport.identifiers import mint_gs1_digital_link, mint_passport_id
    from circulith.passport.model import Passport
    from circulith.services.registry import import_events
    from circulith.store.database import create_db_engine, transaction, upgrade
    from circulith.store.ledger_store import verify_ledger
    from circulith.store.registry import register_passports

    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    engine = create_db_engine(f"sqlite:///{tmp_path / 'g.db'}")
    upgrade(engine)
    rng, base = random.Random(7), example_passport_data()
    packs = [Passport.model_validate(dict(base, passport_id=mint_passport_id(rng), identifiers=[],
                                          battery_id=mint_gs1_digital_link("4012345000009", f"G{i}"))) for i in range(3)]
    with transaction(engine) as s:
        register_passports(s, packs, actor_org_id="OEM-G", now=t0)
    payloads = [{"soh_pct": 99.5, "full_cycles": 3}, {"soh_pct": "98.25", "note": "é \"q\"\n\u2028"},
                {"x": 1e-7, "z": -0.0}, {"y": 1e17, "w": 123456.789}, {"nested": {"b": [1, 2.5, None, True], "a": "ü"}},
                {}, {"accident": {"kind": "thermal", "description": "hot"}, "soh_pct": 97}]
    lines = [json.dumps({"battery_id": p.battery_id, "kind": "bms_snapshot", "actor_org_id": "OEM-ü",
                         "occurred_at": (t0 + dt.timedelta(days=j + 1, seconds=k)).isoformat(),
                         **({"site_id": "Köln-1"} if k == 1 else {}), "payload": payload}, ensure_ascii=k == 2)
             for j, payload in enumerate(payloads) for k, p in enumerate(packs)]
    (tmp_path / "e.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert import_events(engine, tmp_path / "e.jsonl").written == 21
    with transaction(engine) as s:
        assert verify_ledger(s).ok
        rows = s.connection().exec_driver_sql("SELECT event_id, payload_json, content_sha256 FROM events "
                                              "WHERE kind = 'bms_snapshot' ORDER BY global_seq").fetchall()
    assert hashlib.sha256(json.dumps([list(r) for r in rows]).encode()).hexdigest() == IMPORTED_BEFORE_SHA256


TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(events=st.lists(st.tuples(st.sampled_from(["B1", "B\u00e9\"2", "B\\3"]), TEXT, TEXT, st.none() | TEXT,
                                 st.dictionaries(TEXT, st.integers() | TEXT, max_size=2)), min_size=1, max_size=6))
def test_verify_recomputes_the_digests_the_chain_wrote(events: list[tuple]) -> None:
    """The verifier's inline digests equal :mod:`circulith.ledger.hashing`'s, for any text, and see an edit."""
    from circulith.ledger.chain import ChainBuilder
    from circulith.ledger.hashing import GENESIS_SHA256, content_text
    from circulith.ledger.verify import verify_chains

    builder = ChainBuilder(0, GENESIS_SHA256, {})
    rows = []
    for i, (bat, kind, actor, site, payload) in enumerate(events):
        at = f"2026-01-01T00:00:{i:02d}.000000Z"
        payload_json = canonical_json(payload)
        rows.append(builder.link(bat, f"id-{i}", kind, at, actor, site, payload_json,
                                 content_text(f"id-{i}", bat, kind, at, actor, site, payload_json)))
    assert verify_chains(rows, expected_head=(builder.global_seq, builder.global_sha256)).ok
    edited = list(rows[-1])
    edited[6] = edited[6] + "x"  # the actor
    found = verify_chains([*rows[:-1], tuple(edited)]).findings
    assert [f.problem for f in found] == ["altered"]


def test_derived_event_ids_are_the_events_own_derivation() -> None:
    """The import derives each ID from the payload text it has (no second serialisation): same IDs."""
    from circulith.ledger.chain import derived_event_ids

    records = [
        {"battery_id": "urn:uuid:8c3f7a0e-1f6e-4d4a-9a55-0d6f2b1c0001", "kind": "bms_snapshot", "occurred_at": "2025-03-01T10:00:00+02:00",
         "actor_org_id": "OEM-A", "payload": {"soh_pct": 91.25, "full_cycles": 3, "note": "é\n\"x\""}},
        {"battery_id": "urn:uuid:8c3f7a0e-1f6e-4d4a-9a55-0d6f2b1c0001", "kind": "shipped", "occurred_at": "2025-03-02T10:00:00.123456Z",
         "actor_org_id": "OEM-A", "site_id": "site 1", "payload": {"to_org_id": "REC-B", "mass_kg": 1e-7}},
        {"battery_id": "urn:uuid:8c3f7a0e-1f6e-4d4a-9a55-0d6f2b1c0002", "kind": "collected", "occurred_at": "2025-03-03T00:00:00Z", "actor_org_id": "DIS-C",
         "event_id": "given-id", "payload": {}},
    ]
    parsed = [parse_event_text(r, i + 1) for i, r in enumerate(records)]
    events = [e for e, _ in parsed]
    assert derived_event_ids(events, [t for _, t in parsed]) == [e.with_derived_id().event_id for e in events]
    assert derived_event_ids(events, [t for _, t in parsed])[2] == "given-id"
