"""The hostile-input corpus through every CLI import: exit 2 with row and field, nothing written (issue 14)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from circulith.cli.main import run
from circulith.demo.fleet import ORGANISATIONS, generate_fleet
from circulith.store.database import create_db_engine, transaction
from circulith.store.registry import ensure_organisations

TODAY = dt.date(2026, 11, 1)
AT = "2026-10-01T00:00:00Z"


@pytest.fixture(scope="module")
def fleet():
    return generate_fleet(2, seed=5, today=TODAY)


@pytest.fixture
def db(tmp_path: Path, fleet) -> str:
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    assert run(["--db", url, "db", "upgrade"]) == 0
    with transaction(create_db_engine(url)) as s:  # events are imported only for registered organisations
        ensure_organisations(s, ORGANISATIONS)
    path = tmp_path / "passports.jsonl"
    path.write_text("".join(json.dumps(p.model_dump(mode="json", exclude_none=True)) + "\n" for p in fleet.passports))
    assert run(["--db", url, "import", "passports", str(path)]) == 0
    return url


def _events(url: str) -> int:
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return con.execute("select count(*) from events").fetchone()[0]
    finally:
        con.close()


def _line(fleet, payload_text: str, **over: str) -> str:
    pack = fleet.passports[0]
    fields = {"battery_id": json.dumps(pack.battery_id), "kind": '"bms_snapshot"', "occurred_at": json.dumps(AT),
              "actor_org_id": json.dumps(pack.manufacturer.id), "payload": payload_text} | over
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}\n"


CORPUS = {
    "nan": ('{"soh_pct": NaN}', ""),
    "infinity": ('{"soh_pct": Infinity}', ""),
    "overflow": ('{"soh_pct": 1e999}', ""),
    "surrogate": ('{"note": "\\ud800"}', "payload.note"),
    "nul": ('{"note": "a\\u0000b"}', "payload.note"),
    "deep": ('{"x": ' + "[" * 3000 + "]" * 3000 + "}", ""),
    "huge_int": ('{"n": ' + "7" * 5000 + "}", ""),
    "soh_150": ('{"soh_pct": 150}', "payload.soh_pct"),
    "negative_count": ('{"full_cycles": -4}', "payload.full_cycles"),
    "depth_20": ('{"x": ' + '{"y": ' * 20 + "1" + "}" * 20 + "}", "payload"),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_events_jsonl_corpus_exits_2_naming_row_and_field(db, fleet, tmp_path, capsys, case) -> None:
    payload, field = CORPUS[case]
    path = tmp_path / f"{case}.jsonl"
    path.write_text(_line(fleet, "{}") + _line(fleet, payload), encoding="utf-8")
    before = _events(db)
    capsys.readouterr()
    assert run(["--db", db, "import", "events", str(path)]) == 2
    err = capsys.readouterr().err
    assert "row 2" in err and "Traceback" not in err, err
    assert field in err
    assert _events(db) == before


@pytest.mark.parametrize("cell", ["nan", "inf", "-40", "1e300", "NaN"])
def test_events_csv_dynamic_cells_out_of_range_exit_2(db, fleet, tmp_path, capsys, cell) -> None:
    pack = fleet.passports[0]
    path = tmp_path / "events.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["battery_id", "kind", "occurred_at", "actor_org_id", "payload.soh_pct"])
        w.writerow([pack.battery_id, "bms_snapshot", AT, pack.manufacturer.id, cell])
    before = _events(db)
    capsys.readouterr()
    assert run(["--db", db, "import", "events", str(path)]) == 2
    err = capsys.readouterr().err
    assert "row 1" in err and "payload.soh_pct" in err and "Traceback" not in err
    assert _events(db) == before


def test_csv_json_cell_with_nan_exits_2(db, fleet, tmp_path, capsys) -> None:
    pack = fleet.passports[0]
    path = tmp_path / "events.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["battery_id", "kind", "occurred_at", "actor_org_id", "payload"])
        w.writerow([pack.battery_id, "bms_snapshot", AT, pack.manufacturer.id, '{"soh_pct": NaN}'])
    assert run(["--db", db, "import", "events", str(path)]) == 2
    err = capsys.readouterr().err
    assert "row 1" in err and "payload" in err and "Traceback" not in err


def test_csv_dynamic_numbers_from_text_are_stored(db, fleet, tmp_path, capsys) -> None:
    pack = fleet.passports[0]
    path = tmp_path / "ok.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["battery_id", "kind", "occurred_at", "actor_org_id", "payload.soh_pct"])
        now = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()  # after the registered values
        w.writerow([pack.battery_id, "bms_snapshot", now, pack.manufacturer.id, "91.5"])
    assert run(["--db", db, "import", "events", str(path)]) == 0
    capsys.readouterr()
    maker = pack.manufacturer.id  # the CLI reads as an organisation entitled to the dynamic values
    run(["--db", db, "org", "add", maker, "--name", maker, "--role", "oem"])
    capsys.readouterr()
    assert run(["--db", db, "--as", maker, "passport", "show", pack.battery_id, "--level", "legitimate",
                "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["passport"]["dynamic"]["soh_pct"]["value"] == 91.5


@pytest.mark.parametrize("payload", ['{"mass_kg": NaN}', '{"mass_kg": 1e999}', '{"name": "\\ud800"}'])
def test_passports_jsonl_corpus_exits_2(db, tmp_path, capsys, payload) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(payload + "\n", encoding="utf-8")
    assert run(["--db", db, "import", "passports", str(path)]) == 2
    err = capsys.readouterr().err
    assert "row 1" in err and "Traceback" not in err


def test_bom_jsonl_urn_passport_ids_and_naive_timestamps(db, fleet, tmp_path, capsys) -> None:
    pack = fleet.passports[0]
    ok = tmp_path / "bom.jsonl"
    ok.write_bytes(b"\xef\xbb\xbf" + _line(fleet, '{"soh_pct": 93.0}', battery_id=json.dumps(pack.passport_id))
                   .encode())
    assert run(["--db", db, "import", "events", str(ok), "--json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["written"] == 1
    naive = tmp_path / "naive.jsonl"
    naive.write_text(_line(fleet, "{}", occurred_at='"2026-10-02T00:00:00"'), encoding="utf-8")
    assert run(["--db", db, "import", "events", str(naive)]) == 2
    err = capsys.readouterr().err
    assert "occurred_at" in err and "timezone" in err


def test_import_applies_the_write_policy_to_registered_actors(db, fleet, tmp_path, capsys) -> None:
    with transaction(create_db_engine(db)) as s:
        ensure_organisations(s, ORGANISATIONS)
    pack = fleet.passports[0]
    grab = tmp_path / "grab.jsonl"  # a recycler records a collection on a pack the OEM holds in service
    grab.write_text(_line(fleet, "{}", kind='"collected"', actor_org_id='"REC-NORDMET"'), encoding="utf-8")
    before = _events(db)
    assert run(["--db", db, "import", "events", str(grab)]) == 2
    err = capsys.readouterr().err
    assert "row 1" in err and "actor_org_id" in err and "holding it" in err
    assert _events(db) == before
    # --as: every row must be recorded by that organisation.
    own = tmp_path / "own.jsonl"
    own.write_text(_line(fleet, '{"soh_pct": 90.0}'), encoding="utf-8")
    someone_else = "OEM-ALBIS" if pack.manufacturer.id != "OEM-ALBIS" else "OEM-NORDVIK"
    assert run(["--db", db, "--as", someone_else, "import", "events", str(own)]) == 2
    assert f"records as {someone_else}" in capsys.readouterr().err
    assert run(["--db", db, "--as", pack.manufacturer.id, "import", "events", str(own)]) == 0
