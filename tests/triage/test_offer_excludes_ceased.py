"""A recycling offer never prices a battery that is already recycled, shredded or in a second life.

A reported case: ``triage offer`` priced packs already recorded ``recycled`` (their passports have
ceased, Art. 77(8)) with zero handling and no warning. Such batteries are left out with their reason;
a list of nothing but them is refused in one line.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import pytest
from sqlalchemy import Engine

from circulith.auth.policy import ALL_SCOPES, Principal, Role
from circulith.errors import InvalidInput
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.passport.examples import example_passport
from circulith.services.offers import recycling_offer
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events
from circulith.store.registry import ensure_organisations, register_passports

RECYCLER = "REC-TEST"
AS_OF = dt.date(2024, 12, 31)  # the shipped prices' date: no price-age warning


def _registry(engine: Engine) -> tuple[Principal, list[str]]:
    """Three packs: one collected, one recycled, one repurposed into a second life."""
    packs = [example_passport(f"00010{k}", passport_id=f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'offer/{k}')}")
             for k in range(3)]
    at = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    paths = [(EventKind.COLLECTED,), (EventKind.COLLECTED, EventKind.SHREDDED, EventKind.RECYCLED),
             (EventKind.COLLECTED, EventKind.GRADED, EventKind.REPURPOSED)]
    with transaction(engine) as s:
        ensure_organisations(s, [{"org_id": RECYCLER, "name": "Test recycler", "role": "recycler"}])
        register_passports(s, packs, actor_org_id="EORI:DE0000000000001", now=at)
        append_events(s, [LedgerEvent(battery_id=p.battery_id, kind=kind, occurred_at=at + dt.timedelta(hours=h + 1),
                                      actor_org_id=RECYCLER, event_id=str(uuid.uuid4()))
                          for p, path in zip(packs, paths, strict=True) for h, kind in enumerate(path)])
    return Principal(org_id=RECYCLER, role=Role.RECYCLER, scopes=ALL_SCOPES, via="cli"), [p.battery_id for p in packs]


def test_ceased_and_second_life_batteries_are_left_out_with_their_reason(sqlite_engine: Engine) -> None:
    who, (live, recycled, repurposed) = _registry(sqlite_engine)
    units = pd.DataFrame({"battery_id": [live, recycled, repurposed], "grade": ["recycle"] * 3})
    res = recycling_offer(sqlite_engine, who, units, as_of=AS_OF)
    assert [line.battery_id for line in res.lines] == [live]
    assert {x.battery_id: x.lifecycle_state for x in res.excluded} == {recycled: "recycled",
                                                                      repurposed: "second_life"}
    assert any(recycled in w and "already recycled" in w for w in res.warnings)
    assert res.offer_usd_total == res.lines[0].offer_usd


def test_nothing_but_ceased_batteries_is_refused_in_one_line(sqlite_engine: Engine) -> None:
    who, (_, recycled, _) = _registry(sqlite_engine)
    with pytest.raises(InvalidInput) as err:
        recycling_offer(sqlite_engine, who, pd.DataFrame({"battery_id": [recycled]}), as_of=AS_OF)
    msg = str(err.value)
    assert "\n" not in msg and recycled in msg and "passport has ceased" in msg
