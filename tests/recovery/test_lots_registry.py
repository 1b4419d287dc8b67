"""Plant lots in the registry: recording with ledger events, refusals, idempotence, tracing, tamper detection,
compliance and recycled content from the registry — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import Principal, Role, Scope
from circulith.errors import Conflict, InvalidInput, NotFound
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.passport.examples import example_passport
from circulith.recovery.compliance import compliance_report
from circulith.recovery.lots import InputLot, LotItem, ProductLot
from circulith.services import recovery as svc
from circulith.services.compliance import compliance
from circulith.services.lot_custody import receive_lot, ship_lot
from circulith.services.lot_reports import lot_report, trace_product, verify_lots
from circulith.services.recycled_content import recycled_content_for
from circulith.services.traceability import (
    SubmissionIn,
    add_working_days,
    late_report,
    submit_traceability,
    traceability_report,
)
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events, battery_history, verify_ledger
from circulith.store.lot_models import PlantLot
from circulith.store.models import Battery, Event
from circulith.store.registry import ensure_organisations, register_passports

DAY = dt.date(2025, 6, 2)  # a Monday
PLANT = "REC-A:plant1"
ORGS = [{"org_id": o, "name": o, "role": r, "country": "DE"} for o, r in
        (("OEM-X", "oem"), ("DIS-Y", "dismantler"), ("REC-A", "recycler"), ("REC-B", "recycler"))]


AUTHORITY = Principal(org_id="MSA-DE", role=Role.MARKET_SURVEILLANCE, scopes=frozenset({Scope.READ}), via="test")


def _report(engine, plant: str, year: int):
    with transaction(engine) as s:
        return compliance(s, AUTHORITY, plant, year)


def _as(engine, org_id: str) -> Principal:
    """The principal of ``circulith --as ORG_ID``."""
    from circulith.services.credentials import principal_for_org

    with transaction(engine, read_only=True) as s:
        return principal_for_org(s, org_id)


def _at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


@pytest.fixture
def reg(engine):
    """Seven NMC622 packs: 1-4 received by REC-A, 5 held by the dismantler, 6 in service, 7 received by REC-B."""
    passports = [example_passport(f"00000{i}", seed=i) for i in range(1, 8)]
    with transaction(engine) as s:
        ensure_organisations(s, ORGS)
        register_passports(s, passports, actor_org_id="OEM-X")
    events = []
    for i, p in enumerate(passports, start=1):
        b = p.battery_id
        events += [LedgerEvent(battery_id=b, kind=EventKind.PLACED_ON_MARKET, occurred_at=_at(dt.date(2023, 6, 1)),
                               actor_org_id="OEM-X"),
                   LedgerEvent(battery_id=b, kind=EventKind.INSTALLED, occurred_at=_at(dt.date(2023, 7, 1)),
                               actor_org_id="OEM-X", payload={"region": "CN" if i % 2 else "DE"})]
        if i == 6:
            continue
        events += [LedgerEvent(battery_id=b, kind=EventKind.REMOVED, occurred_at=_at(dt.date(2025, 3, 3)),
                               actor_org_id="DIS-Y"),
                   LedgerEvent(battery_id=b, kind=EventKind.COLLECTED, occurred_at=_at(dt.date(2025, 3, 4)),
                               actor_org_id="DIS-Y")]
        if i == 5:
            continue
        events += [LedgerEvent(battery_id=b, kind=EventKind.SHIPPED, occurred_at=_at(dt.date(2025, 5, 1)),
                               actor_org_id="DIS-Y", payload={"to_org_id": "REC-B" if i == 7 else "REC-A"}),
                   LedgerEvent(battery_id=b, kind=EventKind.RECEIVED, occurred_at=_at(DAY, 8),
                               actor_org_id="REC-B" if i == 7 else "REC-A")]
    with transaction(engine) as s:
        append_events(s, events)
    return engine, passports


def _input(passports, idx=(1, 2, 3, 4), lot_id="IN-1", plant=PLANT, day=DAY, ident=None) -> InputLot:
    items = []
    for i in idx:
        p = passports[i - 1]
        bid = ident(p) if ident else p.battery_id
        items.append(LotItem(battery_id=bid, chemistry="NMC622", form="pack", mass_kg=p.mass_kg))
    return InputLot(lot_id=lot_id, plant_id=plant, received_on=day, items=items)


def _count(engine, model) -> int:
    with transaction(engine) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _kinds(engine, bid: str) -> list[str]:
    with transaction(engine) as s:
        return [e["kind"] for e in battery_history(s, bid)]


def test_input_lot_shreds_its_batteries_with_the_lot_digest(reg):
    engine, pp = reg
    lot = _input(pp, ident=lambda p: p.identifiers[0])  # GB/T 34014 codes resolve to the registry IDs
    res = svc.record_lot(engine, lot, "REC-A")
    assert res.status == "created" and res.batteries == 4 and res.events_written == 8
    doc, sha = svc.lot_document(_input(pp))  # the stored document carries registry IDs
    assert res.lot_sha256 == sha
    for p in pp[:4]:
        hist = _kinds(engine, p.battery_id)
        assert hist[-2:] == ["discharged", "shredded"]
        with transaction(engine) as s:
            ev = s.execute(select(Event.payload_json).where(Event.battery_id == p.battery_id,
                                                            Event.kind == "shredded")).scalar_one()
            assert f'"lot_sha256":"{sha}"' in ev
            assert s.get(Battery, p.battery_id).lifecycle_state == "shredded"


def test_recording_again_changes_nothing_and_other_content_is_refused(reg):
    engine, pp = reg
    svc.record_lot(engine, _input(pp), "REC-A")
    n = _count(engine, Event)
    again = svc.record_lot(engine, _input(pp), "REC-A")
    assert again.status == "unchanged" and _count(engine, Event) == n
    with pytest.raises(Conflict, match="already recorded with different content"):
        svc.record_lot(engine, _input(pp, idx=(1, 2, 3)), "REC-A")


def test_bad_batteries_are_named_and_nothing_is_written(reg):
    engine, pp = reg
    n_events = _count(engine, Event)
    bad = InputLot(lot_id="IN-BAD", plant_id=PLANT, received_on=DAY, items=[
        LotItem(battery_id=pp[0].battery_id, chemistry="NMC622", form="pack", mass_kg=400),
        LotItem(battery_id="urn:circulith:battery:nope", chemistry="NMC622", form="pack", mass_kg=400),
        LotItem(battery_id=pp[4].battery_id, chemistry="NMC622", form="pack", mass_kg=400),  # held by DIS-Y
        LotItem(battery_id=pp[5].battery_id, chemistry="NMC622", form="pack", mass_kg=400),  # in service, OEM
        LotItem(battery_id=pp[1].battery_id, chemistry="LFP", form="pack", mass_kg=400),  # wrong chemistry
    ])
    with pytest.raises(InvalidInput) as e:
        svc.record_lot(engine, bad, "REC-A")
    text_ = " | ".join(str(p) for p in e.value.problems)
    assert "no battery with identifier" in text_ or "nope" in text_
    with pytest.raises(InvalidInput) as e:
        svc.record_lot(engine, bad.model_copy(update={"items": [i for i in bad.items if "nope" not in i.battery_id]}),
                       "REC-A")
    msgs = [str(p) for p in e.value.problems]
    assert any("held by 'DIS-Y'" in m for m in msgs)
    assert any("'in_service'" in m for m in msgs)
    assert any("passport says NMC622" in m for m in msgs)
    assert _count(engine, Event) == n_events and _count(engine, PlantLot) == 0
    # another organisation's plant, a lot dated before the batteries arrived, a lot in the future
    with pytest.raises(InvalidInput, match="does not belong"):
        svc.record_lot(engine, _input(pp, plant="REC-B"), "REC-A")
    with pytest.raises(InvalidInput, match="last recorded event"):
        svc.record_lot(engine, _input(pp, day=DAY - dt.timedelta(days=1)), "REC-A")
    with pytest.raises(InvalidInput, match="in the future"):
        svc.record_lot(engine, _input(pp, day=dt.date.today() + dt.timedelta(days=3)), "REC-A")
    # already shredded
    svc.record_lot(engine, _input(pp, idx=(1,)), "REC-A")
    with pytest.raises(InvalidInput, match="already shredded"):
        svc.record_lot(engine, _input(pp, idx=(1, 2), lot_id="IN-2"), "REC-A")


def test_black_mass_and_products_trace_back_and_close_the_batteries(reg):
    engine, pp = reg
    inp = _input(pp)
    plan = svc.plan_lots(inp, produced_on=DAY + dt.timedelta(days=7))
    bm, products = plan[0], plan[1:]
    with pytest.raises(InvalidInput, match="not recorded"):
        svc.record_lot(engine, bm, "REC-A")
    svc.record_lot(engine, inp, "REC-A")
    lfp_assay = bm.model_copy(update={"assay": {"Li": 0.04, "Fe": 0.3, "P": 0.15}})
    with pytest.raises(InvalidInput, match="assay.Fe"):
        svc.record_lot(engine, lfp_assay, "REC-A")
    svc.record_lot(engine, bm, "REC-A")
    assert _kinds(engine, pp[0].battery_id)[-1] == "black_mass_lot_created"
    too_much = products[0].model_copy(update={"lot_id": "P-X", "mass_kg": products[0].mass_kg * 50})
    with pytest.raises(InvalidInput, match="entered with the input lots"):
        svc.record_lot(engine, too_much, "REC-A")
    li = next(p for p in products if p.commodity == "Li2CO3")
    rest = [p for p in products if p is not li]
    rep = svc.record_lots(engine, rest, "REC-A")
    assert rep.closed == []  # Li not out yet: the batteries stay open
    rep = svc.record_lots(engine, [li], "REC-A")
    assert rep.closed == sorted(p.battery_id for p in pp[:4])
    assert _kinds(engine, pp[0].battery_id)[-2:] == ["material_output", "recycled"]
    assert trace_product(engine, li.lot_id) == sorted(p.battery_id for p in pp[:4])
    late = ProductLot(lot_id="P-late", plant_id=PLANT, produced_on=DAY + dt.timedelta(days=9),
                      source_lot_ids=[bm.lot_id], mass_kg=10, commodity="Co")
    with pytest.raises(InvalidInput, match="already closed as recycled"):
        svc.record_lot(engine, late, "REC-A")
    rep = lot_report(engine, _as(engine, "REC-A"), "IN-1")
    assert rep.mass_balance.closes and rep.batteries == sorted(p.battery_id for p in pp[:4])
    assert 0.5 < rep.yields.element_yield["Ni"] <= 1.0
    assert rep.plan is not None and rep.plan.route == "hydro"  # actual against the engine's plan for the feed
    assert rep.plan.element_yield["Ni"].actual == pytest.approx(rep.plan.element_yield["Ni"].plan, rel=1e-6)
    assert rep.plan.reagents_kg and rep.yields.reagent_ghg_kg_co2e > 0
    bm_rep = lot_report(engine, AUTHORITY, bm.lot_id)  # a black mass's own yield comes from its assay
    assert 0.5 < bm_rep.yields.element_yield["Ni"] <= 1.0
    with pytest.raises(NotFound):  # another recycler does not see REC-A's lots
        lot_report(engine, _as(engine, "REC-B"), "IN-1")
    with pytest.raises(NotFound):
        trace_product(engine, "nope")
    with transaction(engine) as s:
        assert verify_ledger(s).ok


def test_explicit_close(reg):
    engine, pp = reg
    inp = _input(pp)
    bm, *products = svc.plan_lots(inp, produced_on=DAY + dt.timedelta(days=7))
    graphite = next(p for p in products if p.commodity == "graphite")
    rep = svc.record_lots(engine, [inp, bm, graphite], "REC-A")
    assert rep.closed == []
    closed = svc.close_lot(engine, graphite.lot_id, "REC-A")
    assert len(closed) == 4 and _kinds(engine, pp[0].battery_id)[-1] == "recycled"
    assert svc.close_lot(engine, graphite.lot_id, "REC-A") == []


def test_verification_detects_an_altered_lot(reg):
    engine, pp = reg
    inp = _input(pp)
    svc.record_lots(engine, [inp, *svc.plan_lots(inp)], "REC-A")
    rep = verify_lots(engine)
    assert rep.ok and rep.lots_checked > 10 and rep.events_checked > 40
    with transaction(engine) as s:
        doc = s.execute(select(PlantLot.document).where(PlantLot.lot_id == "IN-1-BM")).scalar_one()
        forged = doc.replace('"mass_kg":', '"mass_kg":1', 1)
        s.execute(text("UPDATE plant_lots SET document = :d WHERE lot_id = 'IN-1-BM'"), {"d": forged})
    rep = verify_lots(engine)
    assert not rep.ok and any("IN-1-BM" in f and "stored digest" in f for f in rep.findings)
    # a forger who also rewrites the stored digest is caught by the ledger events
    import hashlib

    with transaction(engine) as s:
        s.execute(text("UPDATE plant_lots SET document_sha256 = :h WHERE lot_id = 'IN-1-BM'"),
                  {"h": hashlib.sha256(forged.encode()).hexdigest()})
    rep = verify_lots(engine)
    assert not rep.ok and any("IN-1-BM" in f and "recorded in event" in f for f in rep.findings)


def test_compliance_from_registry_equals_the_file_based_report(reg):
    engine, pp = reg
    inp = _input(pp)
    lots = [inp, *svc.plan_lots(inp, produced_on=DAY + dt.timedelta(days=7))]
    svc.record_lots(engine, lots, "REC-A")
    rep = _report(engine, PLANT, DAY.year)
    oracle = compliance_report(lots, PLANT, DAY.year)
    assert rep.recycling_efficiency_pct == pytest.approx(oracle.recycling_efficiency_pct)
    assert rep.material_recovery_pct == pytest.approx(oracle.material_recovery_pct)
    assert 50 < rep.recycling_efficiency_pct < 100
    with pytest.raises(NotFound):
        _report(engine, PLANT, DAY.year + 1)


def test_products_made_at_a_hub_count_for_the_plant_pro_rata(reg):
    engine, pp = reg
    inp = _input(pp)
    bm, *products = svc.plan_lots(inp, produced_on=DAY + dt.timedelta(days=7))
    hub_products = [p.model_copy(update={"plant_id": "REC-B:hub"}) for p in products if p.source_lot_ids == [bm.lot_id]]
    svc.record_lots(engine, [inp, bm], "REC-A")
    with pytest.raises(InvalidInput, match="held by 'REC-A'"):  # a black mass REC-B never received
        svc.record_lots(engine, hub_products, "REC-B")
    rec_a, rec_b = _as(engine, "REC-A"), _as(engine, "REC-B")
    ship_lot(engine, rec_a, bm.lot_id, "REC-B", bm.produced_on)
    with pytest.raises(InvalidInput, match="in transit to 'REC-B'"):
        svc.record_lots(engine, hub_products, "REC-B")
    with pytest.raises(InvalidInput, match="not shipped to 'REC-A'"):
        receive_lot(engine, rec_a, bm.lot_id, bm.produced_on)
    custody = receive_lot(engine, rec_b, bm.lot_id, bm.produced_on)
    assert custody.holder == "REC-B" and [t.kind for t in custody.transfers] == ["shipped", "received"]
    svc.record_lots(engine, hub_products, "REC-B")
    with pytest.raises(InvalidInput, match="already made from"):  # consumed: it cannot ship whole any more
        ship_lot(engine, rec_b, bm.lot_id, "REC-A", bm.produced_on)
    assert verify_lots(engine).ok  # custody, conservation and digests all hold
    with transaction(engine) as s:  # a forger rewrites who recorded a hub lot: custody no longer holds
        s.execute(text("UPDATE plant_lots SET actor_org_id = 'REC-A' WHERE lot_id = :l"), {"l": hub_products[0].lot_id})
    found = verify_lots(engine).findings
    assert any(hub_products[0].lot_id in f and "custody broken" in f for f in found)
    with transaction(engine) as s:
        s.execute(text("UPDATE plant_lots SET actor_org_id = 'REC-B' WHERE lot_id = :l"), {"l": hub_products[0].lot_id})
    rep = _report(engine, PLANT, DAY.year)
    assert rep.product_lots == len(hub_products) and any("REC-B:hub" in n for n in rep.notes)
    assert rep.material_recovery_pct["Ni"] > 80


def test_traceability_deadlines(reg):
    engine, pp = reg
    assert add_working_days(dt.date(2025, 6, 2), 30) == dt.date(2025, 7, 14)  # six Mon-Fri weeks
    assert add_working_days(dt.date(2025, 6, 6), 1) == dt.date(2025, 6, 9)  # Friday -> Monday
    rec_a = _as(engine, "REC-A")  # its own unit of work, not nested in the one below
    with transaction(engine) as s:
        d = traceability_report(s, AUTHORITY, 2025, as_of=dt.date(2025, 7, 1)).model_dump(mode="json")
        cn = traceability_report(s, AUTHORITY, 2025, region="CN").model_dump(mode="json")
        page = traceability_report(s, AUTHORITY, 2025, limit=3)
        own = traceability_report(s, rec_a, 2025)
    rec = [r for r in d["events"] if r["kind"] == "received"]
    assert len(rec) == 5 and all(r["article"] == "Art. 15" and r["deadline"] == "2025-07-14" for r in rec)
    removed = [r for r in d["events"] if r["kind"] == "removed"]
    assert removed and all(r["working_days"] == 15 and r["deadline"] == "2025-03-24" for r in removed)
    assert d["by_operator"]["DIS-Y"]["past_deadline"] > 0
    assert 0 < len(cn["events"]) < len(d["events"])
    assert not d["truncated"] and page.truncated and page.returned == 3  # a short page says so
    assert {r.actor_org_id for r in own.events} == {"REC-A"}  # an operator sees its own events only


def test_recycled_content_shares(reg):
    engine, pp = reg
    inp = _input(pp)
    lots = [inp, *svc.plan_lots(inp)]
    svc.record_lots(engine, lots, "REC-A")
    salts = [p.lot_id for p in lots[2:] if isinstance(p, ProductLot) and p.commodity in ("NiSO4.6H2O", "CoSO4.7H2O",
                                                                                          "Li2CO3")]
    new = pp[5]  # the in-service pack stands for a new battery of the same model
    with transaction(engine) as session:
        d = recycled_content_for(session, AUTHORITY, salts, [new.identifiers[0]],
                                 primary_kg={"Co": 100, "Li": 50, "Ni": 300}, year=2031).model_dump(mode="json")
    r = d["recycled_kg"]
    s = d["shares"][0]
    assert s["battery_id"] == new.battery_id
    assert s["co_share"] == pytest.approx(r["Co"] / (r["Co"] + 100))
    assert s["ni_recycled_kg"] == pytest.approx(new.materials.nickel_kg * r["Ni"] / (r["Ni"] + 300))
    assert {c["material"] for c in d["checks"]} == {"Co", "Li", "Ni"}
    with transaction(engine) as session, pytest.raises(InvalidInput, match="not a product lot"):
        recycled_content_for(session, AUTHORITY, ["IN-1"], [new.battery_id])
    with transaction(engine) as session, pytest.raises(InvalidInput, match="only"):  # more metal than supplied
        recycled_content_for(session, AUTHORITY, salts[:1], [p.battery_id for p in pp])


def test_traceability_submissions_make_late_a_fact(reg):
    engine, pp = reg
    with transaction(engine) as s:
        rep = traceability_report(s, AUTHORITY, 2025, as_of=dt.date(2025, 7, 1))
    dis = [r for r in rep.events if r.actor_org_id == "DIS-Y" and r.kind == "removed"]
    assert dis and all(r.status == "overdue" for r in dis)  # nothing reported, deadline 2025-03-24 passed
    dis_y = _as(engine, "DIS-Y")
    on_time, late = dis[0], dis[1]
    with transaction(engine) as s:
        out = submit_traceability(s, dis_y, SubmissionIn(event_ids=[on_time.event_id], submitted_on=dt.date(2025, 3, 20),
                                                         platform_reference="CN-TRACE-1"))
        assert out.events == 1 and out.late == 0
        out = submit_traceability(s, dis_y, SubmissionIn(event_ids=[late.event_id, on_time.event_id],
                                                         submitted_on=dt.date(2025, 4, 30)))
        assert out.events == 1 and out.already_reported == 1 and out.late == 1  # the first date is kept
    with transaction(engine) as s:
        rows = {r.event_id: r for r in traceability_report(s, AUTHORITY, 2025, as_of=dt.date(2025, 7, 1)).events}
        assert rows[on_time.event_id].status == "on time" and rows[on_time.event_id].submitted_on == dt.date(2025, 3, 20)
        assert rows[late.event_id].status == "late"
        board = {r.org_id: r for r in late_report(s, AUTHORITY, 2025, as_of=dt.date(2025, 7, 1)).operators}
        assert board["DIS-Y"].submitted_on_time == 1 and board["DIS-Y"].submitted_late == 1
        assert board["DIS-Y"].overdue == board["DIS-Y"].events_due - 2
        # someone else's event, an event without obligation: refused with the event named, nothing written
        rec_a_event = next(r.event_id for r in rep.events if r.actor_org_id == "REC-A")
        with pytest.raises(InvalidInput, match="not by your organisation"):
            submit_traceability(s, dis_y, SubmissionIn(event_ids=[rec_a_event], submitted_on=dt.date(2025, 7, 1)))
        with pytest.raises(AccessDenied):
            late_report(s, dis_y, 2025)
