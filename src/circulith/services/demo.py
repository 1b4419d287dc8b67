"""Building the demo registry: organisations, a synthetic fleet, its histories, and the main job."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from circulith.demo.fleet import generate_fleet
from circulith.store.database import transaction, upgrade
from circulith.store.ledger_store import append_events
from circulith.store.registry import ensure_organisations, fleet_summary, register_passports

Step = Callable[[str, int, int], None]
"""Progress callback: (stage, done, total)."""


def build_demo(engine: Engine, n_packs: int = 20_000, *, seed: int = 2026, today: dt.date | None = None,
               step: Step | None = None, chunk: int = 20_000) -> dict[str, Any]:
    """Migrate, then generate and load the demo fleet (idempotent: a second run adds nothing).

    Returns
    -------
    dict
        Counts of what was written.
    """
    upgrade(engine)
    fleet = generate_fleet(n_packs, seed=seed, today=today)
    created = unchanged = appended = 0
    with transaction(engine) as session:
        ensure_organisations(session, fleet.organisations)
    total = len(fleet.passports)
    for i in range(0, total, chunk):
        part = fleet.passports[i : i + chunk]
        with transaction(engine) as session:
            res = register_passports(session, part, actor_org_id=_registrar(part))
        created += res.created
        unchanged += res.unchanged
        if step:
            step("passports", min(i + chunk, total), total)
    total = len(fleet.events)
    for i in range(0, total, chunk):
        with transaction(engine) as session:
            res = append_events(session, fleet.events[i : i + chunk])
        appended += res.appended
        if step:
            step("events", min(i + chunk, total), total)
    return {"passports_created": created, "passports_unchanged": unchanged, "events_appended": appended}


def _registrar(part: list) -> str:
    # Each passport is registered by its manufacturer (the economic operator placing it on the market).
    return part[0].manufacturer.id if len({p.manufacturer.id for p in part}) == 1 else "ORG-REGISTRY"


def main_job(engine: Engine) -> dict[str, Any]:
    """The main job on a registry: today, the fleet summary (triage, valuation and plans extend it)."""
    with transaction(engine) as session:
        return {"fleet": fleet_summary(session)}
