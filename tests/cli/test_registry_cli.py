"""The registry CLI end to end: import, idempotence, bad input, passport views, export, verify."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from circulith.cli.main import run
from circulith.demo.fleet import generate_fleet
from circulith.passport.attributes import read_passport_attributes

TODAY = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def fleet():
    return generate_fleet(3, seed=11, today=TODAY)


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    assert run(["--db", url, "db", "upgrade"]) == 0
    _register_organisations(url)  # events are imported only for registered organisations (issue 14)
    return url


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _passport_records(fleet) -> list[dict]:
    return [p.model_dump(mode="json", exclude_none=True) for p in fleet.passports]


def _event_records(fleet) -> list[dict]:
    return [e.model_dump(mode="json", exclude={"event_id"}) for e in fleet.events]


def _counts(url: str) -> tuple[int, int]:
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return (con.execute("select count(*) from batteries").fetchone()[0],
                con.execute("select count(*) from events").fetchone()[0])
    finally:
        con.close()


def _json_out(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_import_is_atomic_idempotent_and_verifiable(db, fleet, tmp_path, capsys):
    pfile = _write_jsonl(tmp_path / "passports.jsonl", _passport_records(fleet))
    efile = _write_jsonl(tmp_path / "events.jsonl", _event_records(fleet))
    assert run(["--db", db, "import", "passports", str(pfile), "--json"]) == 0
    assert _json_out(capsys)["written"] == len(fleet.passports)
    assert run(["--db", db, "import", "events", str(efile), "--json"]) == 0
    assert _json_out(capsys)["written"] == len(fleet.events)
    before = _counts(db)
    assert run(["--db", db, "import", "passports", str(pfile), "--json"]) == 0
    assert _json_out(capsys)["unchanged"] == len(fleet.passports)
    assert run(["--db", db, "import", "events", str(efile), "--json"]) == 0
    assert _json_out(capsys)["unchanged"] == len(fleet.events)
    assert _counts(db) == before
    assert run(["--db", db, "ledger", "verify", "--json"]) == 0
    assert _json_out(capsys)["ok"] is True


def test_csv_passports_with_dotted_columns(db, fleet, tmp_path, capsys):
    rec = _passport_records(fleet)[0]
    flat = {
        "passport_id": rec["passport_id"], "battery_id": rec["battery_id"], "level": "pack", "category": "EV",
        "chemistry": rec["chemistry"], "model": rec["model"], "manufacturer.id": rec["manufacturer"]["id"],
        "manufacturer.name": rec["manufacturer"]["name"], "operator.id": rec["operator"]["id"],
        "operator.name": rec["operator"]["name"], "manufacturing_place": rec["manufacturing_place"],
        "manufacturing_date": rec["manufacturing_date"], "mass_kg": rec["mass_kg"],
        "rated_capacity_ah": rec["rated_capacity_ah"], "rated_energy_kwh": rec["rated_energy_kwh"],
        "nominal_voltage_v": rec["nominal_voltage_v"], "min_voltage_v": rec["min_voltage_v"],
        "max_voltage_v": rec["max_voltage_v"], "materials.cobalt_kg": rec["materials"]["cobalt_kg"],
        "identifiers": json.dumps(rec["identifiers"]),
    }
    path = tmp_path / "p.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(flat))
        writer.writeheader()
        writer.writerow(flat)
    assert run(["--db", db, "import", "passports", str(path), "--json"]) == 0
    assert _json_out(capsys)["written"] == 1
    assert run(["--db", db, "passport", "show", rec["identifiers"][0], "--json"]) == 0
    # the CLI prints the same typed result as GET /api/v1/passports/{id}: the view is under "passport"
    assert _json_out(capsys)["passport"]["chemistry"] == rec["chemistry"]


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (lambda r: r.update(chemistry="NMC999"), "chemistry", "unknown chemistry"),
        (lambda r: r.update(mass_kg=-5), "mass_kg", "outside the plausible range"),
        (lambda r: r.update(rated_capacity_ah=0), "rated_capacity_ah", "positive"),
        (lambda r: r.update(battery_id="https://id.gs1.org/01/04012345000018/21/X1"), "battery_id", "check digit"),
        (lambda r: r.update(manufacturing_date="2031-01"), "manufacturing_date", "future"),
    ],
)
def test_bad_passport_rows_exit_2_name_row_field_reason_and_write_nothing(db, fleet, tmp_path, capsys, mutate,
                                                                          field, reason):
    records = _passport_records(fleet)[:3]
    mutate(records[1])
    path = _write_jsonl(tmp_path / "bad.jsonl", records)
    assert run(["--db", db, "import", "passports", str(path)]) == 2
    err = capsys.readouterr().err
    assert "row 2" in err and field in err and reason in err
    assert _counts(db) == (0, 0)


def test_skip_invalid_writes_the_valid_rows_and_the_rejects(db, fleet, tmp_path, capsys):
    records = _passport_records(fleet)[:3]
    records[2]["chemistry"] = "XYZ"
    path = _write_jsonl(tmp_path / "mixed.jsonl", records)
    assert run(["--db", db, "import", "passports", str(path), "--skip-invalid", "--json"]) == 0
    out = _json_out(capsys)
    assert out["written"] == 2 and out["rejected"] == 1
    rejects = [json.loads(line) for line in Path(out["rejects_path"]).read_text().splitlines()]
    assert rejects[0]["row"] == 3 and rejects[0]["problems"][0]["field"] == "chemistry"


def test_bad_events_exit_2_and_write_nothing(db, fleet, tmp_path, capsys):
    pfile = _write_jsonl(tmp_path / "passports.jsonl", _passport_records(fleet))
    assert run(["--db", db, "import", "passports", str(pfile)]) == 0
    base = _counts(db)
    pack = fleet.passports[0].battery_id
    events = _event_records(fleet) + [
        {"battery_id": pack, "kind": "teleported", "occurred_at": "2025-01-01T00:00:00Z", "actor_org_id": "X"},
        {"battery_id": "urn:example:ghost", "kind": "repaired", "occurred_at": "2025-01-01T00:00:00Z", "actor_org_id": "X"},
        {"battery_id": pack, "kind": "repaired", "occurred_at": "yesterday", "actor_org_id": "X"},
    ]
    path = _write_jsonl(tmp_path / "events.jsonl", events)
    assert run(["--db", db, "import", "events", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown event kind 'teleported'" in err and "(and 2 more problems)" in err
    assert _counts(db) == base


def test_malformed_files_exit_2(db, tmp_path, capsys):
    bad = tmp_path / "broken.json"
    bad.write_text('[{"battery_id": ', encoding="utf-8")
    assert run(["--db", db, "import", "passports", str(bad)]) == 2
    assert "malformed JSON" in capsys.readouterr().err
    assert run(["--db", db, "import", "passports", str(tmp_path / "missing.csv")]) == 2
    assert "file not found" in capsys.readouterr().err
    odd = tmp_path / "data.xml"
    odd.write_text("<x/>")
    assert run(["--db", db, "import", "events", str(odd)]) == 2


def test_public_view_shows_no_attribute_reserved_for_others(db, fleet, tmp_path, capsys):
    pfile = _write_jsonl(tmp_path / "passports.jsonl", _passport_records(fleet))
    assert run(["--db", db, "import", "passports", str(pfile)]) == 0
    _register_organisations(db)
    ident = fleet.passports[0].identifiers[0]
    maker = fleet.passports[0].manufacturer.id
    attrs = read_passport_attributes()
    shown = {}
    # each level as an organisation entitled to it: anyone, the battery's maker, a market surveillance authority
    for level, org in (("public", "DIS-KREIS"), ("legitimate", maker), ("authority", "MSA-DE")):
        capsys.readouterr()
        assert run(["--db", db, "--as", org, "passport", "show", ident, "--level", level, "--json"]) == 0
        out = _json_out(capsys)
        assert out["audience"] == level
        shown[level] = out["passport"]
    restricted_top = {path.split(".")[0] for path, a in attrs.items() if a.access != "public" and "." not in path}
    assert not restricted_top & set(shown["public"])
    assert "dynamic" not in shown["public"] and "dynamic" in shown["legitimate"]
    assert "test_report_url" in shown["authority"] and "test_report_url" not in shown["legitimate"]


def test_the_level_is_capped_by_who_the_command_acts_as_and_restricted_reads_are_logged(db, fleet, tmp_path,
                                                                                        capsys):
    pfile = _write_jsonl(tmp_path / "passports.jsonl", _passport_records(fleet))
    assert run(["--db", db, "import", "passports", str(pfile)]) == 0
    _register_organisations(db)
    ident = fleet.passports[0].identifiers[0]
    maker = fleet.passports[0].manufacturer.id
    capsys.readouterr()
    # holding the database file no longer shows everything: the operator (default) and a dismantler with no
    # custody see the public view only, and asking for more is refused with exit code 2
    for argv in ([], ["--as", "DIS-KREIS"]):
        assert run(["--db", db, *argv, "passport", "show", ident, "--level", "authority"]) == 2
        assert "not the 'authority' one" in capsys.readouterr().err
    assert run(["--db", db, "--as", "NO-SUCH-ORG", "passport", "show", ident]) == 2
    assert "no organisation 'NO-SUCH-ORG'" in capsys.readouterr().err
    assert run(["--db", db, "passport", "show", ident, "--level", "everything"]) == 2
    assert "--level" in capsys.readouterr().err
    # the maker's read is legitimate interest and lands in the access log, like the API's
    before = _access_log(db)
    assert run(["--db", db, "--as", maker, "passport", "show", ident, "--json"]) == 0
    assert _json_out(capsys)["audience"] == "legitimate"
    after = _access_log(db)
    assert after[len(before):] == [(maker, fleet.passports[0].battery_id, "legitimate", "manufacturer")]
    # a public read is not logged
    assert run(["--db", db, "--as", "DIS-KREIS", "passport", "show", ident, "--json"]) == 0
    assert _json_out(capsys)["audience"] == "public"
    assert _access_log(db) == after


def test_the_acting_organisation_can_come_from_the_environment(db, fleet, tmp_path, capsys, monkeypatch):
    pfile = _write_jsonl(tmp_path / "passports.jsonl", _passport_records(fleet))
    assert run(["--db", db, "import", "passports", str(pfile)]) == 0
    _register_organisations(db)
    ident = fleet.passports[0].identifiers[0]
    capsys.readouterr()
    monkeypatch.setenv("CIRCULITH_AS", "MSA-DE")
    assert run(["--db", db, "passport", "show", ident, "--json"]) == 0
    assert _json_out(capsys)["audience"] == "authority"
    # --as wins over the environment
    assert run(["--db", db, "--as", "DIS-KREIS", "passport", "show", ident, "--json"]) == 0
    assert _json_out(capsys)["audience"] == "public"


def _register_organisations(url: str) -> None:
    from circulith.demo.fleet import ORGANISATIONS
    from circulith.store.database import create_db_engine, transaction
    from circulith.store.registry import ensure_organisations

    with transaction(create_db_engine(url)) as session:
        ensure_organisations(session, ORGANISATIONS)


def _access_log(url: str) -> list[tuple[str, str, str, str]]:
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return con.execute("select org_id, battery_id, audience, ground from access_log order by entry_id").fetchall()
    finally:
        con.close()


def test_export_validates_and_history_lists_events(db, fleet, tmp_path, capsys):
    pfile = _write_jsonl(tmp_path / "passports.jsonl", _passport_records(fleet))
    efile = _write_jsonl(tmp_path / "events.jsonl", _event_records(fleet))
    assert run(["--db", db, "import", "passports", str(pfile)]) == 0
    assert run(["--db", db, "import", "events", str(efile)]) == 0
    _register_organisations(db)
    capsys.readouterr()
    pack = fleet.passports[0]
    # the whole passport goes to its manufacturer and to authorities, not to whoever holds the database file
    assert run(["--db", db, "passport", "export", pack.battery_id]) == 2
    assert "to its manufacturer" in capsys.readouterr().err
    assert run(["--db", db, "--as", "MSA-DE", "passport", "export", pack.battery_id, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["battery_id"] == pack.battery_id
    assert run(["--db", db, "--as", pack.manufacturer.id, "passport", "export", pack.battery_id,
                "--format", "batterypass"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "GeneralProductInformation" in json.dumps(doc)
    assert run(["--db", db, "passport", "history", pack.passport_id, "--json"]) == 0
    kinds = [e["kind"] for e in _json_out(capsys)["events"]]  # the same typed result as the API's
    assert kinds[0] == "registered" and "installed" in kinds


def test_verify_exits_2_and_names_an_altered_event(db, fleet, tmp_path, capsys):
    pfile = _write_jsonl(tmp_path / "passports.jsonl", _passport_records(fleet))
    assert run(["--db", db, "import", "passports", str(pfile)]) == 0
    con = sqlite3.connect(db.removeprefix("sqlite:///"))
    con.execute("DROP TRIGGER events_no_update")
    event_id = con.execute("select event_id from events where global_seq = 5").fetchone()[0]
    con.execute("UPDATE events SET actor_org_id = 'FORGER' WHERE global_seq = 5")
    con.commit()
    con.close()
    capsys.readouterr()
    assert run(["--db", db, "ledger", "verify"]) == 2
    captured = capsys.readouterr()
    assert event_id in captured.out + captured.err


def test_unknown_identifier_and_unmigrated_db(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert run(["--db", url, "ledger", "verify"]) == 2
    assert "circulith db upgrade" in capsys.readouterr().err
    assert run(["--db", url, "db", "upgrade"]) == 0
    # a plain serial number is a valid product identifier (Battery Pass, Catena-X): not found here
    assert run(["--db", url, "passport", "show", "not-an-id"]) == 2
    assert "no battery with identifier 'not-an-id'" in capsys.readouterr().err
    # an identifier in a known scheme that breaks its rules is refused naming the rule
    assert run(["--db", url, "passport", "show", "https://id.gs1.org/01/09506000134353/21/X"]) == 2
    assert "check digit" in capsys.readouterr().err


def test_demo_builds_a_verified_registry(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert run(["--db", url, "demo", "--batteries", "40", "--no-serve", "--json"]) == 0
    out = _json_out(capsys)
    assert out["ledger_ok"] is True
    assert out["fleet"]["batteries_by_level"]["pack"] == 40
    assert sum(out["fleet"]["packs_by_chemistry"].values()) == 40


def test_imports_and_successors_follow_the_acting_organisations_rights(db, fleet, tmp_path, capsys):
    pfile = _write_jsonl(tmp_path / "passports.jsonl", _passport_records(fleet))
    _register_organisations(db)
    makers = {p.manufacturer.id for p in fleet.passports}
    other = next(o for o in ("OEM-NORDVIK", "OEM-ALBIS", "OEM-CATHAY") if o not in makers or len(makers) > 1)
    capsys.readouterr()
    # a maker may not register other makers' batteries, and a recycler none at all: nothing is written
    assert run(["--db", db, "--as", other, "import", "passports", str(pfile)]) == 2
    assert "is not your organisation" in capsys.readouterr().err
    assert run(["--db", db, "--as", "REC-NORDMET", "import", "passports", str(pfile)]) == 2
    assert "only battery makers" in capsys.readouterr().err
    assert _counts(db)[0] == 0
    # the registry operator (the default) registers them all
    assert run(["--db", db, "import", "passports", str(pfile)]) == 0
    assert _counts(db)[0] == len(fleet.passports)
    pack = fleet.passports[0]
    # a successor is recorded by its new operator for a battery it has legitimate interest in
    assert run(["--db", db, "--as", "REU-SECONDVOLT", "passport", "successor", pack.battery_id,
                "--status", "repurposed", "--new-id", "NEW-1", "--operator", "REU-SECONDVOLT"]) == 2
    assert "not in your custody" in capsys.readouterr().err
    assert run(["--db", db, "--as", "REU-SECONDVOLT", "passport", "successor", pack.battery_id,
                "--status", "repurposed", "--new-id", "NEW-1", "--operator", "REC-NORDMET"]) == 2
    assert "with yourself as its operator" in capsys.readouterr().err


def test_serve_uses_its_listen_address_as_public_base_url_unless_configured(db, monkeypatch):
    from circulith.cli.common import state
    from circulith.cli.serve_commands import build_app

    monkeypatch.setattr(state, "db_url", db)
    monkeypatch.delenv("CIRCULITH_PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("CIRCULITH_ENV", "test")
    assert build_app("http://127.0.0.1:9123").state.settings.public_base_url == "http://127.0.0.1:9123"
    monkeypatch.setenv("CIRCULITH_PUBLIC_BASE_URL", "https://passports.example.org")
    assert build_app("http://127.0.0.1:9123").state.settings.public_base_url == "https://passports.example.org"


def test_the_import_says_which_importer_recorded_the_file(db, fleet, tmp_path, capsys, monkeypatch):
    """The compiled import records what it is certain of; a record it is not (a timestamp with a space for its
    'T', which Python reads) and the switch turned off go through the Python import; the report says which
    recorded the file and, when the compiled one did not, why."""
    pfile = _write_jsonl(tmp_path / "passports.jsonl", _passport_records(fleet))
    assert run(["--db", db, "import", "passports", str(pfile), "--json"]) == 0
    capsys.readouterr()
    records = _event_records(fleet)
    half = len(records) // 2
    first, rest = records[:half], [dict(r) for r in records[half:]]
    rest[-1]["occurred_at"] = rest[-1]["occurred_at"].replace("T", " ")
    assert run(["--db", db, "import", "events", str(_write_jsonl(tmp_path / "a.jsonl", first)), "--json"]) == 0
    out = _json_out(capsys)
    assert (out["importer"], out["written"], out["fallback_reason"]) == ("compiled", len(first), None)
    assert run(["--db", db, "import", "events", str(_write_jsonl(tmp_path / "b.jsonl", rest)), "--json"]) == 0
    out = _json_out(capsys)
    assert (out["importer"], out["written"]) == ("python", len(rest))
    assert out["fallback_reason"] == "a timestamp in another spelling"
    monkeypatch.setenv("CIRCULITH_COMPILED_IMPORT", "0")
    assert run(["--db", db, "import", "events", str(_write_jsonl(tmp_path / "a.jsonl", first)), "--json"]) == 0
    out = _json_out(capsys)
    assert (out["importer"], out["unchanged"]) == ("python", len(first))
    assert out["fallback_reason"] == "turned off (CIRCULITH_COMPILED_IMPORT=0)"
    assert run(["--db", db, "ledger", "verify", "--json"]) == 0
    assert _json_out(capsys)["ok"] is True
