"""Journey 1 end to end through the CLI: a 40-pack truck is received, graded in the registry, regrouped.

Nothing is typed twice: the dismantler's Excel list is received as a consignment, the consignment is
graded (recorded on every pack and module passport), the grade JSON feeds ``triage regroup``, whose
groups become successor passports; a second sale of the same modules is refused.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from circulith.cli.main import run
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.services.demo import build_demo
from circulith.services.registry import history, passport_document, verify
from circulith.store.database import create_db_engine, transaction
from circulith.store.ledger_store import append_events
from circulith.store.models import Battery

RECEIVER = "REC-NORDMET"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    path = tmp_path_factory.mktemp("j1") / "truck.db"
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    build_demo(engine, 450, seed=21, today=dt.date(2026, 11, 1))
    with transaction(engine) as s:
        held = list(s.execute(select(Battery.battery_id, Battery.custodian_org_id).where(
            Battery.level == "pack", Battery.lifecycle_state.in_(["collected", "removed", "evaluated"]),
            Battery.custodian_org_id != RECEIVER).order_by(Battery.battery_id)))
    assert len(held) >= 40, "the demo registry should hold 40 retired packs away from the receiver"
    # packs at another recycler's intake come only once that recycler has shipped them to the receiver
    shipped = [LedgerEvent(battery_id=b, kind=EventKind.SHIPPED, occurred_at=dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC),
                           actor_org_id=holder, payload={"to_org_id": RECEIVER})
               for b, holder in held[:40] if holder.startswith("REC-")]
    with transaction(engine) as s:
        append_events(s, shipped)
    return url, engine, [b for b, _ in held[:40]]


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_truck_received_graded_regrouped_and_not_sold_twice(registry, tmp_path, capsys):
    url, engine, truck = registry
    head = verify(engine).head_global_seq
    # A list cut short is refused with the difference named; nothing is written.
    short = tmp_path / "short.txt"
    short.write_text("\n".join(truck[:39]) + "\n", encoding="utf-8")
    assert run(["--db", url, "receive", "--from", str(short), "--org", RECEIVER, "--expected", "40"]) == 2
    assert "1 missing" in capsys.readouterr().err
    assert verify(engine).head_global_seq == head

    wb = Workbook()
    ws = wb.active
    ws.append(["Identifier", "Note"])
    for bid in truck:
        ws.append([bid, "from its holder"])
    xlsx = tmp_path / "truck.xlsx"
    wb.save(xlsx)
    assert run(["--db", url, "receive", "--from", str(xlsx), "--org", RECEIVER, "--expected", "40",
                "--json"]) == 0
    intake = _json(capsys)
    assert len(intake["received"]) == 40 and intake["components_received"] > 0
    cons = intake["consignment_id"]
    for bid in intake["quarantined"]:
        _, state = passport_document(engine, bid)
        assert state["lifecycle_state"] == "quarantined"

    grades = tmp_path / "grades.json"
    assert run(["--db", url, "--as", RECEIVER, "triage", "grade", "--consignment", cons, "--out", str(grades),
                "--json"]) == 0
    graded = _json(capsys)
    assert graded["graded_packs"] == 40 and graded["recorded"] is True
    modules = [u for u in graded["units"] if u["level"] == "module"]
    assert graded["graded_units"] == 40 + len(modules) and modules
    # Every module passport shows what was measured and decided, held by the receiver.
    for u in modules[:25]:
        passport, state = passport_document(engine, u["battery_id"])
        assert passport.dynamic.soh_pct.value == round(u["soh_pct"], 2)
        assert state["custodian_org_id"] == RECEIVER
        assert state["lifecycle_state"] in ("evaluated", "quarantined")
        assert [e["kind"] for e in history(engine, u["battery_id"])][-2:] == ["tested", "graded"]
    # One consistent decision per unit: a quarantined pack is never graded as a whole.
    for p in graded["packs"]:
        if p["grade"] == "quarantine":
            assert p["decided_by"] in ("P1-own-quarantine", "P2-child-quarantine", "U-own-rules")
            assert "as a whole" not in p["decision"]
            kids = [u for u in modules if u["parent_battery_id"] == p["battery_id"]]
            assert all(k["grade"] == "quarantine" for k in kids)

    fit = [u for u in modules if u["grade"] in ("reuse", "repurpose")]
    assert len(fit) >= 4, "some modules of the truck should be fit for a second life"
    assert run(["--db", url, "--as", RECEIVER, "triage", "regroup", str(grades), "--record", "--json"]) == 0
    res = _json(capsys)
    assert res["recorded"] and res["groups"]
    dod = 0.8  # stationary_storage depth_of_discharge (grading_rules_v1.toml)
    for g in res["groups"]:
        assert g["modules"] == 4 and len(g["battery_ids"]) == 4
        volts = [passport_document(engine, b)[0].nominal_voltage_v for b in g["battery_ids"]]
        assert g["nominal_voltage_v"] == pytest.approx(sum(volts))
        assert g["usable_energy_kwh"] == pytest.approx(g["min_capacity_ah"] * sum(volts) * dod / 1000, abs=1e-3)
    used = {b for g in res["groups"] for b in g["battery_ids"]}
    assert used <= {u["battery_id"] for u in fit}  # only modules graded fit are grouped
    assert len(used) + len(res["leftovers"]) == len(modules)  # the rest reported as leftovers
    assert res["passports_registered"] == sum(1 + g["modules"] for g in res["groups"])
    g = res["groups"][0]
    pack, pack_state = passport_document(engine, g["successor_battery_id"])
    assert pack.status == "repurposed" and pack.category == "stationary" and pack.level == "pack"
    assert pack.nominal_voltage_v == pytest.approx(g["nominal_voltage_v"])
    for orig, succ in zip(g["battery_ids"], g["module_successor_ids"], strict=True):
        old, old_state = passport_document(engine, orig)
        new, _ = passport_document(engine, succ)
        assert new.predecessor_passport_id == old.passport_id and new.parent_battery_id == pack.battery_id
        assert old.status == "repurposed" and old_state["lifecycle_state"] == "second_life"
    # A second sale of the same modules is refused, and so is receiving or shredding them as if free.
    assert run(["--db", url, "--as", RECEIVER, "triage", "regroup", str(grades), "--record"]) == 2
    assert "already repurposed" in capsys.readouterr().err
    assert run(["--db", url, "passport", "successor", g["battery_ids"][0], "--status", "repurposed", "--new-id",
                "urn:uuid:7d2e1c74-5a9f-4e3a-9c79-2e8f4d3f0a33", "--operator", RECEIVER]) == 2
    capsys.readouterr()
    assert run(["--db", url, "receive", g["battery_ids"][0], "--org", "REC-HYDROLUX"]) == 2
    assert "second life" in capsys.readouterr().err
    assert verify(engine).ok


def test_grade_csv_feeds_regroup_and_bad_lists_are_one_line_errors(registry, tmp_path, capsys):
    url, engine, truck = registry
    bad = tmp_path / "bad.csv"
    bad.write_text("identifier\n" + truck[0] + "\nNOT-A-CODE\n", encoding="utf-8")
    assert run(["--db", url, "receive", "--from", str(bad), "--org", "REC-HYDROLUX"]) == 2
    err = capsys.readouterr().err
    assert "row 2" in err and "identifier" in err and "Traceback" not in err
    export = tmp_path / "bms.csv"
    assert run(["--db", url, "triage", "export-bms", "--id", truck[0], "--out", str(export)]) == 0
    capsys.readouterr()
    assert run(["--db", url, "triage", "grade", str(export), "--json"]) == 0
    out = _json(capsys)
    assert out["recorded"] is False and out["units"][0]["battery_id"] == truck[0]
    assert {"chemistry", "mass_kg", "identifier", "form"} <= set(out["units"][0])
    # The grade CSV (one schema with the JSON) feeds regroup directly.
    csv_out = tmp_path / "grades.csv"
    ids = [a for b in truck for a in ("--id", b)]
    assert run(["--db", url, "triage", "grade", *ids, "--dry-run", "--out", str(csv_out), "--json"]) == 0
    capsys.readouterr()
    header = csv_out.read_text(encoding="utf-8").splitlines()[0].split(",")
    from circulith.services.triage import GRADE_COLUMNS

    assert header == list(GRADE_COLUMNS)
    code = run(["--db", url, "triage", "regroup", str(csv_out), "--units-per-group", "2", "--json"])
    assert code == 0, capsys.readouterr().err
    res = _json(capsys)
    assert res["recorded"] is False and all(len(g["battery_ids"]) == 2 for g in res["groups"])


def test_offer_deducts_handling_warns_on_stale_prices_and_refuses_implausible_figures(registry, tmp_path, capsys):
    url, engine, truck = registry
    thermal = truck[0]
    # The dismantler's record of a thermal event; the first recycler ships two packs on to a second one.
    before = dt.datetime.now(dt.UTC)
    with transaction(engine) as s:
        append_events(s, [LedgerEvent(battery_id=thermal, kind=EventKind.BMS_SNAPSHOT, occurred_at=before,
                                      actor_org_id="DIS-KREIS", payload={"accident": {"kind": "thermal"}}),
                          *[LedgerEvent(battery_id=b, kind=EventKind.SHIPPED, occurred_at=before, actor_org_id=RECEIVER,
                                        payload={"to_org_id": "REC-HYDROLUX"}) for b in (thermal, truck[1])]])
    assert run(["--db", url, "receive", thermal, truck[1], "--org", "REC-HYDROLUX", "--json"]) == 0
    intake = _json(capsys)
    assert thermal in intake["quarantined"] and "SP 376" in intake["handling"][thermal]
    rows = tmp_path / "offer.csv"
    passport = passport_document(engine, thermal)[0]
    rows.write_text(f"battery_id,grade\n{thermal},quarantine\n{truck[1]},recycle\n", encoding="utf-8")
    assert run(["--db", url, "--as", "REC-HYDROLUX", "triage", "offer", str(rows), "--as-of", "2026-11-01",
                "--json"]) == 0
    out = _json(capsys)
    newest = dt.date.fromisoformat(out["newest_price_date"])
    if (dt.date(2026, 11, 1) - newest).days > 90:  # default age limit of offer_checks.toml
        assert out["warnings"] and "days before 2026-11-01" in out["warnings"][0]
    line = {x["battery_id"]: x for x in out["lines"]}
    hot = line[thermal]
    assert hot["damage_state"] == "critical" and hot["handling"]
    from circulith.recovery.handling_costs import load_handling_costs

    costs = load_handling_costs()
    crit = costs[costs["damage_state"] == "critical"]
    expected = sum(round(r.cost * (passport.mass_kg if r.basis == "per_kg" else 1.0), 2) for r in crit.itertuples())
    assert hot["handling_usd"] == pytest.approx(expected, abs=0.02)
    assert hot["offer_usd"] == pytest.approx(hot["revenue_usd"] - hot["processing_cost_usd"] - hot["logistics_usd"]
                                             - hot["margin_usd"] - hot["handling_usd"], abs=0.02)
    # A 10x mass typo and a 1e30 kg pack are refused by row; nothing is priced.
    typo = tmp_path / "typo.csv"
    typo.write_text(f"battery_id,mass_kg\n{thermal},{passport.mass_kg * 10:g}\n", encoding="utf-8")
    assert run(["--db", url, "--as", "REC-HYDROLUX", "triage", "offer", str(typo)]) == 2
    assert "passport declares" in capsys.readouterr().err
    typo.write_text(f"battery_id,mass_kg\n{thermal},1e30\n", encoding="utf-8")
    assert run(["--db", url, "--as", "REC-HYDROLUX", "triage", "offer", str(typo)]) == 2
    assert "physical limit" in capsys.readouterr().err


def test_no_successor_for_a_battery_graded_for_recycling(registry, capsys):
    url, engine, truck = registry
    from circulith.services.intake import principal_for_org
    from circulith.services.triage import grade_registry

    graded = grade_registry(engine, principal_for_org(engine, RECEIVER), identifiers=truck, record=False)
    bad = [u for u in graded.units if u.grade in ("recycle", "quarantine") and u.lifecycle_state == "evaluated"]
    if not bad:
        pytest.skip("no unit of the truck graded recycle or quarantine in evaluated state")
    assert run(["--db", url, "passport", "successor", bad[0].battery_id, "--status", "repurposed", "--new-id",
                "urn:uuid:8e3f2d85-6b0a-4f4b-8d8a-3f9e5e4a1b44", "--operator", RECEIVER]) == 2
    assert "not fit for a second life" in capsys.readouterr().err
