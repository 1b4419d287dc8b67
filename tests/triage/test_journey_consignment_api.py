"""Journey 1 through the API: receive a 40-pack consignment, grade it, read module passports, regroup, sell once."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from circulith.api.settings import Settings
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.server import create_app
from circulith.services import demo_users as svc
from circulith.services.demo import build_demo
from circulith.store.database import create_db_engine, transaction
from circulith.store.ledger_store import append_events
from circulith.store.models import Battery

RECEIVER = "REC-NORDMET"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    path = tmp_path_factory.mktemp("j1api") / "r.db"
    engine = create_db_engine(f"sqlite:///{path}")
    build_demo(engine, 450, seed=21, today=dt.date(2026, 11, 1))
    svc.seed_demo_users(engine)
    with transaction(engine) as s:
        held = list(s.execute(select(Battery.battery_id, Battery.custodian_org_id).where(
            Battery.level == "pack", Battery.lifecycle_state.in_(["collected", "removed", "evaluated"]),
            Battery.custodian_org_id != RECEIVER).order_by(Battery.battery_id).limit(40)))
    truck = [b for b, _ in held]
    with transaction(engine) as s:  # a pack at another recycler's intake comes only once that recycler ships it
        append_events(s, [LedgerEvent(battery_id=b, kind=EventKind.SHIPPED, occurred_at=dt.datetime.now(dt.UTC),
                                      actor_org_id=holder, payload={"to_org_id": RECEIVER})
                          for b, holder in held if holder.startswith("REC-")])
    app = create_app(Settings(database_url=f"sqlite:///{path}", env="test"), engine=engine)
    http = TestClient(app)
    r = http.post("/api/v1/auth/login", json={"email": svc.demo_email(RECEIVER), "password": svc.DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    yield http, {"X-CSRF-Token": r.json()["csrf_token"]}, truck
    engine.dispose()


def test_truck_through_the_api(api):
    http, csrf, truck = api
    assert len(truck) == 40
    r = http.post("/api/v1/consignments", json={"identifiers": truck[:39], "expected_count": 40}, headers=csrf)
    assert r.status_code == 422 and "1 missing" in r.text
    r = http.post("/api/v1/consignments", json={"identifiers": truck, "expected_count": 40}, headers=csrf)
    assert r.status_code == 200, r.text
    intake = r.json()
    assert len(intake["received"]) == 40 and intake["receiver_org_id"] == RECEIVER

    r = http.post("/api/v1/triage/grade", json={"consignment_id": intake["consignment_id"]}, headers=csrf)
    assert r.status_code == 200, r.text
    graded = r.json()
    assert graded["graded_packs"] == 40 and graded["recorded"] and graded["scope"] == RECEIVER
    pack = next(p for p in graded["packs"] if p["grade"] == "repurpose" and p["decided_by"] == "P3-uniform")
    events = http.get(f"/api/v1/passports/{quote(pack['battery_id'], safe='')}/events").json()["events"]
    modules = events[-1]["payload"]["modules"]
    assert modules, "the pack's graded event lists its modules"
    units = []
    for m in modules:
        view = http.get(f"/api/v1/passports/{quote(m['battery_id'], safe='')}").json()
        assert view["audience"] == "legitimate"
        assert view["passport"]["dynamic"]["soh_pct"]["value"] == m["soh_pct"]  # what was measured
        assert view["state"]["lifecycle_state"] == "evaluated" and view["state"]["custodian_org_id"] == RECEIVER
        units.append({"battery_id": m["battery_id"], "grade": m["grade"], "soh_pct": m["soh_pct"]})

    fit = [u for u in units if u["grade"] in ("reuse", "repurpose")]
    assert len(fit) >= 2
    body = {"units": fit, "units_per_group": 2, "record": True}
    r = http.post("/api/v1/triage/regroup", json=body, headers=csrf)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["recorded"] and res["groups"] and all(g["modules"] == 2 for g in res["groups"])
    succ = res["groups"][0]["successor_battery_id"]
    lineage = http.get(f"/api/v1/passports/{quote(succ, safe='')}/lineage").json()
    assert {c["battery_id"] for c in lineage["children"]} == set(res["groups"][0]["module_successor_ids"])
    # A second sale of the same modules is refused.
    again = http.post("/api/v1/triage/regroup", json=body, headers=csrf)
    assert again.status_code == 422 and "already repurposed" in again.text
