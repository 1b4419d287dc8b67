"""The demo's recycling chain: journeys 2 and 3 on the demo registry, recorded as their users would.

After the main job has graded the packs that reached the recyclers, each recycler shreds the packs it holds
that were graded for recycling or quarantine (one input lot per recycler and chemistry), records the black
mass and the plant's own product lots (:func:`circulith.recovery.plan.plan_lots`), ships the black mass to
the refiner, which receives it and records the salts; the recycler then closes its input lot, so the
terminal ``recycled`` events are written by the recycler holding the packs (the write rule of
:mod:`circulith.auth.write_policy`), and appear in the China-bound report (MIIT 2018, Art. 15).
Idempotent: an input lot already recorded is left as it is.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from circulith.auth.policy import ALL_SCOPES, Principal, Role
from circulith.recovery.lots import InputLot, LotItem
from circulith.recovery.plan import plan_lots
from circulith.services.lot_custody import receive_lot, ship_lot
from circulith.services.recovery import SHREDDABLE_STATES, close_lot, record_lots
from circulith.store.database import transaction
from circulith.store.lot_repo import get_lots
from circulith.store.triage_queries import batteries, latest_payload, select_pack_ids

#: Grades whose packs go to recycling (the rest go to second life).
RECYCLING_GRADES = ("recycle", "quarantine")


class DemoRecyclingOut(BaseModel):
    """What the demo's recycling chain recorded."""

    input_lots: list[str] = Field(default_factory=list)
    packs_shredded: int = 0
    product_lots: int = 0
    packs_recycled: int = 0


def _chain_principal(org_id: str, role: Role) -> Principal:
    return Principal(org_id=org_id, role=role, scopes=ALL_SCOPES, via="cli")


def record_demo_recycling(engine: Engine, recyclers: tuple[str, ...], refiner: str, *, day: dt.date,
                          max_packs_per_lot: int = 40) -> DemoRecyclingOut:
    """Shred, refine and close the packs graded for recycling that each recycler holds.

    Parameters
    ----------
    engine : Engine
        The demo registry (after the main job's grading).
    recyclers : tuple of str
        The recyclers' organisation IDs; each runs its own plant ``ORG:plant-1``.
    refiner : str
        The refiner receiving the black mass, plant ``ORG:hub``.
    day : date
        The day the lots are produced, shipped and received (not in the future).
    max_packs_per_lot : int
        Largest input lot [packs].
    """
    out = DemoRecyclingOut()
    for rec in recyclers:
        with transaction(engine, read_only=True) as session:
            ids = select_pack_ids(session, states=[s for s in SHREDDABLE_STATES if s != "quarantined"],
                                  custodian_org_id=rec)
            graded = [b for b in ids if ((latest_payload(session, b, "graded") or {}).get("grade")
                                         in RECYCLING_GRADES)]
            rows = batteries(session, graded)
        by_chem: dict[str, list[LotItem]] = {}
        for bid in graded:
            b = rows[bid]
            if b.mass_kg:
                by_chem.setdefault(b.chemistry, []).append(
                    LotItem(battery_id=bid, chemistry=b.chemistry, form="pack", mass_kg=float(b.mass_kg)))
        for chem, items in sorted(by_chem.items()):
            lot_id = f"DEMO-{rec}-{day.year}-{chem}"
            with transaction(engine, read_only=True) as session:
                if get_lots(session, [lot_id]):
                    continue
            inp = InputLot(lot_id=lot_id, plant_id=f"{rec}:plant-1", received_on=day, items=items[:max_packs_per_lot])
            bm, *products = plan_lots(inp, produced_on=day)
            at_hub = [p.model_copy(update={"plant_id": f"{refiner}:hub"}) for p in products
                      if p.source_lot_ids == [bm.lot_id]]
            at_plant = [p for p in products if p.source_lot_ids != [bm.lot_id]]
            record_lots(engine, [inp, bm, *at_plant], rec)
            if at_hub:
                ship_lot(engine, _chain_principal(rec, Role.RECYCLER), bm.lot_id, refiner, day)
                receive_lot(engine, _chain_principal(refiner, Role.REFINER), bm.lot_id, day)
                record_lots(engine, at_hub, refiner)
            closed = close_lot(engine, lot_id, rec)
            out.input_lots.append(lot_id)
            out.packs_shredded += len(inp.items)
            out.product_lots += len(products)
            out.packs_recycled += len(closed)
    return out
