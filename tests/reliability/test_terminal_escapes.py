"""Stored and user text printed by the CLI never sends control sequences to the terminal (issue 14, item 8)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from circulith.cli.common import console
from circulith.cli.main import run
from circulith.demo.fleet import ORGANISATIONS, generate_fleet
from circulith.store.database import create_db_engine, transaction
from circulith.store.registry import ensure_organisations

CLEAR = "\x1b[2J"
SITE = f"SITE{CLEAR}[bold]x\u202e\x9b31m"
"""A site ID that would clear the screen, inject Rich markup, reverse the text and colour it (C1 CSI)."""


@pytest.fixture
def registry(tmp_path: Path) -> tuple[str, str, str]:
    """(database URL, battery ID, its maker) with one event recorded at a hostile site ID."""
    fleet = generate_fleet(1, seed=7, today=dt.date(2026, 11, 1))
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    assert run(["--db", url, "db", "upgrade"]) == 0
    with transaction(create_db_engine(url)) as s:
        ensure_organisations(s, ORGANISATIONS)
    pack = fleet.passports[0]
    passports = tmp_path / "passports.jsonl"
    passports.write_text(json.dumps(pack.model_dump(mode="json", exclude_none=True)) + "\n", encoding="utf-8")
    assert run(["--db", url, "import", "passports", str(passports)]) == 0
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"battery_id": pack.battery_id, "kind": "bms_snapshot", "occurred_at": at,
                                  "actor_org_id": pack.manufacturer.id, "site_id": SITE,
                                  "payload": {"soh_pct": 91.0, "note": f"n{CLEAR}"}}) + "\n", encoding="utf-8")
    assert run(["--db", url, "--as", pack.manufacturer.id, "import", "events", str(events)]) == 0
    return url, pack.battery_id, pack.manufacturer.id


def _no_raw_controls(text: str) -> None:
    assert not any(c in text for c in ("\x1b", "\x9b", "\u202e")), repr(text)


def test_history_shows_a_hostile_site_id_escaped(registry, capsys, monkeypatch) -> None:
    monkeypatch.setattr(console, "width", 1000)  # one line per event, to read the cells whole
    url, battery, maker = registry
    capsys.readouterr()
    assert run(["--db", url, "--as", maker, "passport", "history", battery]) == 0
    out = capsys.readouterr().out
    _no_raw_controls(out)
    assert "SITE\\x1b[2J[bold]x\\u202e\\x9b31m" in out  # shown as written, markup not interpreted
    assert '"note": "n\\u001b[2J"' in out  # the payload text too


def test_json_output_keeps_values_but_sends_no_control_code(registry, capsys) -> None:
    url, battery, maker = registry
    capsys.readouterr()
    assert run(["--db", url, "--as", maker, "passport", "history", battery, "--json"]) == 0
    out = capsys.readouterr().out
    _no_raw_controls(out)
    assert SITE in [e["site_id"] for e in json.loads(out)["events"]]


def test_error_messages_show_a_hostile_file_name_escaped(registry, tmp_path, capsys) -> None:
    url = registry[0]
    capsys.readouterr()
    assert run(["--db", url, "import", "events", str(tmp_path / f"x{CLEAR}[red]y.jsonl")]) == 2
    err = capsys.readouterr().err
    _no_raw_controls(err)
    assert "x\\x1b[2J[red]y.jsonl" in err.replace("\n", "")
    assert run(["--db", url, f"nosuch{CLEAR}"]) == 2
    err = capsys.readouterr().err
    _no_raw_controls(err)
    assert "nosuch\\x1b" in err
