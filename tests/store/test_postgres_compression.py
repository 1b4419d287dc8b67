"""PostgreSQL keeps the registry's large text columns lz4-compressed (migration 0008)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from tests.conftest import _drop_postgres_db, _fresh_postgres_db

from circulith.demo.fleet import generate_fleet
from circulith.store.database import create_db_engine, transaction, upgrade
from circulith.store.ledger_store import append_events, verify_ledger
from circulith.store.registry import get_passport, register_passports

pytestmark = pytest.mark.postgres

COLUMNS = {("batteries", "document"), ("batteries", "dynamic_json"), ("events", "payload_json")}


@pytest.fixture
def pg_engine(postgres_server: str):
    url, name = _fresh_postgres_db(postgres_server)
    engine = create_db_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        _drop_postgres_db(postgres_server, name)


def _methods(engine) -> dict[tuple[str, str], str]:
    with transaction(engine) as s:
        rows = s.execute(text(
            "SELECT c.relname, a.attname, a.attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relname IN ('batteries', 'events') AND a.attname IN ('document', 'dynamic_json', 'payload_json')"))
        return {(r[0], r[1]): r[2] for r in rows}


def test_documents_and_payloads_are_stored_with_lz4_and_read_back_unchanged(pg_engine):
    upgrade(pg_engine)
    assert _methods(pg_engine) == dict.fromkeys(COLUMNS, "l")  # 'l': lz4 (pg_attribute.attcompression)
    fleet = generate_fleet(6, seed=11, today=dt.date(2026, 11, 1))
    with transaction(pg_engine) as s:
        register_passports(s, fleet.passports, actor_org_id="OEM-TEST")
    with transaction(pg_engine) as s:
        append_events(s, fleet.events)
    with transaction(pg_engine) as s:
        methods = set(s.execute(text("SELECT DISTINCT pg_column_compression(document) FROM batteries")).scalars())
        assert methods <= {"lz4", None} and "lz4" in methods  # None: a document short enough to stay raw
        for p in fleet.passports[:5]:
            assert get_passport(s, p.battery_id).battery_id == p.battery_id
        report = verify_ledger(s)  # hashes every stored document against its registered digest
        assert report.ok and report.events_checked == len(fleet.events) + len(fleet.passports)

