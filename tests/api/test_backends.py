"""The access layer's SQL on both backends (SQLite and PostgreSQL): scoped search, fleet counts, grants, log."""

from __future__ import annotations

from fastapi.testclient import TestClient

from circulith.api.settings import Settings
from circulith.server import create_app

from .conftest import Client
from .scenario import build_scenario


def test_access_layer_on_backend(engine) -> None:
    sc = build_scenario(engine)
    app = create_app(Settings(env="test"), engine=engine)
    dis, op = Client(app, "DIS-KREIS", sc.password), Client(app, "ORG-REGISTRY", sc.password)
    ids = {i["battery_id"] for i in dis.get("/api/v1/passports", params={"lifecycle_state": "collected"}).json()["items"]}
    assert sc.custody in ids
    fleet = dis.get("/api/v1/fleet/summary").json()
    assert fleet["by_lifecycle_state"].get("collected", 0) >= 1
    assert sum(op.get("/api/v1/fleet/summary").json()["by_production_year"].values()) == 12
    g = Client(app, "REF-SALTWORKS", sc.password).post(
        "/api/v1/grants", json={"battery_id": sc.recycled, "purpose": "recycling", "justification": "refining assay"})
    assert g.status_code == 201
    assert op.post(f"/api/v1/grants/{g.json()['grants'][0]['grant_id']}/decision", json={"decision": "approve"}).status_code == 200
    ref = Client(app, "REF-SALTWORKS", sc.password)
    assert ref.get(f"/api/v1/passports/{sc.recycled}").json()["ground"] == "grant"
    assert ref.get("/api/v1/fleet/summary").json()["batteries"] == 1
    log = op.get("/api/v1/access-log", params={"org_id": "REF-SALTWORKS"}).json()["items"]
    assert log and log[0]["battery_id"] == sc.recycled
    page = op.get("/api/v1/passports", params={"limit": 5}).json()
    nxt = op.get("/api/v1/passports", params={"limit": 5, "cursor": page["next_cursor"]}).json()
    assert not {i["battery_id"] for i in page["items"]} & {i["battery_id"] for i in nxt["items"]}
    assert TestClient(app).get(f"/p/{sc.recycled}").status_code == 200
