"""Journeys 2 and 3 of SCENARIOS.md end to end on a small demo fleet, through the CLI.

2. From shredder to salts: collected packs held by a recycler → input lot → black mass with assay → hydro
   product lots; the lot's yields, energy, emissions and water; the mass balance closes; every product lot
   traces back to the battery IDs; ``ledger verify`` and ``recovery lots verify`` stay intact.
3. Year-end compliance: the plant-year report against the EU targets with the counting rules, recycled-content
   shares for new batteries, and the China-bound traceability report with deadlines.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from circulith.cli import compliance_commands, recovery_commands
from circulith.cli.common import state
from circulith.demo.fleet import RECYCLERS
from circulith.recovery.lots import InputLot, LotItem
from circulith.services.demo import build_demo
from circulith.services.recovery import plan_lots
from circulith.services.registry import verify
from circulith.store.database import transaction
from circulith.store.models import Battery

TODAY = dt.date.today()


@pytest.fixture
def cli(sqlite_engine):
    build_demo(sqlite_engine, 150, seed=11)
    app = typer.Typer()
    app.add_typer(recovery_commands.app, name="recovery")
    app.add_typer(compliance_commands.app, name="compliance")
    old = state.db_url, state.acting_org
    state.db_url, state.acting_org = sqlite_engine.url.render_as_string(hide_password=False), None
    runner = CliRunner()

    def run(*args: str) -> dict:
        res = runner.invoke(app, [*args, "--json"])
        assert res.exit_code == 0, res.output + repr(res.exception)
        return json.loads(res.stdout)

    yield sqlite_engine, run, runner, app
    state.db_url, state.acting_org = old


def _recycler_packs(engine) -> tuple[str, list]:
    with transaction(engine) as s:
        rows = s.execute(select(Battery.battery_id, Battery.chemistry, Battery.mass_kg, Battery.custodian_org_id)
                         .where(Battery.level == "pack", Battery.custodian_org_id.in_(RECYCLERS),
                                Battery.lifecycle_state.in_(["collected", "evaluated"]))
                         .order_by(Battery.battery_id)).all()
    by_org: dict[str, list] = {}
    for r in rows:
        by_org.setdefault(r[3], []).append(r)
    org = max(by_org, key=lambda o: len(by_org[o]))
    return org, by_org[org]


def test_journeys_2_and_3(cli, tmp_path):
    engine, run, runner, app = cli
    org, packs = _recycler_packs(engine)
    assert len(packs) >= 3, "the demo fleet should deliver packs to the recyclers"
    plant = f"{org}:plant"
    inp = InputLot(lot_id="J2-IN", plant_id=plant, received_on=TODAY, items=[
        LotItem(battery_id=b, chemistry=c, form="pack", mass_kg=m) for b, c, m, _ in packs])
    planned = plan_lots(inp)  # black mass with the engine's assay, hydro salts, foils, graphite
    path = tmp_path / "lots.jsonl"
    path.write_text("\n".join(json.dumps(lot.to_payload()) for lot in [inp, *planned]), encoding="utf-8")

    # Journey 2: record, all in one go, as the plant's organisation (``circulith --as ORG``).
    state.acting_org = org
    rec = run("recovery", "lot", "record", str(path))
    assert rec["created"] == 1 + len(planned) and rec["unchanged"] == 0
    ids = sorted(b for b, *_ in packs)
    has_cathode_metal_salts = all(c != "LFP" for _, c, *_ in packs)
    if has_cathode_metal_salts:
        assert rec["closed"] == ids
    again = run("recovery", "lot", "record", str(path))
    assert again["created"] == 0 and again["events_written"] == 0

    li = next(lot for lot in planned if getattr(lot, "commodity", None) == "Li2CO3")
    trace = run("recovery", "lot", "trace", li.lot_id)
    assert trace["battery_ids"] == ids
    assert [p["lot_id"] for p in trace["path"]] == sorted([li.lot_id, "J2-IN", "J2-IN-BM"])

    shown = run("recovery", "lot", "show", "J2-IN")
    assert shown["mass_balance"]["closes"]
    assert shown["yields"]["energy_mj"] > 0 and shown["yields"]["water_m3"] > 0 and shown["yields"]["ghg_kg_co2e"] > 0
    assert 0.5 < shown["yields"]["element_yield"]["Li"] <= 1.0
    bm = run("recovery", "lot", "show", "J2-IN-BM")
    assert bm["lot"]["assay"] and bm["made_into"]

    assert run("recovery", "lots", "verify")["ok"]
    assert verify(engine).ok

    # Journey 3: the plant's year, with the counting rules stated.
    rep = run("compliance", "report", "--plant", plant, "--year", str(TODAY.year))
    assert rep["counting_rules"]["include_dismantled_components"] is True
    assert 40 < rep["recycling_efficiency_pct"] < 100
    assert {"Li", "Cu"} <= set(rep["material_recovery_pct"])
    assert any(c["metric"] == "recycling_efficiency" for c in rep["checks"])
    assert all(c["source"] for c in rep["checks"])
    text = runner.invoke(app, ["compliance", "report", "--plant", plant, "--year", str(TODAY.year)])
    assert text.exit_code == 0 and "counting rules" in text.stdout

    salts = [lot.lot_id for lot in planned if getattr(lot, "commodity", None) in ("Li2CO3", "NiSO4.6H2O",
                                                                                  "CoSO4.7H2O")]
    new = tmp_path / "new.json"
    new.write_text(json.dumps([{"battery_id": "NEW-1", "co_kg": 5.0, "li_kg": 6.0, "ni_kg": 30.0},
                               {"battery_id": "NEW-2", "co_kg": 5.0, "li_kg": 6.0, "ni_kg": 30.0}]))
    rc = run("compliance", "recycled-content", "--lots", ",".join(salts), "--new-batteries", str(new),
             "--primary", "Co=500,Li=500,Ni=2000", "--year", "2031")
    assert [s["battery_id"] for s in rc["shares"]] == ["NEW-1", "NEW-2"]
    r = rc["recycled_kg"]
    assert rc["shares"][0]["li_share"] == pytest.approx(r["Li"] / (r["Li"] + 500))
    assert "nothing is reserved" in rc["note"] and "compliance allocate" in rc["note"]  # allocations are recorded facts

    tr = run("compliance", "traceability", "--year", str(TODAY.year))
    assert "2018" in tr["source"] and "working days" in tr["deadline_rule"]
    recycled = [e for e in tr["events"] if e["kind"] == "recycled"]
    if has_cathode_metal_salts:
        assert {e["battery_id"] for e in recycled} == set(ids)
        assert all(e["article"] == "Art. 15" and e["working_days"] == 30 for e in recycled)

    bad = runner.invoke(app, ["compliance", "report", "--plant", "nowhere", "--year", "2020"])
    assert bad.exit_code != 0
