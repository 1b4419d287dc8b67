"""A truck arrives: resolve every scanned or typed identifier, record receipt and custody, flag risks.

Journey 1 of the scenarios: the analyst scans each QR code (or types the code from a damaged label);
every identifier, in any accepted scheme, is resolved to its battery; ``received`` events move the
custody to the receiving organisation in one transaction; and the BMS histories are screened for
what must be handled apart before anything else happens: thermal events, accidents, abuse, and
missing traceability data (IEC 63338 forbids cell reuse without it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from circulith.errors import InvalidInput, NotFound, Problem
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.store.database import require_schema, transaction
from circulith.store.fleet_queries import bms_summary_frame
from circulith.store.ledger_store import append_events
from circulith.store.registry import get_battery


@dataclass
class IntakeReport:
    """What was received and what needs attention."""

    received: list[str] = field(default_factory=list)
    already_held: list[str] = field(default_factory=list)
    flags: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output."""
        return {"received": self.received, "already_held": self.already_held, "flags": self.flags}


def receive(
    engine: Engine,
    identifiers: list[str],
    *,
    org_id: str,
    site_id: str | None = None,
    at: dt.datetime | None = None,
    shipper_org_id: str | None = None,
) -> IntakeReport:
    """Record receipt of a consignment of batteries, all or nothing, and screen them.

    Parameters
    ----------
    engine : Engine
        The registry.
    identifiers : list of str
        Scanned or typed identifiers (GS1 Digital Link, IEC 61406, GB/T 34014, URN, passport IDs).
    org_id : str
        The receiving organisation (becomes the custodian).
    site_id : str, optional
        Receiving site.
    at : datetime, optional
        Time of receipt (default now).
    shipper_org_id : str, optional
        Who handed them over (recorded in the payload).

    Raises
    ------
    InvalidInput
        Every identifier that fails its scheme's check or names no battery, each with its position
        in the list; nothing is recorded then.
    """
    require_schema(engine)
    at = at or dt.datetime.now(dt.UTC)
    report = IntakeReport()
    with transaction(engine) as session:
        problems: list[Problem] = []
        batteries = []
        for i, ident in enumerate(identifiers, start=1):
            try:
                batteries.append(get_battery(session, ident))
            except InvalidInput as exc:
                problems.append(Problem(i, "identifier", exc.problems[0].reason, ident))
            except NotFound as exc:
                problems.append(Problem(i, "identifier", str(exc), ident))
        if problems:
            raise InvalidInput(problems, source="consignment")
        events = []
        for bat in {b.battery_id: b for b in batteries}.values():
            if bat.custodian_org_id == org_id:
                report.already_held.append(bat.battery_id)
                continue
            events.append(LedgerEvent(battery_id=bat.battery_id, kind=EventKind.RECEIVED, occurred_at=at,
                                      actor_org_id=org_id, site_id=site_id,
                                      payload={"from_org_id": shipper_org_id or bat.custodian_org_id}))
            report.received.append(bat.battery_id)
        append_events(session, events)
        frame = bms_summary_frame(session, lifecycle_states=("removed", "collected", "evaluated", "in_service",
                                                              "on_market", "manufactured", "second_life"),
                                  custodian_org_id=org_id, include_modules=False)
    ids = {b.battery_id for b in batteries}
    screened = frame[frame["battery_id"].isin(ids)] if not frame.empty else frame
    for _, row in screened.iterrows():
        reasons = []
        if row["thermal_accident"]:
            reasons.append("thermal event in BMS history: handle as damaged (ADR SP 376), quarantine")
        elif row["accident_count"] > 0:
            reasons.append("accident in history: inspect before any use")
        if not row["has_traceability"]:
            reasons.append("no traceability data (no BMS history): IEC 63338 forbids cell reuse")
        if row["overcharge_events"] > 0 or row["deep_discharge_events"] > 5:
            reasons.append("abuse events recorded by the BMS")
        if reasons:
            report.flags[row["battery_id"]] = reasons
    return report
