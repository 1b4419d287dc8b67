"""Input lots from what the registry holds (journey 2, nothing typed twice): a consignment or a grade file.

``recovery lot plan`` takes each battery's chemistry, form and mass from its passport; its file feeds
``recovery lot record`` directly; a battery the plant does not hold, or an unknown consignment, is one
clear line and exit 2.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from circulith.cli.main import run as cli
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.passport.examples import example_passport
from circulith.store.database import create_db_engine, transaction, upgrade
from circulith.store.ledger_store import append_events
from circulith.store.registry import ensure_organisations, register_passports

DAY = dt.date(2025, 6, 2)
ORGS = [{"org_id": o, "name": o, "role": r, "country": "DE"} for o, r in (
    ("OEM-X", "oem"), ("DIS-Y", "dismantler"), ("REC-A", "recycler"), ("REC-C", "recycler"))]


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("lotplan") / "r.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    passports = [example_passport(f"{i:06d}", seed=i) for i in range(1, 7)]
    with transaction(engine) as s:
        ensure_organisations(s, ORGS)
        register_passports(s, passports, actor_org_id="OEM-X")
    events = []
    for k, p in enumerate(passports):
        b, to = p.battery_id, ("REC-A" if k < 5 else "REC-C")
        events += [LedgerEvent(battery_id=b, kind=EventKind.PLACED_ON_MARKET, occurred_at=_at(dt.date(2023, 6, 1)),
                               actor_org_id="OEM-X"),
                   LedgerEvent(battery_id=b, kind=EventKind.INSTALLED, occurred_at=_at(dt.date(2023, 7, 1)),
                               actor_org_id="OEM-X"),
                   LedgerEvent(battery_id=b, kind=EventKind.REMOVED, occurred_at=_at(dt.date(2025, 3, 3)),
                               actor_org_id="DIS-Y"),
                   LedgerEvent(battery_id=b, kind=EventKind.COLLECTED, occurred_at=_at(dt.date(2025, 3, 4)),
                               actor_org_id="DIS-Y"),
                   LedgerEvent(battery_id=b, kind=EventKind.SHIPPED, occurred_at=_at(dt.date(2025, 5, 1)),
                               actor_org_id="DIS-Y", payload={"to_org_id": to}),
                   LedgerEvent(battery_id=b, kind=EventKind.RECEIVED, occurred_at=_at(DAY), actor_org_id=to,
                               payload={"consignment_id": "TRUCK-1" if to == "REC-A" else "TRUCK-2"})]
    with transaction(engine) as s:
        append_events(s, events)
    engine.dispose()
    return {"url": f"sqlite:///{path}", "passports": passports}


def _cli(capsys: pytest.CaptureFixture[str], url: str, *args: str, code: int = 0) -> str:
    rc = cli(["--db", url, *args])
    out = capsys.readouterr()
    assert rc == code, out.out + out.err
    return out.out if code == 0 else out.err


def test_a_consignment_becomes_a_recorded_lot(world: dict[str, Any], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url, f = world["url"], tmp_path / "lots.json"
    draft = json.loads(_cli(capsys, url, "--as", "REC-A", "recovery", "lot", "plan", "--lot-id", "IN-T1",
                            "--consignment", "TRUCK-1", "--plant", "REC-A:plant1", "--on", str(DAY), "--with-plan",
                            "--out", str(f), "--json"))
    mine = {p.battery_id: p for p in world["passports"][:5]}
    items = draft["input_lot"]["items"]
    assert sorted(i["battery_id"] for i in items) == sorted(mine)
    assert all(i["chemistry"] == mine[i["battery_id"]].chemistry and i["mass_kg"] == mine[i["battery_id"]].mass_kg
               and i["form"] == "pack" for i in items)
    payloads = json.loads(f.read_text())
    assert payloads[0]["lot_id"] == "IN-T1" and len(payloads) == 1 + len(draft["planned"]) > 2
    rep = json.loads(_cli(capsys, url, "--as", "REC-A", "recovery", "lot", "record", str(f), "--json"))
    assert rep["created"] == len(payloads)
    show = json.loads(_cli(capsys, url, "--as", "REC-A", "recovery", "lot", "show", "IN-T1", "--json"))
    assert show["mass_balance"]["closes"]


def test_a_grade_file_gives_the_units_graded_for_recycling(world: dict[str, Any], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    p6 = world["passports"][5]  # held by REC-C
    other = world["passports"][0]
    grades = tmp_path / "grades.json"
    grades.write_text(json.dumps({"units": [
        {"battery_id": p6.battery_id, "level": "pack", "grade": "recycle"},
        {"battery_id": other.battery_id, "level": "pack", "grade": "reuse"}]}))
    out = _cli(capsys, world["url"], "--as", "REC-C", "recovery", "lot", "plan", "--lot-id", "IN-C1",
               "--from-grades", str(grades), "--on", str(DAY))
    assert "1 batteries" in out and "graded reuse" in out and "from grade file" in out
    # a unit the plant does not hold: one line, naming the row and the holder; exit 2
    err = _cli(capsys, world["url"], "--as", "REC-C", "recovery", "lot", "plan", "--lot-id", "IN-C2",
               "--from-grades", str(grades), "--all-grades", "--on", str(DAY), code=2)
    assert "row 2" in err and "held by" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    err = _cli(capsys, world["url"], "--as", "REC-C", "recovery", "lot", "plan", "--lot-id", "IN-C3",
               "--consignment", "NO-SUCH-TRUCK", code=2)
    assert "NO-SUCH-TRUCK" in err


def test_the_api_drafts_the_same_lot(world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from fastapi.testclient import TestClient

    from circulith.api.settings import Settings
    from circulith.server import create_app
    from circulith.services.demo_users import DEMO_PASSWORD, demo_email, seed_demo_users

    engine = create_db_engine(world["url"])
    seed_demo_users(engine)
    c = TestClient(create_app(Settings(database_url=world["url"], env="test"), engine=engine))
    r = c.post("/api/v1/auth/login", json={"email": demo_email("REC-C"), "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    body = {"lot_id": "IN-API", "plant_id": "REC-C:plant1", "received_on": str(DAY), "consignment_id": "TRUCK-2"}
    api = c.post("/api/v1/lots/input-drafts", json=body)
    assert api.status_code == 200, api.text
    cli_draft = json.loads(_cli(capsys, world["url"], "--as", "REC-C", "recovery", "lot", "plan", "--lot-id", "IN-API",
                                "--consignment", "TRUCK-2", "--plant", "REC-C:plant1", "--on", str(DAY), "--json"))
    assert api.json() == cli_draft and [i["battery_id"] for i in cli_draft["input_lot"]["items"]] == [
        world["passports"][5].battery_id]
    r = c.post("/api/v1/lots/input-drafts", json=body | {"consignment_id": "TRUCK-1"})  # REC-A's truck
    assert r.status_code == 422 and "consignment TRUCK-1" in r.text
    engine.dispose()


def _chain(b: str, to: str, truck: str) -> list[LedgerEvent]:
    return [LedgerEvent(battery_id=b, kind=k, occurred_at=_at(d), actor_org_id=a, payload=p) for k, d, a, p in (
        (EventKind.PLACED_ON_MARKET, dt.date(2023, 6, 1), "OEM-X", {}),
        (EventKind.INSTALLED, dt.date(2023, 7, 1), "OEM-X", {}),
        (EventKind.REMOVED, dt.date(2025, 3, 3), "DIS-Y", {}),
        (EventKind.COLLECTED, dt.date(2025, 3, 4), "DIS-Y", {}),
        (EventKind.SHIPPED, dt.date(2025, 5, 1), "DIS-Y", {"to_org_id": to}),
        (EventKind.RECEIVED, DAY, to, {"consignment_id": truck}))]


def test_modules_that_left_a_pack_are_not_counted_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Pack P1 kept one of its two modules (the other left, repurposed): P1 is planned with its mass less the
    departed module's; pack P2's modules all left it: no cells remain, so it is left out (refused by name)."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    p1, p2 = example_passport("000301", seed=301), example_passport("000302", seed=302)
    mod_kg = round(p1.mass_kg * 0.46, 1)

    def module(n: int, parent: str, **kw: Any) -> Any:
        return example_passport(f"{n:06d}", seed=n, level="module", parent_battery_id=parent, mass_kg=mod_kg, **kw)

    m1a, m1b = module(311, p1.battery_id, status="repurposed"), module(312, p1.battery_id)
    mods2 = [module(321, p2.battery_id), module(322, p2.battery_id)]
    with transaction(engine) as s:
        ensure_organisations(s, ORGS)
        register_passports(s, [p1, p2, m1a, m1b, *mods2], actor_org_id="OEM-X")
    with transaction(engine) as s:
        append_events(s, [e for b in (p1, p2, m1b) for e in _chain(b.battery_id, "REC-A", "TRUCK-9")])
    engine.dispose()
    draft = json.loads(_cli(capsys, url, "--as", "REC-A", "recovery", "lot", "plan", "--lot-id", "IN-M",
                            "--consignment", "TRUCK-9", "--on", str(DAY), "--json"))
    items = {i["battery_id"]: i["mass_kg"] for i in draft["input_lot"]["items"]}
    assert items == {p1.battery_id: pytest.approx(p1.mass_kg - mod_kg)}
    reasons = {u["battery_id"]: u["reason"] for u in draft["left_out"]}
    assert reasons == {m1b.battery_id: "module of a pack taken whole", p2.battery_id: "pack whose modules all left it"}
    assert len(draft["notes"]) == 1 and p1.battery_id in draft["notes"][0]
    out = _cli(capsys, url, "--as", "REC-A", "recovery", "lot", "plan", "--lot-id", "IN-M", "--consignment",
               "TRUCK-9", "--on", str(DAY))
    assert "left out: 1 pack whose modules all left it" in out and p2.battery_id not in out.split("left out")[1]
    err = _cli(capsys, url, "--as", "REC-A", "recovery", "lot", "plan", "--lot-id", "IN-M2", "--battery",
               p2.battery_id, code=2)
    assert "all its 2 modules left it" in err and len(err.strip().splitlines()) == 1


def test_with_a_refiner_the_black_mass_lot_can_ship(world: dict[str, Any], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """README journey: plan, record, then ``lot ship BM --to HUB`` and ``lot receive`` at the hub."""
    url, f = world["url"], tmp_path / "lots.json"
    draft = json.loads(_cli(capsys, url, "--as", "REC-C", "recovery", "lot", "plan", "--lot-id", "IN-R1",
                            "--consignment", "TRUCK-2", "--on", str(DAY), "--with-plan", "--refiner", "REC-A",
                            "--out", str(f), "--json"))
    ids = [p["lot_id"] for p in draft["planned"]]
    assert "IN-R1-BM" in ids and draft["at_refiner"]
    assert all(p["source_lot_ids"] == ["IN-R1-BM"] and p["plant_id"] == "REC-A" for p in draft["at_refiner"])
    assert all(p["source_lot_ids"] != ["IN-R1-BM"] for p in draft["planned"])
    err = _cli(capsys, url, "--as", "REC-C", "recovery", "lot", "plan", "--lot-id", "IN-R2", "--consignment",
               "TRUCK-2", "--with-plan", "--refiner", "NOBODY", code=2)
    assert "NOBODY" in err
    _cli(capsys, url, "--as", "REC-C", "recovery", "lot", "record", str(f), "--json")
    _cli(capsys, url, "--as", "REC-C", "recovery", "lot", "ship", "IN-R1-BM", "--to", "REC-A", "--on", str(DAY))
    _cli(capsys, url, "--as", "REC-A", "recovery", "lot", "receive", "IN-R1-BM", "--on", str(DAY))
