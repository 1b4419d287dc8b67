"""A small registry with known facts for the platform tests (shared by api, web and browser tests).

Built from the demo fleet (12 packs) plus events that put known batteries in known hands:

* ``own``: an in-service pack whose maker (``maker``) holds it;
* ``custody``: a pack collected by DIS-KREIS (dismantler custody);
* ``recycled``: a pack dismantled and recycled by REC-HYDROLUX (its passport has ceased), with the
  input and product lot records of the recycler's plant :data:`PLANT`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, select

from circulith.ledger.events import EventKind, LedgerEvent
from circulith.recovery.lots import InputLot, LotItem
from circulith.services.demo import build_demo
from circulith.services.demo_users import DEMO_PASSWORD, seed_demo_users
from circulith.services.recovery import plan_lots, record_lots
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events
from circulith.store.models import Battery

DEMO_TODAY = dt.date(2026, 1, 15)
PLANT = "REC-HYDROLUX:plant-1"
"""The recycler REC-HYDROLUX's plant (its lots are recorded in the registry and chained into the ledger)."""


@dataclass
class Scenario:
    """Known batteries and organisations of the test registry."""

    own: str
    maker: str
    other_maker: str
    custody: str
    recycled: str
    recycled_module: str | None
    users: list[dict[str, str]]
    password: str = DEMO_PASSWORD


def _ev(bid: str, kind: EventKind, org: str, at: dt.datetime, **payload: object) -> LedgerEvent:
    return LedgerEvent(battery_id=bid, kind=kind, occurred_at=at, actor_org_id=org, payload=dict(payload))


def build_scenario(engine: Engine, n_packs: int = 12) -> Scenario:
    """Load the demo fleet and the known events; return what the tests need to know."""
    build_demo(engine, n_packs, today=DEMO_TODAY)
    users = [u.model_dump() for u in seed_demo_users(engine)]
    with transaction(engine) as s:
        packs = list(s.execute(select(Battery).where(Battery.level == "pack").order_by(Battery.battery_id)).scalars())
        in_service = [b for b in packs if b.lifecycle_state == "in_service" and b.custodian_org_id == b.manufacturer_id]
        own = in_service[0]
        maker = own.manufacturer_id
        others = [b for b in in_service if b.manufacturer_id != maker]
        custody, recycled = others[0], others[1]
        other_maker = custody.manufacturer_id
        at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
        step = dt.timedelta(minutes=1)
        events = [
            _ev(custody.battery_id, EventKind.REMOVED, custody.custodian_org_id or maker, at),
            _ev(custody.battery_id, EventKind.COLLECTED, "DIS-KREIS", at + step, price_eur=1234.0),
            _ev(recycled.battery_id, EventKind.REMOVED, recycled.custodian_org_id or maker, at),
            _ev(recycled.battery_id, EventKind.COLLECTED, "REC-HYDROLUX", at + step),
            # The recycler's intake assay: a private record (the recycler's and the authorities').
            _ev(recycled.battery_id, EventKind.TESTED, "REC-HYDROLUX", at + 2 * step, assay_co_pct=7.5),
        ]
        append_events(s, events)
        recycled_id, recycled_chem, recycled_mass = recycled.battery_id, recycled.chemistry, recycled.mass_kg
        module = s.execute(select(Battery.battery_id).where(Battery.parent_battery_id == recycled.battery_id)
                           .order_by(Battery.battery_id)).scalars().first()
        ids = (own.battery_id, custody.battery_id, recycled.battery_id)
    # The plant shreds the pack and refines it: input lot, black mass and product lots recorded in the registry
    # (each chained into the battery's ledger), the battery closed as recycled.
    input_lot = InputLot(lot_id="IN-HYDROLUX-1", plant_id=PLANT, received_on=(at + 3 * step).date(), items=[
        LotItem(battery_id=recycled_id, chemistry=recycled_chem, form="pack", mass_kg=recycled_mass)])
    record_lots(engine, [input_lot, *plan_lots(input_lot, route="hydro")], "REC-HYDROLUX", close=True,
                now=at + 3 * step)
    return Scenario(own=ids[0], maker=maker, other_maker=other_maker, custody=ids[1], recycled=ids[2],
                    recycled_module=module, users=users)


def email(org_id: str) -> str:
    """Demo user e-mail of an organisation."""
    return f"{org_id.lower()}@demo.circulith"
