"""Journeys 2 and 3 end to end through the CLI and the API (../shared/SCENARIOS.md).

Journey 2: 24 NMC622 packs shredded into an input lot and a black mass at the recycler REC-A, the black mass
shipped to the hydrometallurgy hub HUB-B, lithium carbonate and nickel, cobalt and manganese sulfate lots
recorded there; the double claims of issue 11 refused with element, kilograms and lots named, nothing written.
Journey 3: the year-end report is the same through the CLI, the API (recycler and authority) and the dashboard,
with its evidence; the hub's own report and the dashboard never show a raw error.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from circulith.api.settings import Settings
from circulith.cli.main import run as cli
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.passport.examples import example_passport
from circulith.recovery.lots import InputLot, IntermediateLot, LotItem, ProductLot
from circulith.recovery.plan import plan_lots
from circulith.server import create_app
from circulith.services.demo_users import DEMO_PASSWORD, seed_demo_users
from circulith.store.database import create_db_engine, transaction, upgrade
from circulith.store.ledger_store import append_events
from circulith.store.lot_models import PlantLot
from circulith.store.registry import ensure_organisations, register_passports

DAY = dt.date(2025, 6, 2)
PLANT, HUB = "REC-A:plant1", "HUB-B:hub"
ORGS = [{"org_id": o, "name": o, "role": r, "country": "DE"} for o, r in (
    ("OEM-X", "oem"), ("DIS-Y", "dismantler"), ("REC-A", "recycler"), ("HUB-B", "refiner"),
    ("REC-C", "recycler"), ("MSA-DE", "market_surveillance"))]


def _at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A registry with 24 packs received by REC-A, demo users, the app and the database URL."""
    path = tmp_path_factory.mktemp("journeys") / "registry.db"
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    upgrade(engine)
    passports = [example_passport(f"{i:06d}", seed=i) for i in range(1, 25)]
    with transaction(engine) as s:
        ensure_organisations(s, ORGS)
        register_passports(s, passports, actor_org_id="OEM-X")
    events = []
    for p in passports:
        b = p.battery_id
        events += [LedgerEvent(battery_id=b, kind=EventKind.PLACED_ON_MARKET, occurred_at=_at(dt.date(2023, 6, 1)),
                               actor_org_id="OEM-X"),
                   LedgerEvent(battery_id=b, kind=EventKind.INSTALLED, occurred_at=_at(dt.date(2023, 7, 1)),
                               actor_org_id="OEM-X"),
                   LedgerEvent(battery_id=b, kind=EventKind.REMOVED, occurred_at=_at(dt.date(2025, 3, 3)),
                               actor_org_id="DIS-Y"),
                   LedgerEvent(battery_id=b, kind=EventKind.COLLECTED, occurred_at=_at(dt.date(2025, 3, 4)),
                               actor_org_id="DIS-Y"),
                   LedgerEvent(battery_id=b, kind=EventKind.SHIPPED, occurred_at=_at(dt.date(2025, 5, 1)),
                               actor_org_id="DIS-Y", payload={"to_org_id": "REC-A"}),
                   LedgerEvent(battery_id=b, kind=EventKind.RECEIVED, occurred_at=_at(DAY, 8), actor_org_id="REC-A")]
    with transaction(engine) as s:
        append_events(s, events)
    seed_demo_users(engine)
    app = create_app(Settings(database_url=url, env="test"), engine=engine)
    inp = InputLot(lot_id="IN-24", plant_id=PLANT, received_on=DAY, items=[
        LotItem(battery_id=p.battery_id, chemistry="NMC622", form="pack", mass_kg=p.mass_kg) for p in passports])
    bm, *products = plan_lots(inp, produced_on=DAY + dt.timedelta(days=7))
    yield {"engine": engine, "url": url, "app": app, "input": inp, "bm": bm, "products": products,
           "batteries": sorted(p.battery_id for p in passports)}
    engine.dispose()


def _client(app: FastAPI, org: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/api/v1/auth/login", json={"email": f"{org.lower()}@demo.circulith", "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def _cli(capsys: pytest.CaptureFixture[str], url: str, *args: str, code: int = 0, org: str | None = None) -> str:
    rc = cli(["--db", url, *(["--as", org] if org else []), *args])
    out = capsys.readouterr()
    assert rc == code, out.out + out.err
    return out.out if code == 0 else out.err


def _write(path: Path, lots: list[InputLot | IntermediateLot | ProductLot]) -> Path:
    path.write_text(json.dumps([lot.to_payload() for lot in lots], default=str))
    return path


def _lots(engine: Engine) -> int:
    with transaction(engine) as s:
        return s.execute(select(func.count()).select_from(PlantLot)).scalar_one()


def test_journeys_2_and_3(world: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, engine, bm = world["url"], world["engine"], world["bm"]
    hub_products = [p.model_copy(update={"plant_id": HUB}) for p in world["products"]
                    if p.source_lot_ids == [bm.lot_id]]
    plant_products = [p for p in world["products"] if p.source_lot_ids != [bm.lot_id]]
    # --- journey 2: shredder to black mass at REC-A (CLI)
    rep = json.loads(_cli(capsys, url, "recovery", "lot", "record",
                          str(_write(tmp_path / "a.json", [world["input"], bm, *plant_products])), "--json", org="REC-A"))
    assert rep["created"] == 2 + len(plant_products)
    # another recycler's lot made from a black mass it never received: refused (API, 422), nothing written
    n = _lots(engine)
    rec_c = _client(world["app"], "REC-C")
    stolen = hub_products[0].model_copy(update={"plant_id": "REC-C:x", "lot_id": "STOLEN"})
    r = rec_c.post("/api/v1/lots", json={"lots": [stolen.to_payload() | {"produced_on": str(stolen.produced_on)}]})
    assert r.status_code == 422 and "held by 'REC-A'" in r.text and _lots(engine) == n
    # the black mass goes to the hub: shipment by REC-A (CLI), receipt by HUB-B (API)
    shipped_on = str(bm.produced_on + dt.timedelta(days=1))
    _cli(capsys, url, "recovery", "lot", "ship", bm.lot_id, "--to", "HUB-B", "--on", shipped_on, org="REC-A")
    hub = _client(world["app"], "HUB-B")
    r = hub.post(f"/api/v1/lots/{bm.lot_id}/receipt", json={"received_on": shipped_on})
    assert r.status_code == 200 and r.json()["holder"] == "HUB-B", r.text
    li = next(p for p in hub_products if p.commodity == "Li2CO3")
    salts = [p for p in hub_products if p is not li]
    r = hub.post("/api/v1/lots", json={"lots": [json.loads(json.dumps(p.to_payload(), default=str)) for p in salts]})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == len(salts) and r.json()["closed"] == []  # lithium not out yet
    # a second nickel sulfate lot from the same black mass: refused naming Ni, kg and lots; nothing written
    n = _lots(engine)
    ni = next(p for p in hub_products if p.commodity == "NiSO4.6H2O")
    err = _cli(capsys, url, "recovery", "lot", "record",
               str(_write(tmp_path / "ni2.json", [ni.model_copy(update={"lot_id": "NI-AGAIN"})])), org="HUB-B",
               code=2)
    assert "Ni:" in err and "kg" in err and ni.lot_id in err and "NI-AGAIN" in err and bm.lot_id in err
    assert _lots(engine) == n
    r = hub.post("/api/v1/lots", json={"lots": [json.loads(json.dumps(li.to_payload(), default=str))]})
    # every cathode metal out: the hub (a refiner, not the holder) may not record the terminal 'recycled';
    # the report names the holder, REC-A, which closes its input lot
    assert r.status_code == 200 and r.json()["closed"] == [], r.text
    assert r.json()["awaiting_close"] == {"REC-A": world["batteries"]}
    closed = json.loads(_cli(capsys, url, "recovery", "lot", "close", "IN-24", "--json", org="REC-A"))["closed"]
    assert sorted(closed) == world["batteries"]
    closed_in = str(dt.datetime.now(dt.UTC).year)  # the closure is recorded now
    trace = json.loads(_cli(capsys, url, "compliance", "traceability", "--year", closed_in, "--json"))
    recycled = [e for e in trace["events"] if e["kind"] == "recycled"]
    assert len(recycled) == 24 and {(e["actor_org_id"], e["article"]) for e in recycled} == {("REC-A", "Art. 15")}
    # the controller's view: black-mass yields (not 0 %), every product traced to the 24 packs, lots verified
    show = json.loads(_cli(capsys, url, "recovery", "lot", "show", bm.lot_id, "--json"))
    assert 0.5 < show["yields"]["element_yield"]["Ni"] <= 1.0
    show_in = json.loads(_cli(capsys, url, "recovery", "lot", "show", "IN-24", "--json"))
    assert show_in["plan"]["route"] == "hydro" and show_in["mass_balance"]["closes"]
    trace = json.loads(_cli(capsys, url, "recovery", "lot", "trace", ni.lot_id, "--json"))
    assert trace["battery_ids"] == world["batteries"]
    assert "intact and conserved" in _cli(capsys, url, "recovery", "lots", "verify")
    # --- journey 3: the year-end figure is the same through every door
    rec_a = _client(world["app"], "REC-A")
    year = str(DAY.year)
    cli_rep = json.loads(_cli(capsys, url, "compliance", "report", "--plant", PLANT, "--year", year, "--json",
                              org="REC-A"))
    msa = _client(world["app"], "MSA-DE")
    for c in (rec_a, msa):
        api = c.get(f"/api/v1/compliance/{PLANT}", params={"year": year})
        assert api.status_code == 200 and api.json() == cli_rep
    assert 0 < cli_rep["recycling_efficiency_pct"] <= 100
    assert all(0 < v <= 100 for v in cli_rep["material_recovery_pct"].values())
    assert {e["lot_id"] for e in cli_rep["evidence"]} >= {"IN-24", ni.lot_id} and cli_rep["battery_count"] == 24
    assert rec_c.get(f"/api/v1/compliance/{PLANT}", params={"year": year}).status_code == 404
    bats = list(csv.reader(io.StringIO(msa.get(f"/api/v1/compliance/{PLANT}/batteries.csv", params={"year": year}).text)))
    assert sorted(r[1] for r in bats[1:]) == world["batteries"]  # the battery identifiers behind the figure
    no_c = json.loads(_cli(capsys, url, "compliance", "report", "--plant", PLANT, "--year", year, "--exclude-element",
                           "C", "--no-graphite", "--json", org="MSA-DE"))
    api_no_c = msa.get(f"/api/v1/compliance/{PLANT}", params={"year": year, "exclude_element": "C", "no_graphite": True})
    assert api_no_c.json() == no_c and no_c["counting_rules"]["excluded_elements"] == ["C"]
    assert no_c["counted_input_mass_kg"] < cli_rep["counted_input_mass_kg"]
    # the OEM's new battery model gets recycled content allocated from the hub's nickel sulfate, reserved once
    ni_kg = ni.element_kg()["Ni"]
    body = {"product_lot_id": ni.lot_id, "target_kind": "batch", "target_id": "MODEL-X-2031-B1",
            "element_kg": {"Ni": round(ni_kg * 0.6, 3)}, "target_element_kg": {"Ni": 4 * ni_kg}}
    r = hub.post("/api/v1/recycled-content/allocations", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["remaining_kg"]["Ni"] == pytest.approx(ni_kg * 0.4, rel=1e-6)
    again = hub.post("/api/v1/recycled-content/allocations", json=body | {"target_id": "OTHER-OEM-B7"})
    assert again.status_code == 422 and "already allocated" in again.text  # the same kilograms twice
    assert rec_a.post("/api/v1/recycled-content/allocations", json=body).status_code == 422  # not its lot
    shares = hub.get("/api/v1/recycled-content/MODEL-X-2031-B1").json()
    assert shares["post_consumer_share"]["Ni"] == pytest.approx(0.15, rel=1e-3) and shares["pre_consumer_kg"] == {}
    assert json.loads(_cli(capsys, url, "compliance", "recycled-content-of", "MODEL-X-2031-B1", "--json")) == shares
    # ... and a new passport's share reaches its passport view: allocated beside declared, the same in both
    new = example_passport("000099", seed=99)
    with transaction(engine) as s:
        register_passports(s, [new], actor_org_id="OEM-X")
    r = hub.post("/api/v1/recycled-content/allocations", json={
        "product_lot_id": ni.lot_id, "target_kind": "passport", "target_id": new.battery_id, "element_kg": {"Ni": 1.0}})
    assert r.status_code == 200, r.text
    of = json.loads(_cli(capsys, url, "compliance", "recycled-content-of", new.battery_id, "--json"))["passport"]
    shown = json.loads(_cli(capsys, url, "--as", "OEM-X", "passport", "show", new.battery_id, "--json"))
    assert shown["recycled_content_allocated"] == of and len(of["evidence"]) == 1
    share = round(1.0 / new.materials.nickel_kg, 6)
    assert of["allocated"] == {"nickel_post_consumer_fraction": share}
    assert of["declared"] == {"nickel_post_consumer_fraction": new.recycled_content.nickel_post_consumer_fraction}
    assert of["agrees"] is False  # the manufacturer declared another figure
    public = msa.get(f"/api/v1/passports/{new.battery_id}", params={"level": "public"})
    assert public.status_code == 200, public.text
    assert public.json()["recycled_content_allocated"]["allocated"] == of["allocated"]
    assert "nickel_post_consumer_fraction 0." in _cli(capsys, url, "passport", "show", new.battery_id)
    # the text forms of the same commands print what the JSON holds
    assert "against the plan (hydro)" in _cli(capsys, url, "recovery", "lot", "show", "IN-24")
    assert "held by HUB-B" in _cli(capsys, url, "recovery", "lot", "custody", bm.lot_id)
    text = _cli(capsys, url, "compliance", "report", "--plant", PLANT, "--year", year,
                "--evidence-csv", str(tmp_path / "ev.csv"), org="REC-A")
    assert f"{cli_rep['recycling_efficiency_pct']:.1f}%" in text and "IN-24" in (tmp_path / "ev.csv").read_text()
    assert "MODEL-X-2031-B1" in _cli(capsys, url, "compliance", "recycled-content-of", "MODEL-X-2031-B1")
    assert "DIS-Y" in _cli(capsys, url, "compliance", "late", "--year", year, org="MSA-DE")
    assert "status" in _cli(capsys, url, "compliance", "traceability", "--year", year, "--limit", "3")
    # the hub received no waste batteries: its report says so (no 422)
    h = hub.get(f"/api/v1/compliance/{HUB}", params={"year": year})
    assert h.status_code == 200 and h.json()["recycling_efficiency_pct"] is None and h.json()["product_lots"] > 0
    # the dashboard shows the same figure, for the authority, without a raw error
    web = TestClient(world["app"])
    assert web.post("/login", data={"email": "msa-de@demo.circulith", "password": DEMO_PASSWORD},
                    follow_redirects=False).status_code == 303
    page = web.get("/dashboard/recovery")
    assert page.status_code == 200 and "422" not in page.text and "Traceback" not in page.text
    rows = list(csv.reader(io.StringIO(web.get("/dashboard/csv/compliance.csv").text)))
    eff = [r for r in rows[1:] if r[0] == PLANT and r[3] == "recycling_efficiency"]
    assert eff and float(eff[0][5]) == round(cli_rep["recycling_efficiency_pct"], 1)
    assert any(r[0] == HUB for r in rows[1:])
    ev = list(csv.reader(io.StringIO(web.get("/dashboard/csv/evidence.csv").text)))
    assert {r[2] for r in ev[1:] if r[0] == PLANT} == {e["lot_id"] for e in cli_rep["evidence"]}
    download = next(r[-1] for r in ev[1:] if r[0] == PLANT)
    assert web.get(download).status_code == 200 and "IN-24" in web.get(download).text  # the authority downloads it
    plan = list(csv.reader(io.StringIO(web.get("/dashboard/csv/plan.csv").text)))
    ni_row = next(r for r in plan[1:] if r[0] == "IN-24" and r[2] == "yield Ni")
    assert float(ni_row[3]) == pytest.approx(show_in["plan"]["element_yield"]["Ni"]["actual"], abs=1e-4)
    record = list(csv.reader(io.StringIO(web.get(f"/dashboard/csv/traceability_record.csv?year={year}").text)))
    assert record[0][0] == "org_id" and any(r[0] == "DIS-Y" for r in record[1:])
    assert not re.search(r"Internal Server Error", page.text)
