"""Custody of modules and cells follows their pack's receipt (:mod:`circulith.ledger.unit_custody`).

In the demo, every received pack's modules are held by the pack's holder, also after the registry
operator grades the pack; a ``received`` event recorded through the events service brings the
pack's modules with it; a unit held apart or in its own second life stays where it is.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import aliased

from circulith.auth.policy import ALL_SCOPES, Principal, Role
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.ledger.unit_custody import Unit, following_units, unit_receipts
from circulith.services.access_models import EventIn
from circulith.services.demo import build_demo
from circulith.services.events import append_event
from circulith.services.intake import principal_for_org
from circulith.services.registry import verify
from circulith.services.triage import grade_registry
from circulith.store.database import create_db_engine, transaction
from circulith.store.ledger_store import append_events
from circulith.store.models import Battery


def test_which_units_travel_with_their_pack():
    kids = {"P": [Unit("M1", "P", "OEM", "manufactured"), Unit("M2", "P", "DIS", "evaluated"),
                  Unit("M3", "P", "REC-OTHER", "evaluated"), Unit("M4", "P", "DIS", "second_life"),
                  Unit("M5", "P", "REC", "evaluated")],
            "M1": [Unit("C1", "M1", "OEM", "manufactured")], "M3": [Unit("C3", "M3", "REC-OTHER", "manufactured")]}
    # Tracked only through the pack (M1 and its cell), or held by the pack's holder (M2), they follow;
    # held apart (M3, and the cell inside it), in a second life (M4) or already the receiver's (M5), they stay.
    assert following_units("P", "DIS", "REC", kids) == ["M1", "C1", "M2"]
    at = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    ev = LedgerEvent(battery_id="P", kind=EventKind.RECEIVED, occurred_at=at, actor_org_id="REC", site_id="S")
    out = unit_receipts(ev, "DIS", kids, {"consignment_id": "C-1"})
    assert [(e.battery_id, e.actor_org_id, e.site_id, e.occurred_at) for e in out] == [
        ("M1", "REC", "S", at), ("C1", "REC", "S", at), ("M2", "REC", "S", at)]
    assert out[0].payload == {"consignment_id": "C-1", "with_parent": "P"}
    assert unit_receipts(ev.model_copy(update={"kind": EventKind.SHIPPED}), "DIS", kids) == []


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('units') / 'r.db'}")
    build_demo(engine, 200, seed=21, today=dt.date(2026, 11, 1))
    yield engine
    engine.dispose()


def _strays(engine) -> list[tuple[str, str | None, str | None]]:
    """Modules held by someone other than their pack's holder: of a received pack, or moved themselves.

    (A module still ``manufactured`` inside a pack that was only collected is tracked through the pack.)
    """
    pack = aliased(Battery)
    with transaction(engine) as s:
        return [tuple(r) for r in s.execute(
            select(Battery.battery_id, Battery.custodian_org_id, pack.custodian_org_id)
            .join(pack, Battery.parent_battery_id == pack.battery_id)
            .where(pack.custodian_org_id.like("REC-%") | (Battery.lifecycle_state != "manufactured"),
                   Battery.custodian_org_id != pack.custodian_org_id,
                   Battery.lifecycle_state != "second_life"))]


def test_demo_modules_are_held_with_their_packs_also_after_the_operator_grades_them(demo):
    with transaction(demo) as s:
        received = list(s.execute(select(Battery.battery_id).where(
            Battery.level == "pack", Battery.custodian_org_id.like("REC-%"))).scalars())
    assert received, "the demo should leave packs received by recyclers"
    assert _strays(demo) == []
    operator = Principal(org_id="ORG-REGISTRY", role=Role.OPERATOR, scopes=ALL_SCOPES, via="cli")
    graded = grade_registry(demo, operator, identifiers=received[:3])
    assert graded.events_written > 0
    assert _strays(demo) == []
    with transaction(demo) as s:
        held = set(s.execute(select(Battery.custodian_org_id).where(
            Battery.parent_battery_id.in_(received[:3]))).scalars())
    assert "ORG-REGISTRY" not in held
    assert verify(demo).ok


def test_a_received_event_brings_the_packs_modules(demo):
    with transaction(demo) as s:
        pack = s.execute(select(Battery.battery_id).where(
            Battery.level == "pack", Battery.custodian_org_id == "DIS-KREIS").limit(1)).scalar_one()
        modules = list(s.execute(select(Battery.battery_id).where(Battery.parent_battery_id == pack)).scalars())
    assert modules
    at = dt.datetime.now(dt.UTC)
    with transaction(demo) as s:
        append_events(s, [LedgerEvent(battery_id=pack, kind=EventKind.SHIPPED, occurred_at=at,
                                      actor_org_id="DIS-KREIS", payload={"to_org_id": "REC-NORDMET"})])
    with transaction(demo) as s:
        out = append_event(s, principal_for_org(demo, "REC-NORDMET"), EventIn(
            event_id=None, battery_id=pack, kind="received", occurred_at=at + dt.timedelta(seconds=1),
            site_id="REC-NORDMET:intake", payload={}))
    assert out.appended == 1 + len(modules)
    with transaction(demo) as s:
        held = {b.battery_id: (b.custodian_org_id, b.custody_site_id) for b in s.execute(
            select(Battery).where(Battery.battery_id.in_([pack, *modules]))).scalars()}
    assert set(held.values()) == {("REC-NORDMET", "REC-NORDMET:intake")}
    assert verify(demo).ok


def test_an_imported_receipt_brings_the_packs_modules(demo, tmp_path):
    import json

    from circulith.services.event_import import import_events

    with transaction(demo) as s:
        pack = s.execute(select(Battery.battery_id).where(
            Battery.level == "pack", Battery.custodian_org_id == "DIS-RECUP").limit(1)).scalar_one()
        modules = list(s.execute(select(Battery.battery_id).where(Battery.parent_battery_id == pack)).scalars())
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    rows = [{"battery_id": pack, "kind": "shipped", "occurred_at": at.isoformat(), "actor_org_id": "DIS-RECUP",
             "payload": {"to_org_id": "REC-HYDROLUX"}},
            {"battery_id": pack, "kind": "received", "occurred_at": (at + dt.timedelta(minutes=1)).isoformat(),
             "actor_org_id": "REC-HYDROLUX", "site_id": "REC-HYDROLUX:intake"}]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = import_events(demo, path)
    assert report.written == 2  # the file's rows; the modules' receipts come with the pack's
    with transaction(demo) as s:
        held = set(s.execute(select(Battery.custodian_org_id).where(
            Battery.battery_id.in_([pack, *modules]))).scalars())
    assert held == {"REC-HYDROLUX"}
    assert import_events(demo, path).written == 0  # re-importing duplicates nothing
    assert verify(demo).ok
