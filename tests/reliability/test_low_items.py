"""Issue 14's low items, on every import format and the API: byte-order marks, passport-ID URNs, naive times."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from circulith.cli.main import run
from circulith.demo.fleet import ORGANISATIONS, generate_fleet
from circulith.store.database import create_db_engine, transaction
from circulith.store.registry import ensure_organisations

BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def fleet():
    return generate_fleet(2, seed=5, today=dt.date(2026, 11, 1))


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    assert run(["--db", url, "db", "upgrade"]) == 0
    with transaction(create_db_engine(url)) as s:
        ensure_organisations(s, ORGANISATIONS)
    return url


def _passports(fleet, fmt: str) -> bytes:
    docs = [p.model_dump(mode="json", exclude_none=True) for p in fleet.passports]
    if fmt == "json":
        return json.dumps(docs).encode()
    return "".join(json.dumps(d) + "\n" for d in docs).encode()


def _event(pack, fmt: str, occurred_at: str) -> bytes:
    """One snapshot of ``pack`` named by its passport ID (``urn:uuid:...``)."""
    rec = {"battery_id": pack.passport_id, "kind": "bms_snapshot", "occurred_at": occurred_at,
           "actor_org_id": pack.manufacturer.id, "payload": {"soh_pct": 88.0}}
    if fmt == "csv":
        return (f"battery_id,kind,occurred_at,actor_org_id,payload.soh_pct\n{pack.passport_id},bms_snapshot,"
                f"{occurred_at},{pack.manufacturer.id},88.0\n").encode()
    if fmt == "json":
        return json.dumps([rec]).encode()
    return (json.dumps(rec) + "\n").encode()


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_a_byte_order_mark_and_a_passport_id_urn_are_accepted_in_every_format(db, fleet, tmp_path, fmt,
                                                                              capsys) -> None:
    passports = tmp_path / ("passports.json" if fmt == "json" else "passports.jsonl")
    passports.write_bytes(BOM + _passports(fleet, "json" if fmt == "json" else "jsonl"))
    assert run(["--db", db, "import", "passports", str(passports)]) == 0, capsys.readouterr().err
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    events = tmp_path / f"events.{fmt}"
    events.write_bytes(BOM + _event(fleet.passports[0], fmt, at))
    capsys.readouterr()
    assert run(["--db", db, "import", "events", str(events), "--json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["written"] == 1


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_naive_timestamps_are_refused_saying_why(db, fleet, tmp_path, fmt, capsys) -> None:
    passports = tmp_path / "passports.jsonl"
    passports.write_bytes(_passports(fleet, "jsonl"))
    assert run(["--db", db, "import", "passports", str(passports)]) == 0
    events = tmp_path / f"events.{fmt}"
    events.write_bytes(_event(fleet.passports[0], fmt, "2026-10-02T00:00:00"))
    capsys.readouterr()
    assert run(["--db", db, "import", "events", str(events)]) == 2
    err = capsys.readouterr().err
    assert "row 1" in err and "occurred_at" in err and "no timezone" in err and "not assumed to be UTC" in err


def test_the_api_refuses_naive_timestamps_naming_the_field(clients, scenario) -> None:
    c = clients[scenario.maker]
    r = c.post("/api/v1/events", json={"battery_id": scenario.own, "kind": "repaired",
                                       "occurred_at": "2026-10-02T00:00:00"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "occurred_at", r.text
    r = c.patch(f"/api/v1/passports/{scenario.own}/dynamic", json={"values": {"soh_pct": 90.0},
                                                                    "occurred_at": "2026-10-02T00:00:00"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "occurred_at", r.text
