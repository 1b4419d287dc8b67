"""Building the demo registry: organisations, a synthetic fleet, its histories, and the main job."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from circulith.demo.fleet import ORGANISATIONS, iter_fleet
from circulith.ledger.events import LedgerEvent
from circulith.ledger.unit_custody import Unit, unit_receipts
from circulith.passport.model import Passport
from circulith.store.database import transaction, upgrade
from circulith.store.ledger_store import append_events
from circulith.store.registry import ensure_organisations, fleet_summary, register_passports

Step = Callable[[str, int, int], None]
"""Progress callback: (stage, done, total)."""


def build_demo(engine: Engine, n_packs: int = 20_000, *, seed: int = 2026, today: dt.date | None = None,
               step: Step | None = None, chunk_packs: int = 1_000) -> dict[str, Any]:
    """Migrate, then generate and load the demo fleet (idempotent: a second run adds nothing).

    The fleet is generated and loaded ``chunk_packs`` packs at a time, each part in its own
    transactions (passports, then their histories), so memory stays bounded.

    Returns
    -------
    dict
        Counts of what was written.
    """
    upgrade(engine)
    created = unchanged = appended = 0
    with transaction(engine) as session:
        ensure_organisations(session, ORGANISATIONS)
    done = 0
    for part in iter_fleet(n_packs, seed=seed, today=today, chunk_packs=chunk_packs):
        by_maker: dict[str, list] = {}
        for p in part.passports:  # each passport is registered by its manufacturer (Art. 77: the operator)
            by_maker.setdefault(p.manufacturer.id, []).append(p)
        with transaction(engine) as session:
            for maker, passports in by_maker.items():
                res = register_passports(session, passports, actor_org_id=maker)
                created += res.created
                unchanged += res.unchanged
        with transaction(engine) as session:
            appended += append_events(session, with_unit_receipts(part.events, part.passports)).appended
        done += sum(1 for p in part.passports if p.level == "pack")
        if step:
            step("packs", done, n_packs)
    return {"passports_created": created, "passports_unchanged": unchanged, "events_appended": appended}


def with_unit_receipts(events: list[LedgerEvent], passports: list[Passport]) -> list[LedgerEvent]:
    """The fleet's events with the ``received`` events of the modules that change hands with their packs.

    The generated histories move packs only; their modules, registered by the maker and tracked
    through the pack, follow each receipt (:func:`circulith.ledger.unit_custody.unit_receipts`).
    """
    children: dict[str, list[Unit]] = {}
    for p in passports:
        if p.parent_battery_id:
            children.setdefault(p.parent_battery_id, []).append(
                Unit(p.battery_id, p.parent_battery_id, p.manufacturer.id, "manufactured"))
    out: list[LedgerEvent] = []
    for ev in events:
        out.append(ev)
        if ev.battery_id in children:
            out.extend(unit_receipts(ev, None, children))
    return out


def main_job(engine: Engine, *, as_of: dt.date | None = None, recycle: bool = False) -> dict[str, Any]:
    """The main job on a registry: grade what awaits evaluation, value what goes to recycling, summarise.

    1. Triage: every pack removed or collected (and its modules) is graded from its BMS history, with
       ``tested``/``graded`` events recorded; modules fit for second life are regrouped.
    2. Valuation: packs graded for recycling or quarantined are priced per route at the latest
       shipped prices (best route and offer per pack, totals by chemistry).
    3. With ``recycle`` (the demo): the recyclers shred, refine and close the packs graded for recycling
       they hold (:func:`circulith.services.demo_recycling.record_demo_recycling`).
    4. The fleet summary after all.
    """
    from circulith.demo.fleet import RECYCLERS, REFINER
    from circulith.services.demo_recycling import record_demo_recycling
    from circulith.services.intake import principal_for_org
    from circulith.services.triage import grade_registry

    triage = grade_registry(engine, principal_for_org(engine, None), as_of=as_of).model_dump(mode="json")
    valuation = _value_recycling_packs(triage["packs"], as_of)
    # the lots are recorded today (UTC): grading records its events at the clock's time, whatever ``as_of``
    recycling = (record_demo_recycling(engine, RECYCLERS, REFINER, day=dt.datetime.now(dt.UTC).date()).model_dump()
                 if recycle else None)
    with transaction(engine) as session:
        fleet = fleet_summary(session)
    regroup = {k: {kk: v[kk] for kk in ("groups", "usable_energy_kwh", "leftovers")} for k, v in triage["regroup"].items()}
    return {
        "triage": {"graded_packs": triage["graded_packs"], "counts": triage["counts"],
                   "events_written": triage["events_written"], "rules_version": triage["rules_version"],
                   "regroup": regroup},
        "valuation": valuation,
        **({"recycling": recycling} if recycling is not None else {}),
        "fleet": fleet,
    }


def _value_recycling_packs(packs: list[dict[str, Any]], as_of: dt.date | None) -> dict[str, Any]:
    import pandas as pd

    from circulith.recovery.pricing import price_fleet

    to_recycle = [p for p in packs if p["grade"] in ("recycle", "quarantine")]
    if not to_recycle:
        return {"packs": 0}
    frame = pd.DataFrame({"battery_id": [p["battery_id"] for p in to_recycle],
                          "chemistry": [p["chemistry"] for p in to_recycle],
                          "form": "pack", "energy_kwh": [p["rated_energy_kwh"] for p in to_recycle]})
    priced = price_fleet(frame, as_of=as_of, detail=False)
    by_chem = priced.groupby("chemistry").agg(packs=("battery_id", "size"), offer_usd=("offer_usd", "sum"),
                                              revenue_usd=("revenue_usd", "sum"))
    routes = priced["best_route"].value_counts().to_dict()
    return {
        "packs": int(len(priced)),
        "offer_usd_total": round(float(priced["offer_usd"].sum()), 2),
        "best_routes": {str(k): int(v) for k, v in routes.items()},
        "by_chemistry": {str(k): {"packs": int(r.packs), "offer_usd": round(float(r.offer_usd), 2),
                                  "revenue_usd": round(float(r.revenue_usd), 2)} for k, r in by_chem.iterrows()},
    }
