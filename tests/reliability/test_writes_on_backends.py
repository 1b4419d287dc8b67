"""The write policy, the hand-over by shipment and receipt, and the access log's chain on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from api.conftest import Client
from api.scenario import build_scenario
from circulith.api.settings import Settings
from circulith.server import create_app
from circulith.store.access_log_store import verify_access_log
from circulith.store.database import transaction


def test_hand_over_and_log_chain_on_backend(engine) -> None:
    sc = build_scenario(engine)
    app = create_app(Settings(env="test"), engine=engine)
    kreis, recup = Client(app, "DIS-KREIS", sc.password), Client(app, "DIS-RECUP", sc.password)
    rec = Client(app, "REC-NORDMET", sc.password)
    pack = sc.custody  # collected by DIS-KREIS

    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)  # after the scenario's events

    def post(c: Client, kind: str, minute: str, **payload: str):
        at = (start + dt.timedelta(minutes=int(minute.split(":")[1]))).isoformat()
        return c.post("/api/v1/events", json={"battery_id": pack, "kind": kind, "occurred_at": at,
                                              "payload": payload})

    assert post(recup, "shipped", "00:01", to_org_id="DIS-RECUP").status_code == 403  # not the holder
    assert post(rec, "received", "00:02").status_code == 403  # nothing shipped to it yet
    r = post(kreis, "shipped", "00:03", to_org_id="REC-NORDMET", consignment_id="TRUCK-7")
    assert r.status_code == 201, r.text
    assert post(recup, "received", "00:04").status_code == 403  # not the consignee
    assert post(rec, "received", "00:05").status_code == 201
    assert post(kreis, "tested", "00:06").status_code == 403  # custody moved on
    assert post(rec, "dismantled", "00:07").status_code == 201  # a recycler holding it
    # A consignment names the set of a grant request.
    g = Client(app, "REU-SECONDVOLT", sc.password).post("/api/v1/grants", json={
        "consignment_id": "TRUCK-7", "purpose": "repurposing", "justification": "modules from truck 7"})
    assert g.status_code == 201 and g.json()["grants"][0]["battery_ids"] == [pack], g.text
    rec.get(f"/api/v1/passports/{quote(pack, safe='')}/events")
    with transaction(engine) as s:
        report = verify_access_log(s)
    assert report.ok and report.entries_checked > 0, report.findings[:3]
