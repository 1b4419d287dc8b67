"""Recording lifecycle events and dynamic values: one checked path for the API, the dashboard and imports.

Every event is checked before anything is written: its text fields and payload
(:mod:`circulith.ledger.payload_checks`: finite numbers, dynamic values in their physical range,
bounded depth and size, no NUL or lone surrogate), then the caller's right to record it
(:func:`circulith.auth.write_policy.write_refusal`: custody and role, never a read grant), then the
state machine and the chain (:func:`circulith.store.ledger_store.append_events`). A refused event
writes nothing. A ``received`` pack brings the modules and cells that travel with it
(:mod:`circulith.ledger.unit_custody`): their receipts are written with it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied, NotAuthenticated
from circulith.auth.policy import Principal, Scope
from circulith.auth.write_policy import write_refusal
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.ledger.payload_checks import payload_problems, text_field_problems
from circulith.ledger.unit_custody import Unit, unit_receipts
from circulith.passport.identifiers import canonical
from circulith.services.access_models import AppendOut, DynamicIn, EventIn
from circulith.store.custody_repo import custody_facts
from circulith.store.ledger_store import append_events, lock_head
from circulith.store.platform_repo import battery_by_identifier
from circulith.store.triage_queries import descendants


def _require_write(principal: Principal) -> None:
    if not principal.authenticated:
        raise NotAuthenticated("log in or present an API key")
    if Scope.WRITE not in principal.scopes:
        raise AccessDenied("this credential lacks the 'write' scope")


def _battery_id(session: Session, identifier: str) -> str:
    b = battery_by_identifier(session, canonical(identifier))
    if b is None:
        raise NotFound(f"no battery with identifier '{identifier}'")
    return b.battery_id


def _units_received(session: Session, event: LedgerEvent, holder_before: str | None) -> list[LedgerEvent]:
    """The receipts of the modules and cells that change hands with a received battery (none for other kinds)."""
    if event.kind is not EventKind.RECEIVED:
        return []
    kids = descendants(session, [event.battery_id])
    units = {parent: [Unit(c.battery_id, parent, c.custodian_org_id, c.lifecycle_state) for c in cs]
             for parent, cs in kids.items()}
    return unit_receipts(event, holder_before, units)


def append_event(session: Session, principal: Principal, body: EventIn) -> AppendOut:
    """Record one lifecycle event as the caller's organisation (never as another).

    Raises
    ------
    InvalidInput
        For a payload or text field that could not be stored readably (the field is named).
    AccessDenied
        When the caller may not record this kind of event on this battery (the reason names who may).
    """
    _require_write(principal)
    problems = text_field_problems({"battery_id": body.battery_id, "site_id": body.site_id})
    if problems:
        raise InvalidInput(problems)
    kind = EventKind(body.kind)
    bid = _battery_id(session, body.battery_id)
    problems = payload_problems(dict(body.payload))
    if problems:
        raise InvalidInput(problems)
    lock_head(session)  # first: the custody read below stays current until commit (PostgreSQL)
    facts = custody_facts(session, [bid])[bid]
    why = write_refusal(principal.org_id, principal.role, kind, facts)
    if why is not None:
        raise AccessDenied(f"you may not record '{kind.value}' on {bid}: {why}")
    event = LedgerEvent(event_id=body.event_id or "", battery_id=bid, kind=kind, occurred_at=body.occurred_at,
                        actor_org_id=principal.org_id or "", site_id=body.site_id, payload=dict(body.payload))
    res = append_events(session, [event, *_units_received(session, event, facts.holder)])
    return AppendOut(appended=res.appended, unchanged=res.unchanged, event_id=event.with_derived_id().event_id,
                     head_global_seq=res.head_global_seq, head_sha256=res.head_sha256)


def update_dynamic(session: Session, principal: Principal, identifier: str, body: DynamicIn) -> AppendOut:
    """Record new dynamic values (SOH, cycles, ...) as a ``bms_snapshot`` ledger event."""
    if not body.values:
        raise InvalidInput(Problem(None, "values", "give at least one dynamic value"))
    payload: dict[str, object] = dict(body.values.items())
    event = EventIn(event_id=None, battery_id=identifier, kind="bms_snapshot",
                    occurred_at=body.occurred_at or datetime.now(UTC), site_id=body.site_id, payload=payload)
    try:
        return append_event(session, principal, event)
    except InvalidInput as exc:  # name the request's own fields ("values.soh_pct", not "payload.soh_pct")
        raise InvalidInput([Problem(p.row, p.field.replace("payload.", "values.", 1), p.reason, p.record_id)
                            for p in exc.problems]) from None
