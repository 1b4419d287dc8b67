"""A truck arrives: a consignment is received, its identifiers resolved, custody moved, risks quarantined.

Journey 1 of the scenarios: the analyst scans each QR code (or types the code from a damaged label,
or loads the dismantler's list as text, CSV, JSON or Excel); every identifier, in any accepted
scheme, is resolved to its battery. In one transaction, ``received`` events naming the consignment
(its ID, the shipper, the receipt time, the expected count) move the custody of each pack **and of
the modules and cells that travel with it** (:mod:`circulith.ledger.unit_custody`) to the receiving
organisation; the BMS histories are screened
(:func:`circulith.triage.safety.intake_flags`) and every battery that must be handled apart gets a
``quarantined`` event with its reasons and the damaged-battery transport provision that follows
(``transport_rules.csv``). A list longer or shorter than the expected count, an unreadable or unknown
identifier, or a battery already repurposed or recycled is refused with its row and nothing is
recorded.

Who may receive what: the consignee is always the acting principal. A battery it does not hold yet
is received only from the organisation that holds it (its custodian, see
:attr:`circulith.auth.write_policy.CustodyFacts.holder`): a named shipper that is not the holder of
every battery on the list is refused, row by row, with the holder named; with no shipper named the
holder is recorded as the shipper. A battery still in use (``in_service``: in a vehicle, never
recorded as removed) cannot be handed over until its holder records the removal.

The holder's consent: a battery out of service held by its maker, a dismantler or a collection point
is handed over on pick-up (the take-back collection of Art. 59-62 of Regulation (EU) 2023/1542; a
dismantler's earlier grading, ``evaluated``, does not change that), and its receipt records the holder
as shipper. A battery held by a processor (a recycler, refiner or reuse integrator, in whatever state)
is received only after that holder has recorded ``shipped`` to the consignee: nobody takes a battery
from another processor by receiving it.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied, NotAuthenticated
from circulith.auth.policy import ALL_SCOPES, Principal, Role, Scope
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.ledger.unit_custody import Unit, following_units
from circulith.planning.reference_data import load_transport_rules
from circulith.store.custody_repo import custody_facts, organisation_roles
from circulith.store.database import require_schema, transaction
from circulith.store.ledger_store import append_events, lock_head
from circulith.store.models import Battery
from circulith.store.platform_repo import get_organisation
from circulith.store.registry import get_battery
from circulith.store.triage_queries import descendants, ever_placed_on_market, grading_frame
from circulith.triage.rules import load_rules
from circulith.triage.safety import IntakeFlag, intake_flags, worst_damage_state

RECEIVING_ROLES = frozenset({Role.OPERATOR, Role.DISMANTLER, Role.RECYCLER, Role.REUSE_INTEGRATOR, Role.REFINER})
"""Who receives consignments of used batteries."""
NOT_RECEIVABLE = {"second_life": "it is in its second life under a successor passport (receive the successor)",
                  "shredded": "it is shredded", "recycled": "it is recycled (its passport has ceased)"}
PROCESSOR_ROLES = frozenset({Role.RECYCLER, Role.REFINER, Role.REUSE_INTEGRATOR})
"""Holders whose batteries move only by their own ``shipped`` event to the consignee."""
NOT_SHIPPABLE = {"in_service": "it is in service (in a vehicle or product, never recorded as removed): its holder "
                               "records the removal first"}
"""States of a battery its holder cannot hand over, with the reason (see :data:`NOT_RECEIVABLE` for the rest)."""


class FlagOut(BaseModel):
    """One reason a received battery is handled apart."""

    code: str
    reason: str
    quarantine: bool


class IntakeReport(BaseModel):
    """What a consignment brought: received, already held, quarantined and why."""

    consignment_id: str
    receiver_org_id: str
    shipper_org_id: str | None
    received_at: dt.datetime
    expected_count: int | None
    listed: int = Field(description="Distinct batteries on the list.")
    received: list[str]
    already_held: list[str]
    components_received: int = Field(description="Modules and cells whose custody moved with their pack.")
    quarantined: list[str]
    flags: dict[str, list[str]]
    flag_detail: dict[str, list[FlagOut]]
    handling: dict[str, str] = Field(description="Damaged-battery transport provision per quarantined pack.")
    events_written: int

    def as_dict(self) -> dict[str, object]:
        """Plain-data form for JSON output."""
        return self.model_dump(mode="json")


def principal_for_org(engine: Engine, org_id: str | None) -> Principal:
    """The principal a local (CLI) run acts as: ``org_id`` with its registered role, or the registry operator."""
    if not org_id:
        return Principal(org_id="ORG-REGISTRY", role=Role.OPERATOR, scopes=ALL_SCOPES, via="cli")
    with transaction(engine) as session:
        org = get_organisation(session, org_id)
        if org is None:
            raise InvalidInput(Problem(None, "org", f"unknown organisation '{org_id}' (register it first)"))
        return Principal(org_id=org.org_id, role=Role(org.role), scopes=ALL_SCOPES, via="cli")


def require_role(principal: Principal, roles: frozenset[Role], what: str, *, write: bool = True) -> None:
    """Refuse unless the principal is authenticated, holds the scope and one of ``roles``."""
    if not principal.authenticated:
        raise NotAuthenticated("log in or present an API key")
    needed = Scope.WRITE if write else Scope.READ
    if needed not in principal.scopes:
        raise AccessDenied(f"this credential lacks the '{needed.value}' scope")
    if principal.role not in roles:
        raise AccessDenied(f"{what} is for {', '.join(sorted(r.value for r in roles))}")


def damaged_handling(damage_state: str) -> str:
    """The ADR/RID provision and packing for carrying batteries in a damage state to recycling."""
    rules = load_transport_rules()
    hit = rules[(rules["jurisdiction"] == "ADR/RID") & (rules["damage_state"] == damage_state)]
    if hit.empty:
        return ""
    r = hit.iloc[0]
    return f"{r['rule_id']}: {r['provision']}, packing {r['packing']}, not by {r['modes_forbidden']}"


def consignment_key(receiver: str, shipper: str | None, at: dt.datetime, battery_ids: list[str]) -> str:
    """A consignment ID derived from its content (the same list received again gets the same ID)."""
    text = "|".join([receiver, shipper or "", at.isoformat(), *sorted(battery_ids)])
    return "CONS-" + hashlib.sha256(text.encode()).hexdigest()[:16].upper()


def receive(
    engine: Engine,
    principal: Principal,
    identifiers: list[str] | list[tuple[int, str]],
    *,
    site_id: str | None = None,
    received_at: dt.datetime | None = None,
    shipper_org_id: str | None = None,
    expected_count: int | None = None,
    consignment_id: str | None = None,
) -> IntakeReport:
    """Record receipt of a consignment, all or nothing, and quarantine what must be handled apart.

    Parameters
    ----------
    engine : Engine
        The registry.
    principal : Principal
        The receiving organisation (becomes the custodian); see :data:`RECEIVING_ROLES`.
    identifiers : list of str, or list of (row, str)
        Scanned or typed identifiers (GS1 Digital Link, IEC 61406, GB/T 34014, URN, passport IDs),
        with their row in the source list when read from a file.
    site_id : str, optional
        Receiving site.
    received_at : datetime, optional
        Time of receipt, with its timezone (default now); it may not precede a battery's last
        recorded event nor lie in the future.
    shipper_org_id : str, optional
        Who handed the consignment over: it must hold every battery on the list that the receiver
        does not hold yet (default: each battery's holder).
    expected_count : int, optional
        Batteries the delivery note announces; a list with more or fewer is refused.
    consignment_id : str, optional
        The delivery note's number (default: derived from the content).

    Raises
    ------
    InvalidInput
        Every identifier that fails its scheme's check, names no battery or a battery that cannot
        be received (held by another organisation than the shipper, in a state its holder cannot ship
        it from), each with its row; a count different from ``expected_count``.
    """
    require_role(principal, RECEIVING_ROLES, "receiving a consignment")
    require_schema(engine)
    org_id = str(principal.org_id)
    if received_at is not None and received_at.tzinfo is None:
        raise InvalidInput(Problem(None, "received_at", f"'{received_at.isoformat()}' has no timezone: add Z or "
                                   "+hh:mm (naive timestamps are refused, not assumed to be UTC)"))
    at = received_at or dt.datetime.now(dt.UTC)
    lines: list[tuple[int, str]] = [(k, x) if isinstance(x, str) else (int(x[0]), str(x[1]))
                                    for k, x in enumerate(identifiers, start=1)]
    if not lines:
        raise InvalidInput(Problem(None, "identifiers", "the consignment lists no battery"))
    with transaction(engine) as session:
        lock_head(session)  # first: the custody read below stays current until commit (PostgreSQL)
        problems: list[Problem] = []
        found: dict[str, Battery] = {}
        rows: dict[str, tuple[int, str]] = {}
        for row, ident in lines:
            try:
                bat = get_battery(session, ident)
            except InvalidInput as exc:
                problems.append(Problem(row, "identifier", exc.problems[0].reason, ident))
                continue
            except NotFound as exc:
                problems.append(Problem(row, "identifier", str(exc), ident))
                continue
            if bat.lifecycle_state in NOT_RECEIVABLE:
                problems.append(Problem(row, "identifier", f"{bat.battery_id} cannot be received: "
                                        f"{NOT_RECEIVABLE[bat.lifecycle_state]}", ident))
                continue
            if bat.battery_id not in found:
                found[bat.battery_id] = bat
                rows[bat.battery_id] = (row, ident)
        facts = custody_facts(session, [b for b, x in found.items() if x.custodian_org_id != org_id])
        roles = organisation_roles(session, [f.holder for f in facts.values()])
        for bid, fact in facts.items():
            row, ident = rows[bid]
            holder = fact.holder or "nobody"
            if holder == org_id:
                continue
            if shipper_org_id is not None and shipper_org_id != holder:
                problems.append(Problem(row, "identifier", f"{bid} is held by {holder} ({fact.state.value}), "
                                        f"not by the shipper {shipper_org_id}: only its holder can hand it over",
                                        ident))
            elif fact.state.value in NOT_SHIPPABLE:
                problems.append(Problem(row, "identifier", f"{bid} cannot be received from {holder}: "
                                        f"{NOT_SHIPPABLE[fact.state.value]}", ident))
            elif fact.shipped_to_org_id != org_id and roles.get(holder) in PROCESSOR_ROLES:
                problems.append(Problem(row, "identifier", f"{bid} is held by {holder} ({fact.state.value}) and "
                                        f"was not shipped to {org_id}: its holder records 'shipped' to you first",
                                        ident))
        if problems:
            raise InvalidInput(problems, source="consignment")
        if expected_count is not None and len(found) != expected_count:
            diff = len(found) - expected_count
            what = f"{-diff} missing (list cut short?)" if diff < 0 else f"{diff} more than announced"
            raise InvalidInput(Problem(None, "expected_count", f"the list names {len(found)} distinct batteries, "
                                       f"{expected_count} expected: {what}; nothing received"), source="consignment")
        cons = consignment_id or consignment_key(org_id, shipper_org_id, at, list(found))
        incoming = [b for b in found.values() if b.custodian_org_id != org_id]
        report = IntakeReport(
            consignment_id=cons, receiver_org_id=org_id, shipper_org_id=shipper_org_id, received_at=at,
            expected_count=expected_count, listed=len(found), received=[b.battery_id for b in incoming],
            already_held=[b for b, x in found.items() if x.custodian_org_id == org_id], components_received=0,
            quarantined=[], flags={}, flag_detail={}, handling={}, events_written=0)
        if not incoming:
            return report
        kids = descendants(session, [b.battery_id for b in incoming])
        frame = grading_frame(session, [b.battery_id for b in incoming if b.level == "pack"])
        placed = ever_placed_on_market(session, [b.battery_id for b in incoming])
        events: list[LedgerEvent] = []
        payload = {"consignment_id": cons, "shipper_org_id": shipper_org_id, "expected_count": expected_count}

        units = {parent: [Unit(c.battery_id, parent, c.custodian_org_id, c.lifecycle_state) for c in cs]
                 for parent, cs in kids.items()}
        members = {b.battery_id: following_units(b.battery_id, facts[b.battery_id].holder, org_id, units)
                   for b in incoming}
        for b in incoming:
            events.append(LedgerEvent(battery_id=b.battery_id, kind=EventKind.RECEIVED, occurred_at=at,
                                      actor_org_id=org_id, site_id=site_id,
                                      payload={**payload, "from_org_id": shipper_org_id or facts[b.battery_id].holder}))
            for c in members[b.battery_id]:
                events.append(LedgerEvent(battery_id=c, kind=EventKind.RECEIVED, occurred_at=at, actor_org_id=org_id,
                                          site_id=site_id, payload={**payload, "with_parent": b.battery_id}))
        report.components_received = sum(len(v) for v in members.values())
        flags: dict[str, list[IntakeFlag]] = {}
        if not frame.empty:
            packs = frame[frame["level"] == "pack"].copy()
            packs["placed_on_market"] = packs["battery_id"].isin(placed)
            flags = intake_flags(packs, load_rules())
        q_at = at + dt.timedelta(milliseconds=1)
        for bid, fl in flags.items():
            report.flags[bid] = [f.reason for f in fl]
            report.flag_detail[bid] = [FlagOut(code=f.code, reason=f.reason, quarantine=f.quarantine) for f in fl]
            hold = [f for f in fl if f.quarantine]
            if not hold:
                continue
            state = worst_damage_state(hold)
            report.handling[bid] = damaged_handling(state)
            report.quarantined.append(bid)
            q = {"reasons": [f.reason for f in hold], "flags": [f.code for f in hold], "damage_state": state,
                 "handling": report.handling[bid], "consignment_id": cons}
            for target in [bid, *members.get(bid, [])]:
                events.append(LedgerEvent(battery_id=target, kind=EventKind.QUARANTINED, occurred_at=q_at,
                                          actor_org_id=org_id, site_id=site_id,
                                          payload=q if target == bid else {**q, "with_parent": bid}))
        report.events_written = _append(session, events, rows, at)
    return report


def _append(session: Session, events: list[LedgerEvent], rows: dict[str, tuple[int, str]], at: dt.datetime) -> int:
    """Append the receipt's events; a refusal names the consignment row of the pack and the receipt time.

    ``rows`` maps each listed battery to its (row, identifier) on the consignment; an event on a module
    or cell is reported on its pack's row (``with_parent``).
    """
    try:
        return append_events(session, events).appended
    except InvalidInput as exc:
        problems: dict[int | None, Problem] = {}
        for p in exc.problems:
            k = (p.row or 0) - 1
            ev = events[k] if 0 <= k < len(events) else None
            pack = str(ev.payload.get("with_parent") or ev.battery_id) if ev is not None else ""
            row, ident = rows.get(pack, (None, pack))
            field = "received_at" if p.field == "occurred_at" else p.field
            what = "" if ev is None or ev.battery_id == pack else f" (its unit {ev.battery_id})"
            reason = f"receipt at {at.isoformat()}{what}: {p.reason}" if field == "received_at" else p.reason
            problems.setdefault(row, Problem(row, field, reason, ident or None))
        raise InvalidInput(list(problems.values()), source="consignment") from None
