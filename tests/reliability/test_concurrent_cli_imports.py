"""Concurrent CLI imports wait or retry and say so: exit 0 or 2, never a traceback, nothing duplicated (issue 14)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import types
from pathlib import Path

import pytest
from sqlalchemy import text

from circulith.cli.main import run
from circulith.demo.fleet import ORGANISATIONS, generate_fleet
from circulith.store import database
from circulith.store.database import create_db_engine, transaction
from circulith.store.registry import ensure_organisations


@pytest.fixture(scope="module")
def fleet():
    return generate_fleet(3, seed=9, today=dt.date(2026, 11, 1))


def _registry(url: str, fleet, tmp_path: Path) -> Path:
    """Passports registered, organisations known; returns a file of one snapshot per pack."""
    assert run(["--db", url, "db", "upgrade"]) == 0
    engine = create_db_engine(url)
    with transaction(engine) as s:
        ensure_organisations(s, ORGANISATIONS)
    engine.dispose()
    passports = tmp_path / "passports.jsonl"
    passports.write_text("".join(json.dumps(p.model_dump(mode="json", exclude_none=True)) + "\n"
                                 for p in fleet.passports), encoding="utf-8")
    assert run(["--db", url, "import", "passports", str(passports)]) == 0
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    events = tmp_path / "events.jsonl"
    packs = [p for p in fleet.passports if p.level == "pack"]
    events.write_text("".join(json.dumps({"battery_id": p.battery_id, "kind": "bms_snapshot", "occurred_at": at,
                                          "actor_org_id": p.manufacturer.id, "payload": {"soh_pct": 90.0}}) + "\n"
                              for p in packs), encoding="utf-8")
    return events


def _snapshots(url: str) -> int:
    engine = create_db_engine(url)
    with engine.connect() as c:
        n = c.execute(text("SELECT count(*) FROM events WHERE kind = 'bms_snapshot' AND payload_json LIKE "
                           "'%90.0%'")).scalar_one()
    engine.dispose()
    return int(n)


def test_two_imports_at_once_both_finish_without_traceback(db_url, fleet, tmp_path, capsys) -> None:
    events = _registry(db_url, fleet, tmp_path)
    codes: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def importer() -> None:
        try:
            barrier.wait(timeout=30)
            codes.append(run(["--db", db_url, "import", "events", str(events), "--json"]))
        except BaseException as exc:  # a traceback: reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=importer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, repr(errors[0])
    assert codes == [0, 0], capsys.readouterr().err
    assert "Traceback" not in capsys.readouterr().err
    assert _snapshots(db_url) == sum(1 for p in fleet.passports if p.level == "pack")  # recorded once
    assert run(["--db", db_url, "ledger", "verify"]) == 0


def test_an_import_that_finds_the_registry_locked_retries(tmp_path, fleet, capsys, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    events = _registry(url, fleet, tmp_path)
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 100)  # the first attempt gives up quickly
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the registry's write lock
    released: list[float] = []

    def sleep(seconds: float) -> None:  # the retry's back-off: the other writer finishes meanwhile
        if not released:
            holder.execute("COMMIT")
            released.append(seconds)

    monkeypatch.setattr(database, "time", types.SimpleNamespace(sleep=sleep))
    capsys.readouterr()
    try:
        assert run(["--db", url, "import", "events", str(events)]) == 0, capsys.readouterr().err
    finally:
        holder.close()
    assert released  # it did lose the first attempt, and retried
    assert _snapshots(url) == sum(1 for p in fleet.passports if p.level == "pack")


def test_an_import_that_keeps_finding_the_registry_locked_says_so(tmp_path, fleet, capsys, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    events = _registry(url, fleet, tmp_path)
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(database, "time", types.SimpleNamespace(sleep=lambda _s: None))
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    capsys.readouterr()
    try:
        assert run(["--db", url, "import", "events", str(events)]) == 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    assert "busy with another write" in err and "nothing was written" in err and "Traceback" not in err
    assert _snapshots(url) == 0


def test_a_passport_import_that_finds_the_registry_locked_says_so(tmp_path, fleet, capsys, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    _registry(url, fleet, tmp_path)
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(database, "time", types.SimpleNamespace(sleep=lambda _s: None))
    more = tmp_path / "more.jsonl"
    more.write_text("".join(json.dumps(p.model_dump(mode="json", exclude_none=True)) + "\n"
                            for p in generate_fleet(1, seed=10, today=dt.date(2026, 11, 1)).passports), encoding="utf-8")
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    capsys.readouterr()
    try:
        assert run(["--db", url, "import", "passports", str(more)]) == 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    assert "busy with another write" in err and "nothing was written" in err and "Traceback" not in err


def test_a_read_whose_schema_check_meets_a_held_lock_says_so(tmp_path, fleet, capsys, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    _registry(url, fleet, tmp_path)
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    capsys.readouterr()
    try:
        code = run(["--db", url, "ledger", "verify"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:  # the schema check queued for the write lock: said plainly
        assert "busy with another write" in err and "nothing was written" in err
