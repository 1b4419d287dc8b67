"""The demo registry carries journeys 2 and 3: its recyclers close what they shredded, so the China-bound
report lists the Art. 15 'recycled' events, by the recycler holding each pack, never by the refiner."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from circulith.auth.policy import ALL_SCOPES, Principal, Role
from circulith.demo.fleet import RECYCLERS, REFINER
from circulith.services.demo import build_demo, main_job
from circulith.services.traceability import traceability_report
from circulith.store.database import create_db_engine, transaction
from circulith.store.lot_repo import battery_states

DAY = dt.date(2026, 6, 1)


def test_demo_recycling_is_recorded_by_the_recyclers(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    build_demo(engine, 300, today=DAY)
    job = main_job(engine, as_of=DAY, recycle=True)
    rec = job["recycling"]
    assert rec["packs_shredded"] > 0 and rec["packs_recycled"] == rec["packs_shredded"] and rec["product_lots"] > 0
    operator = Principal(org_id="ORG-REGISTRY", role=Role.OPERATOR, scopes=ALL_SCOPES, via="cli")
    year = dt.datetime.now(dt.UTC).year  # closures are recorded at the time of the run
    with transaction(engine) as s:
        report = traceability_report(s, operator, year, limit=10_000)
        recycled = [e for e in report.events if e.kind == "recycled"]
        states = battery_states(s, [e.battery_id for e in recycled])
    assert len(recycled) == rec["packs_recycled"]
    assert {e.actor_org_id for e in recycled} <= set(RECYCLERS) and all(e.article == "Art. 15" for e in recycled)
    assert all(e.actor_org_id != REFINER for e in report.events)
    assert {st for st, _ in states.values()} == {"recycled"}
    # a second run records nothing new (the input lots are already recorded)
    again = main_job(engine, as_of=DAY, recycle=True)["recycling"]
    assert again["input_lots"] == [] and again["packs_recycled"] == 0
    engine.dispose()
