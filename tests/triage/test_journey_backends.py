"""The consignment journey on both backends (SQLite and PostgreSQL): receive, grade by consignment, regroup."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from circulith.errors import InvalidInput
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.services.demo import build_demo
from circulith.services.intake import principal_for_org, receive
from circulith.services.registry import passport_document, verify
from circulith.services.regroup import regroup_modules
from circulith.services.triage import grade_registry
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events
from circulith.store.models import Battery

RECEIVER = "REC-NORDMET"


def test_consignment_on_each_backend(engine: Engine) -> None:
    build_demo(engine, 200, seed=21, today=dt.date(2026, 11, 1))
    with transaction(engine) as s:
        packs = list(s.execute(select(Battery.battery_id).where(
            Battery.level == "pack", Battery.lifecycle_state.in_(["collected", "removed", "evaluated"]),
            Battery.custodian_org_id.like("DIS-%")).order_by(Battery.battery_id).limit(12)).scalars())
    assert packs
    who = principal_for_org(engine, RECEIVER)
    report = receive(engine, who, packs, expected_count=len(packs))
    assert len(report.received) == len(packs)
    again = receive(engine, who, packs)  # re-receiving duplicates nothing
    assert again.events_written == 0 and len(again.already_held) == len(packs)
    graded = grade_registry(engine, who, consignment_id=report.consignment_id)
    assert graded.graded_packs == len(packs) and graded.events_written > 0
    module = next(u for u in graded.units if u.level == "module")
    assert passport_document(engine, module.battery_id)[0].dynamic.soh_pct.value == round(module.soh_pct, 2)
    fit = pd.DataFrame([u.model_dump() for u in graded.units if u.level == "module"])
    # A pack still recorded in service is not handed over until its holder records the removal; then it
    # is received and graded (collected first).
    with transaction(engine) as s:
        used, holder = s.execute(select(Battery.battery_id, Battery.custodian_org_id).where(
            Battery.level == "pack", Battery.lifecycle_state == "in_service").limit(1)).one()
    with pytest.raises(InvalidInput, match="in service"):
        receive(engine, who, [used])
    with transaction(engine) as s:
        append_events(s, [LedgerEvent(battery_id=used, kind=EventKind.REMOVED, occurred_at=dt.datetime.now(dt.UTC),
                                      actor_org_id=holder, payload={"reason": "end_of_first_life"})])
    held = receive(engine, who, [used], shipper_org_id=holder)
    assert held.received == [used]
    out = grade_registry(engine, who, identifiers=[used])
    assert out.graded_packs == 1
    assert passport_document(engine, used)[1]["lifecycle_state"] in ("evaluated", "quarantined")
    res = regroup_modules(engine, who, fit, units_per_group=2, record=True)
    assert all(g.modules == 2 for g in res.groups)
    assert verify(engine).ok
