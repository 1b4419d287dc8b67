"""A realistic chain (the demo fleet's histories) passes the write policy row by row, with every role registered."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from circulith.demo.fleet import ORGANISATIONS, generate_fleet
from circulith.services.event_import import import_events
from circulith.store.database import create_db_engine, transaction, upgrade
from circulith.store.registry import ensure_organisations, register_passports


def test_demo_histories_are_all_authorised(tmp_path: Path) -> None:
    fleet = generate_fleet(30, seed=3, today=dt.date(2026, 11, 1))
    engine = create_db_engine(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(engine)
    with transaction(engine) as s:
        ensure_organisations(s, ORGANISATIONS)
        for p in fleet.passports:
            register_passports(s, [p], actor_org_id=p.manufacturer.id)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e.model_dump(mode="json", exclude={"event_id"})) + "\n" for e in fleet.events))
    kinds = {e.kind.value for e in fleet.events}
    assert {"removed", "collected", "shipped", "received", "installed"} <= kinds  # the custody hand-overs occur
    report = import_events(engine, path)
    assert report.rejected == 0 and report.written == len(fleet.events), report.problems[:3]
    engine.dispose()
