"""The compiled event import records exactly what the Python import records, on both backends.

Every file here is imported twice into two copies of the same registry: once through the Python path
(``CIRCULITH_COMPILED_IMPORT=0``, the reference) and once as users run it. Both must leave the same
events (every column, digests included), the same batteries (state, custody, dynamic values, chain tip)
and the same ledger head, and report the same counts, or refuse the file with the same problems. Files
the compiled kernel is certain of must be recorded by it; files it is not must fall back to Python.
The random histories vary what the kernel reads: number spellings, escapes, key order, timestamps with
offsets, out-of-order BMS readings, ties, accidents, duplicates, identifiers in other spellings, blocks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from circulith.auth.policy import Role
from circulith.auth.write_policy import CustodyFacts, after_event, write_refusal
from circulith.demo.fleet import generate_fleet
from circulith.errors import InvalidInput, TransitionRefused
from circulith.ledger.events import EventKind
from circulith.ledger.state_machine import LifecycleState, check_transition
from circulith.passport.identifiers import canonical
from circulith.services import event_import, registry
from circulith.services.ledger_trust import operator_principal
from circulith.services.organisations import register_organisation
from circulith.store import native_import
from circulith.store.database import create_db_engine, transaction, upgrade
from circulith.store.models import Base
from circulith.store.registry import register_passports

TODAY = dt.date(2026, 11, 1)
ACTORS = {"OEM-A": "oem", "DIS-B": "dismantler", "REC-C": "recycler", "REUSE-D": "reuse_integrator"}
NOT_BUILT = "the compiled import is not built (circulith.store._ledger_native with ImportKernel: 'pip install -e .')"
Importer = Callable[[Engine, Path], Any]


@pytest.fixture(autouse=True)
def _built() -> None:
    if native_import.unavailable(Path(__file__), "jsonl") == "not built":
        if os.environ.get("CI"):
            pytest.fail(NOT_BUILT)
        pytest.skip(NOT_BUILT)


@pytest.fixture(scope="module")
def fleet() -> Any:
    return generate_fleet(3, seed=11, today=TODAY)


def _prepare(engines: list[Engine], fleet: Any) -> None:
    """The fleet's passports and the organisations registered in the first registry, copied row for row
    into the others (registration records the time it happens)."""
    for e in engines:
        upgrade(e)
    with transaction(engines[0]) as s:
        register_passports(s, fleet.passports, actor_org_id="OEM-A")
        for org, role in ACTORS.items():
            register_organisation(s, operator_principal("ORG-REGISTRY"), org_id=org, name=org, role=role)
    with engines[0].connect() as c:
        rows = {t: [dict(r._mapping) for r in c.execute(t.select())] for t in Base.metadata.sorted_tables}
    for e in engines[1:]:
        with e.begin() as c:
            for t in reversed(Base.metadata.sorted_tables):  # (upgrade seeds a few)
                c.execute(t.delete())
            for t, found in rows.items():
                if found:
                    c.execute(t.insert(), found)


@pytest.fixture
def pair(db_url_pair: tuple[str, str], fleet: Any) -> Iterator[tuple[Engine, Engine]]:
    """Two registries holding the same passports and organisations (reference, compiled)."""
    engines = [create_db_engine(url) for url in db_url_pair]
    _prepare(engines, fleet)
    yield engines[0], engines[1]
    for e in engines:
        e.dispose()


def _dump(engine: Engine) -> dict[str, list]:
    with engine.connect() as c:
        return {t: [tuple(r) for r in c.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))]
                for t in ("events", "batteries", "ledger_head", "identifiers")}


def _outcome(importer: Importer, engine: Engine, path: Path, compiled: bool) -> tuple[Any, str | None]:
    os.environ["CIRCULITH_COMPILED_IMPORT"] = "1" if compiled else "0"
    try:
        report = importer(engine, path)
    except InvalidInput as exc:
        return ("refused", [str(p) for p in exc.problems]), None
    finally:
        os.environ.pop("CIRCULITH_COMPILED_IMPORT", None)
    # the reason the compiled kernel left the file to Python, in the report exactly when it did
    assert (report.fallback_reason is None) == (report.importer == "compiled"), report.fallback_reason
    assert compiled or report.fallback_reason == "turned off (CIRCULITH_COMPILED_IMPORT=0)"
    return (report.records, report.written, report.unchanged, report.rejected), report.importer


def _registry_import(chunk: int = 20_000) -> Importer:
    return lambda engine, path: registry.import_events(engine, path, chunk_size=chunk)


def _migration_import(chunk: int = 20_000) -> Importer:
    return lambda engine, path: event_import.import_events(engine, path, chunk_size=chunk, migration=True)


def _same(pair: tuple[Engine, Engine], path: Path, importer: Importer, expect: str | None) -> Any:
    """Import ``path`` into both registries; the same outcome and tables; the compiled side's importer."""
    ref, cmp = pair
    want, _ = _outcome(importer, ref, path, compiled=False)
    got, importer_used = _outcome(importer, cmp, path, compiled=True)
    assert got == want
    assert _dump(cmp) == _dump(ref)
    if expect is not None and got[0] != "refused":
        assert importer_used == expect
    return got


# -- random histories ---------------------------------------------------------------------------------------

_NUMBERS = ["95.5", "95.50", "9.55E1", "95", "80.125", "0.1", "1e-7", "1.5e300", "-0.0", "-0", "100.0",
            "1E2", "7.000001", "0.30000000000000004", "123456789012345.6", "2.5e-5", "1e16", "9007199254740991",
            "0.0001", "0.00001", "10.0", "-0.5", "1000000.25", "99999999999999.9", "0.000123", "5.0e0", "0.10"]
_TO_ORG = ['"REC-C"', '""', "0", "0.0", "[]", "{}", "1", "null", "[0]"]  # truthy or not, as Python reads them
_REGIONS = ['"DE-BY"', '"FR\\u002dIDF"', "42", "null"]
_SITES = ["null", '"yard 1"', '"site:K\\u00f6ln"']
_TEXTS = ["plain", "Köln", "caf\\u00e9", "tab\\there", "quote\\\"d", "slash\\/ed", "emoji \\ud83d\\ude00",
          "line\\nbreak", "\\u0001ctl", "日本語", "back\\\\slash", ""]


def _stamp(rng: random.Random, at: dt.datetime) -> tuple[str, dt.datetime]:
    """``at`` (UTC) rounded up to a random number of fraction digits and spelt with a random offset; and
    the instant the text names."""
    digits = rng.randint(0, 6)
    quantum = 10 ** (6 - digits)
    at = at + dt.timedelta(microseconds=-at.microsecond % quantum)
    offset = rng.choice([0, 0, 330, -480, 60, -1, 23 * 60 + 59, -(23 * 60 + 59)])
    local = at + dt.timedelta(minutes=offset)
    frac = f".{local.microsecond:06d}"[: digits + 1] if digits else ""
    sign = "+" if offset >= 0 else "-"
    zone = "Z" if offset == 0 and rng.random() < 0.5 else f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + frac + zone, at


def _payload(rng: random.Random, kind: str) -> str:
    parts = []
    if kind in ("bms_snapshot", "tested", "graded") and rng.random() < 0.8:
        parts.append(f'"soh_pct": {rng.choice(["95.5", "81", "88.25", "9.55E1", "70.000", "1E2", "60.5"])}')
        if rng.random() < 0.4:
            parts.append(f'"full_cycles": {rng.choice(["310", "310.0", "1.2e3", "0"])}')
        if rng.random() < 0.2:
            parts.append('"remaining_capacity_ah": null')
        if rng.random() < 0.1:
            acc = rng.choice(['{"kind": "thermal", "description": "smoke \\u00e9"}', '{}', '{"description": "dent"}',
                              '{"kind": "water", "extra": [1, 2]}'])
            parts.append(f'"accident": {acc}')
    if kind == "shipped":
        parts.append(f'"to_org_id": {rng.choice(_TO_ORG)}')
    if kind == "installed" and rng.random() < 0.7:
        parts.append(f'"region": {rng.choice(_REGIONS)}')
    if kind == "graded":
        parts.append(f'"grade": "{rng.choice("ABCD")}"')
    for _ in range(rng.randint(0, 3)):
        key = rng.choice(["zeta", "alpha", "Ärger", "k\\u00eby", "note", "nested", "list", "a_b"])
        if any(p.startswith(f'"{key}"') for p in parts):
            continue
        value = rng.choice([f'"{rng.choice(_TEXTS)}"', rng.choice(_NUMBERS), "true", "false", "null",
                            '{"b": 1, "a": [1.50, {"y": "z", "x": -0.0}], "c": {}}', "[]", '[ 1 , "2" , [ ] ]'])
        parts.append(f'"{key}": {value}')
    rng.shuffle(parts)
    sep = rng.choice([", ", ",", " ,\t"])
    return "{" + sep.join(parts) + "}"


def _history(rng: random.Random, fleet: Any, n: int, *, authorised: bool = False) -> list[str]:
    """``n`` JSON Lines records: valid histories of the fleet's batteries, spelt in every way the kernel reads;
    ``authorised``: each by an organisation entitled to record it (custody and role), and no receipt of a pack
    (its modules travel with it: the Python path's work)."""
    start = {p.battery_id: dt.datetime.fromisoformat(f"{p.manufacturing_date}-01T00:00:00+00:00") for p in fleet.passports}
    state = dict.fromkeys(start, LifecycleState.MANUFACTURED)
    facts = {p.battery_id: CustodyFacts(p.manufacturer.id, "OEM-A", True, LifecycleState.MANUFACTURED)
             for p in fleet.passports}
    parents = {p.parent_battery_id for p in fleet.passports}
    last = dict(start)
    cap = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)  # before the clock
    lines: list[str] = []
    for _ in range(n):
        if lines and rng.random() < 0.04:
            lines.append(rng.choice(lines))  # the same record again: recorded once, counted unchanged
            continue
        bid = rng.choice(sorted(start))
        kinds = []
        for k in EventKind:
            if k is EventKind.REGISTERED:
                continue
            with contextlib.suppress(TransitionRefused):
                kinds.append((k, check_transition(bid, state[bid], k)))
        if not kinds:
            continue
        kind, after = rng.choices(kinds, [8 if k is EventKind.BMS_SNAPSHOT else 1 for k, _ in kinds])[0]
        actor = rng.choice(list(ACTORS))
        if authorised:
            if kind is EventKind.RECEIVED and bid in parents:
                continue
            allowed = [a for a in ACTORS if write_refusal(a, Role(ACTORS[a]), kind, facts[bid]) is None]
            if not allowed:
                continue
            actor = rng.choice(allowed)
        if kind is EventKind.BMS_SNAPSHOT and rng.random() < 0.2:  # a late upload: may predate the last event
            stamp, at = _stamp(rng, max(last[bid] - dt.timedelta(minutes=rng.randint(0, 600)), start[bid]))
        else:
            step = dt.timedelta(minutes=rng.choice([0, 1, 17, 600, 60 * 24 * 30]), microseconds=rng.randint(0, 999_999))
            stamp, at = _stamp(rng, min(last[bid] + step, max(cap, last[bid])))
            last[bid] = at
        state[bid] = after
        payload = _payload(rng, kind.value)
        to_org = json.loads(payload).get("to_org_id")
        facts[bid] = after_event(facts[bid], kind, actor, to_org if isinstance(to_org, str) else None, after)
        ident = rng.choice([bid, bid, bid.replace("https://id.gs1.org/", "HTTPS://ID.GS1.ORG/")])
        fields = [f'"battery_id": "{ident}"', f'"kind": "{kind.value}"', f'"occurred_at": "{stamp}"',
                  f'"actor_org_id": "{actor}"']
        if rng.random() < 0.3:
            fields.append(f'"site_id": {rng.choice(_SITES)}')
        if rng.random() < 0.15:
            fields.append(f'"event_id": "{uuid.UUID(int=rng.getrandbits(128), version=4)}"')
        if rng.random() < 0.9 or to_org is not None:
            fields.append(f'"payload": {payload}')
        rng.shuffle(fields)
        lines.append(rng.choice(["", " ", "\t"]) + "{" + rng.choice([", ", ","]).join(fields) + "}" + rng.choice(["", " "]))
        if rng.random() < 0.03:
            lines.append(rng.choice(["", "   ", "\t"]))  # blank lines are skipped
    return lines


def _write(tmp_path: Path, lines: list[str], name: str = "events.jsonl", *, newline: str = "\n",
           bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + newline).encode())
    return path


@pytest.mark.parametrize("seed", range(6))
def test_random_histories_are_recorded_alike(pair: tuple[Engine, Engine], fleet: Any, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    lines = _history(rng, fleet, 250)
    chunk = [7, 50, 20_000][seed % 3]
    path = _write(tmp_path, lines, newline="\r\n" if seed == 4 else "\n", bom=seed == 5)
    got = _same(pair, path, _registry_import(chunk), expect="compiled")
    assert got[1] > 200 and got[2] > 0  # most recorded; the repeated records unchanged
    again = _same(pair, path, _registry_import(chunk), expect="compiled")  # a re-import changes nothing
    assert again[1] == 0 and again[2] == got[0]


def test_migration_import_is_recorded_alike(pair: tuple[Engine, Engine], fleet: Any, tmp_path: Path) -> None:
    rng = random.Random(42)
    lines = [ln for ln in _history(rng, fleet, 200) if '"received"' not in ln]
    passport = fleet.passports[0]  # the CLI import also names batteries by their passport ID
    lines.append(json.dumps({"battery_id": passport.passport_id, "kind": "bms_snapshot", "actor_org_id": "OEM-A",
                             "occurred_at": "2026-10-30T00:00:00Z", "payload": {"soh_pct": 77.5}}))
    migrated: list[int] = []

    def run(engine: Engine, path: Path) -> Any:
        return event_import.import_events(engine, path, chunk_size=40, migration=True, on_migrated=migrated.append)

    _same(pair, _write(tmp_path, lines), run, expect="compiled")
    assert migrated[0] == migrated[1]


@pytest.mark.parametrize("seed", range(3))
def test_authorised_import_is_recorded_alike(pair: tuple[Engine, Engine], fleet: Any, tmp_path: Path, seed: int) -> None:
    """``circulith import events`` without --migration: each row's custody and role checked by the kernel."""
    lines = _history(random.Random(100 + seed), fleet, 200, authorised=True)
    chunk = [9, 60, 20_000][seed]
    got = _same(pair, _write(tmp_path, lines), lambda e, p: event_import.import_events(e, p, chunk_size=chunk),
                expect="compiled")
    assert got[1] > 100


def test_an_unauthorised_row_falls_back_and_is_refused_alike(pair: tuple[Engine, Engine], fleet: Any,
                                                             tmp_path: Path) -> None:
    lines = _history(random.Random(7), fleet, 60, authorised=True)
    bid, _ = _base(fleet)  # a recycler that holds nothing records a BMS reading
    lines.append(f'{{"battery_id": "{bid}", "kind": "bms_snapshot", "occurred_at": "2026-11-10T00:00:00Z", '
                 '"actor_org_id": "REC-C"}')
    got = _same(pair, _write(tmp_path, lines), lambda e, p: event_import.import_events(e, p), expect=None)
    assert got[0] == "refused" and any("may not record" in p for p in got[1])


@pytest.mark.parametrize("seed", range(12))
def test_rows_by_another_actor_are_refused_alike(pair: tuple[Engine, Engine], fleet: Any, tmp_path: Path,
                                                  seed: int) -> None:
    """An authorised history with a few rows' actors swapped: where the Python path refuses one, the kernel must
    not record the file (a kernel that allowed more than the rules would fail here)."""
    rng = random.Random(500 + seed)
    lines = _history(rng, fleet, 80, authorised=True)
    for _ in range(3):
        i = rng.randrange(len(lines))
        if '"actor_org_id"' in lines[i]:
            who = rng.choice(list(ACTORS))
            lines[i] = lines[i].replace(lines[i].split('"actor_org_id": "')[1].split('"')[0], who, 1)
    _same(pair, _write(tmp_path, lines), lambda e, p: event_import.import_events(e, p, chunk_size=25), expect=None)


def test_an_import_as_one_organisation(pair: tuple[Engine, Engine], fleet: Any, tmp_path: Path) -> None:
    """--as OEM-A: rows naming OEM-A are checked by the kernel; a row naming another falls back and is refused."""
    bid, month = _base(fleet)
    mine = [f'{{"battery_id": "{bid}", "kind": "bms_snapshot", "occurred_at": "{month}-0{d}T00:00:00Z", '
            f'"actor_org_id": "OEM-A", "payload": {{"soh_pct": 9{d}.5}}}}' for d in range(2, 6)]

    def as_oem(engine: Engine, path: Path) -> Any:
        return event_import.import_events(engine, path, as_org="OEM-A")

    assert _same(pair, _write(tmp_path, mine), as_oem, expect="compiled")[1] == 4
    other = [mine[0].replace("-02T", "-08T"), mine[1].replace('"OEM-A"', '"DIS-B"').replace("-03T", "-09T")]
    assert _same(pair, _write(tmp_path, other, "other.jsonl"), as_oem, expect=None)[0] == "refused"


def test_a_receipt_of_a_pack_with_modules_is_left_to_the_python_path(pair: tuple[Engine, Engine], fleet: Any,
                                                                    tmp_path: Path) -> None:
    pack = next(p for p in fleet.passports if p.level == "pack")
    month = pack.manufacturing_date
    lines = [f'{{"battery_id": "{pack.battery_id}", "kind": "shipped", "occurred_at": "{month}-02T00:00:00Z", '
             '"actor_org_id": "OEM-A", "payload": {"to_org_id": "DIS-B"}}',
             f'{{"battery_id": "{pack.battery_id}", "kind": "received", "occurred_at": "{month}-03T00:00:00Z", '
             '"actor_org_id": "DIS-B"}']
    _same(pair, _write(tmp_path, lines), lambda e, p: event_import.import_events(e, p), expect="python")


# -- what the kernel is not certain of falls back, with the same outcome ---------------------------------------

def _base(fleet: Any) -> tuple[str, str]:
    p = min(fleet.passports, key=lambda p: p.manufacturing_date)  # the earliest: a year after it is still past
    return p.battery_id, p.manufacturing_date


_LINES: dict[str, tuple[str, str]] = {  # name: (a record, the importer expected)
    "plain": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
              '"actor_org_id": "OEM-A", "payload": {{"soh_pct": 99.5}}}}', "compiled"),
    "space_separator": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02 00:00:00Z", '
                        '"actor_org_id": "OEM-A"}}', "python"),
    "seven_digit_fraction": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": '
                             '"{m}-02T00:00:00.1234567+00:00", "actor_org_id": "OEM-A"}}', "python"),
    "hours_only_offset": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00+0100", '
                          '"actor_org_id": "OEM-A"}}', "python"),
    "soh_as_text": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                    '"actor_org_id": "OEM-A", "payload": {{"soh_pct": "91.5"}}}}', "python"),
    "naive_timestamp": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00", '
                        '"actor_org_id": "OEM-A"}}', "python"),
    "soh_out_of_range": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                         '"actor_org_id": "OEM-A", "payload": {{"soh_pct": 150}}}}', "python"),
    "count_not_whole": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                        '"actor_org_id": "OEM-A", "payload": {{"overcharge_events": 2.5}}}}', "python"),
    "nan": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
            '"actor_org_id": "OEM-A", "payload": {{"x": NaN}}}}', "python"),
    "huge_integer": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                     '"actor_org_id": "OEM-A", "payload": {{"x": 9007199254740993}}}}', "python"),
    "overflowing_float": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                          '"actor_org_id": "OEM-A", "payload": {{"x": 1e999}}}}', "python"),
    "duplicate_key": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                      '"actor_org_id": "OEM-A", "payload": {{"x": 1, "x": 2}}}}', "python"),
    "lone_surrogate": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                       '"actor_org_id": "OEM-A", "payload": {{"x": "\\ud800"}}}}', "python"),
    "nul": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
            '"actor_org_id": "OEM-A", "payload": {{"x": "a\\u0000b"}}}}', "python"),
    "unknown_field": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                      '"actor_org_id": "OEM-A", "colour": "red"}}', "python"),
    "registered": ('{{"battery_id": "{b}", "kind": "registered", "occurred_at": "{m}-02T00:00:00Z", '
                   '"actor_org_id": "OEM-A"}}', "python"),
    "impossible_transition": ('{{"battery_id": "{b}", "kind": "recycled", "occurred_at": "{m}-02T00:00:00Z", '
                              '"actor_org_id": "OEM-A"}}', "python"),
    "before_manufacture": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "2001-01-01T00:00:00Z", '
                           '"actor_org_id": "OEM-A"}}', "python"),
    "in_the_future": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "2999-01-01T00:00:00Z", '
                      '"actor_org_id": "OEM-A"}}', "python"),
    "unknown_battery": ('{{"battery_id": "https://id.gs1.org/01/04012345000009/21/NOPE", "kind": "bms_snapshot", '
                        '"occurred_at": "{m}-02T00:00:00Z", "actor_org_id": "OEM-A"}}', "python"),
    "not_an_identifier": ('{{"battery_id": "no such thing", "kind": "bms_snapshot", '
                          '"occurred_at": "{m}-02T00:00:00Z", "actor_org_id": "OEM-A"}}', "python"),
    "payload_as_text": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                        '"actor_org_id": "OEM-A", "payload": "{{\\"soh_pct\\": 90}}"}}', "python"),
    "empty_actor": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                    '"actor_org_id": ""}}', "python"),
    "not_an_object": ('["{b}"]', "python"),
    "same_id_other_content": ('{{"event_id": "e-1", "battery_id": "{b}", "kind": "bms_snapshot", '
                              '"occurred_at": "{m}-03T00:00:00Z", "actor_org_id": "OEM-A"}}\n'
                              '{{"event_id": "e-1", "battery_id": "{b}", "kind": "bms_snapshot", '
                              '"occurred_at": "{m}-04T00:00:00Z", "actor_org_id": "OEM-A"}}', "python"),
    "accident_of_unknown_kind": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                                 '"actor_org_id": "OEM-A", "payload": {{"accident": {{"kind": "meteor"}}}}}}', "python"),
    "deep_payload": ('{{"battery_id": "{b}", "kind": "bms_snapshot", "occurred_at": "{m}-02T00:00:00Z", '
                     '"actor_org_id": "OEM-A", "payload": {{"x": ' + "[" * 14 + "]" * 14 + "}}}}", "python"),
}


@pytest.mark.parametrize("case", sorted(_LINES))
def test_records_it_is_not_certain_of_fall_back(pair: tuple[Engine, Engine], fleet: Any, tmp_path: Path,
                                                case: str) -> None:
    bid, month = _base(fleet)
    line, expect = _LINES[case]
    first = f'{{"battery_id": "{bid}", "kind": "placed_on_market", "occurred_at": "{month}-01T12:00:00Z", ' \
            '"actor_org_id": "OEM-A"}'
    path = _write(tmp_path, [first, line.format(b=bid, m=month)])
    _same(pair, path, _registry_import(), expect=expect)
    # with --skip-invalid, the valid rows are recorded alike and the rest reported alike
    _same(pair, path, lambda e, p: registry.import_events(e, p, skip_invalid=True), expect=None)


def test_a_migration_actor_that_is_not_registered_falls_back(pair: tuple[Engine, Engine], fleet: Any,
                                                             tmp_path: Path) -> None:
    bid, month = _base(fleet)
    path = _write(tmp_path, [f'{{"battery_id": "{bid}", "kind": "bms_snapshot", "occurred_at": "{month}-02T00:00:00Z", '
                             '"actor_org_id": "NOBODY"}'])
    got = _same(pair, path, _migration_import(), expect=None)
    assert got[0] == "refused"


def test_a_receipt_in_a_migration(pair: tuple[Engine, Engine], fleet: Any, tmp_path: Path) -> None:
    """The units travelling with a received pack are written by the Python path only; a module has none."""
    for level, expect in (("pack", "python"), ("module", "compiled")):
        p = next(p for p in fleet.passports if p.level == level)
        path = _write(tmp_path, [f'{{"battery_id": "{p.battery_id}", "kind": "received", '
                                 f'"occurred_at": "{p.manufacturing_date}-02T00:00:00Z", "actor_org_id": "DIS-B"}}'],
                      f"{level}.jsonl")
        _same(pair, path, _migration_import(), expect=expect)


def test_stored_dynamic_values_later_than_the_file_are_kept(pair: tuple[Engine, Engine], fleet: Any,
                                                           tmp_path: Path) -> None:
    """A reading the passport holds with a later updated_at wins over the file's, ties go to the later row."""
    bid, month = _base(fleet)
    year = int(month[:4])
    for engine in pair:
        with engine.begin() as c:
            c.execute(text("UPDATE batteries SET dynamic_json = :d WHERE battery_id = :b"),
                      {"b": bid, "d": json.dumps({"soh_pct": {"value": 99.0, "updated_at": f"{year + 1}-06-01T00:00:00.000000Z"},
                                                  "full_cycles": {"value": 3, "updated_at": ""},
                                                  "soc_pct": 50, "accidents": [{"date": "x"}], "other": [1.50]})})
    lines = [f'{{"battery_id": "{bid}", "kind": "bms_snapshot", "occurred_at": "{year + 1}-0{m}-01T00:00:00Z", '
             f'"actor_org_id": "OEM-A", "payload": {{"soh_pct": {90 + i}, "full_cycles": {i}, "soc_pct": {i}.5, '
             f'"accident": {{"kind": "crash"}}}}}}' for i, m in enumerate((7, 5, 5, 1, 7))]
    _same(pair, _write(tmp_path, lines), _registry_import(), expect="compiled")


def test_canonical_identifiers_are_fixed_points() -> None:
    """The compiled import resolves an identifier stored in canonical form without parsing it, which gives
    what the Python path's ``canonical`` would only because canonical forms are their own canonical form."""
    fleet = generate_fleet(4, seed=3, today=TODAY)
    forms = [i for p in fleet.passports for i in p.all_identifiers()]
    forms += ["urn:uuid:3F2504E0-4F89-11D3-9A0C-0305E82C3301", "HTTPS://ID.GS1.ORG/01/04012345000009/21/B0",
              "https://brand.example/01/04012345000009/10/L1/21/S%2F1?17=250101"]
    for form in forms:
        c = canonical(form)
        assert canonical(c) == c


def test_a_fall_back_after_written_blocks_keeps_nothing_and_counts_once(pair: tuple[Engine, Engine], fleet: Any,
                                                                        tmp_path: Path) -> None:
    """Blocks the kernel wrote before the record it is not certain of are rolled back with it; the progress it
    reported is taken back, so the count a user sees ends at the file's records."""
    lines = [ln for ln in _history(random.Random(9), fleet, 60) if ln.strip()]
    bid, _ = _base(fleet)
    lines.append(f'{{"battery_id": "{bid}", "kind": "bms_snapshot", "occurred_at": "2026-11-25 00:00:00Z", '
                 '"actor_org_id": "OEM-A"}')  # a space for the 'T': Python reads it, the kernel does not
    seen: list[int] = []
    _same(pair, _write(tmp_path, lines), lambda e, p: registry.import_events(e, p, chunk_size=7, progress=seen.append),
          expect=None)
    assert any(n < 0 for n in seen)  # the compiled side took its count back ...
    assert sum(seen) == 2 * len(lines)  # ... and each side counted every record once


def test_decimal_spellings_are_written_as_python_writes_them(pair: tuple[Engine, Engine], fleet: Any,
                                                             tmp_path: Path) -> None:
    """Thousands of decimals of 1 to 17 significant digits, 1e-7 to 1e17, with and without trailing zeros:
    the payload text (hashed into the chain) must be json.dumps(json.loads(...))'s, digit for digit."""
    rng = random.Random(2026)
    bid, month = _base(fleet)
    lines = []
    for day in range(1, 29):
        numbers = []
        for _ in range(60):
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 17))).lstrip("0") or "0"
            point = rng.randint(0, len(digits))
            text = (digits[:point] or "0") + "." + (digits[point:] or "0") + "0" * rng.choice([0, 0, 1, 2])
            scale = rng.choice(["", "", "0" * rng.randint(1, 6)])
            numbers.append(("-" if rng.random() < 0.2 else "") + (f"0.{scale}{digits}" if scale else text))
        payload = ", ".join(f'"n{i}": {n}' for i, n in enumerate(numbers))
        lines.append(f'{{"battery_id": "{bid}", "kind": "bms_snapshot", "occurred_at": "{month}-{day:02d}T00:00:00Z", '
                     f'"actor_org_id": "OEM-A", "payload": {{{payload}}}}}')
    _same(pair, _write(tmp_path, lines), _registry_import(), expect="compiled")
