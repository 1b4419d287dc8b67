"""``import events`` authorises every row as the API does; the operator's migration import is the one exception."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from circulith.cli.main import run
from circulith.demo.fleet import ORGANISATIONS, generate_fleet
from circulith.store.database import create_db_engine, transaction
from circulith.store.registry import ensure_organisations

AT = "2026-10-01T00:00:00Z"
RECYCLER = "REC-NORDMET"
AUTHORITY = "MSA-DE"


@pytest.fixture(scope="module")
def pack():
    return generate_fleet(1, seed=5, today=dt.date(2026, 11, 1)).passports[0]


@pytest.fixture
def db(tmp_path: Path, pack) -> str:
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    assert run(["--db", url, "db", "upgrade"]) == 0
    with transaction(create_db_engine(url)) as s:
        ensure_organisations(s, ORGANISATIONS)
    path = tmp_path / "passports.jsonl"
    path.write_text(json.dumps(pack.model_dump(mode="json", exclude_none=True)) + "\n", encoding="utf-8")
    assert run(["--db", url, "import", "passports", str(path)]) == 0
    return url


def _actors(url: str) -> list[str]:
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return [r[0] for r in con.execute("select actor_org_id from events where kind != 'registered'")]
    finally:
        con.close()


def _file(tmp_path: Path, pack, *rows: tuple[str, str]) -> Path:
    """A JSON Lines file of (kind, actor) rows on ``pack``."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"battery_id": pack.battery_id, "kind": kind, "occurred_at": AT,
                                        "actor_org_id": actor}) + "\n" for kind, actor in rows), encoding="utf-8")
    return path


def test_an_unknown_organisation_is_refused_naming_row_field_and_reason(db, pack, tmp_path, capsys) -> None:
    path = _file(tmp_path, pack, ("placed_on_market", pack.manufacturer.id), ("collected", "GHOST-RECYCLING"))
    capsys.readouterr()
    assert run(["--db", db, "import", "events", str(path)]) == 2
    err = capsys.readouterr().err
    assert "row 2" in err and "actor_org_id" in err and "'GHOST-RECYCLING' is not a registered organisation" in err
    assert "Traceback" not in err
    assert _actors(db) == []  # not even the valid first row


def test_a_known_organisation_not_holding_the_battery_is_refused(db, pack, tmp_path, capsys) -> None:
    path = _file(tmp_path, pack, ("collected", RECYCLER))
    assert run(["--db", db, "import", "events", str(path)]) == 2
    err = capsys.readouterr().err
    assert "row 1" in err and "actor_org_id" in err and "holding it" in err
    assert _actors(db) == []


def test_the_operators_migration_import_lifts_custody_but_not_registration(db, pack, tmp_path, capsys) -> None:
    path = _file(tmp_path, pack, ("collected", RECYCLER))
    capsys.readouterr()
    assert run(["--db", db, "import", "events", str(path), "--migration"]) == 0
    out = capsys.readouterr().out
    assert "1 written" in out and "migration import: 1 rows recorded without the custody and role checks" in out
    assert _actors(db) == [RECYCLER]  # recorded as the row's actor, now the battery's holder
    # Unknown organisations, and organisations outside the value chain, are refused even so.
    for actor, reason in (("GHOST-RECYCLING", "is not a registered organisation"),
                          (AUTHORITY, "only organisations of the value chain record events")):
        path = _file(tmp_path, pack, ("shipped", actor))
        assert run(["--db", db, "import", "events", str(path), "--migration"]) == 2
        err = capsys.readouterr().err
        assert "row 1" in err and "actor_org_id" in err and reason in err
    # The state machine still decides: a collected battery is repurposed only once evaluated.
    path = _file(tmp_path, pack, ("repurposed", RECYCLER))
    assert run(["--db", db, "import", "events", str(path), "--migration"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert _actors(db) == [RECYCLER]


def test_only_the_registry_operator_imports_a_migration(db, pack, tmp_path, capsys) -> None:
    path = _file(tmp_path, pack, ("collected", RECYCLER))
    assert run(["--db", db, "--as", RECYCLER, "import", "events", str(path), "--migration"]) == 2
    err = capsys.readouterr().err
    assert "--migration" in err and "registry operator" in err
    assert run(["--db", db, "--as", pack.manufacturer.id, "import", "events", str(path), "--migration"]) == 2
    assert "registry operator" in capsys.readouterr().err
    assert _actors(db) == []
