"""Custody of lots between organisations: a recorded shipment, then a recorded receipt.

A lot is held by the organisation that recorded it until it ships it; in transit it is held by nobody;
the receiver holds it once it records the receipt. Only the holder may make lots from it (record a lot
naming it as a source) or ship it on. A lot from which lots were already made cannot be shipped whole:
split it first (record an intermediate lot for the part that ships), so that its mass is consumed once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from circulith.auth.policy import Principal, Scope
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.ledger.events import format_timestamp
from circulith.services.access_rules import require_scope
from circulith.services.lot_access import require_lot_reader
from circulith.store.database import require_schema, transaction
from circulith.store.lot_repo import (
    StoredLot,
    StoredTransfer,
    consumers_of,
    get_lots,
    insert_transfer,
    lot_period,
    organisation_role,
    transfers_of,
)


class TransferOut(BaseModel):
    """A shipment or receipt of a lot."""

    kind: str
    org_id: str
    counterparty_org_id: str
    on_date: dt.date
    recorded_at: str


class LotCustody(BaseModel):
    """Who holds a lot now, and its recorded transfers."""

    lot_id: str
    recorded_by: str
    holder: str | None
    in_transit_to: str | None
    transfers: list[TransferOut]


def custody_state(recorded_by: str, transfers: Sequence[StoredTransfer]) -> tuple[str | None, str | None]:
    """(holder, in transit to) of a lot after its transfers."""
    holder: str | None = recorded_by
    transit: str | None = None
    for t in transfers:
        if t.kind == "shipped":
            holder, transit = None, t.counterparty_org_id
        else:
            holder, transit = t.org_id, None
    return holder, transit


def require_held(session: Session, sources: Mapping[str, StoredLot], org_id: str, lot_id: str) -> None:
    """Refuse a lot made from sources its recording organisation does not hold (naming the holder)."""
    moves = transfers_of(session, sources)
    problems = []
    for sid, s in sources.items():
        holder, transit = custody_state(s.actor_org_id, moves.get(sid, []))
        if holder == org_id:
            continue
        where = f"in transit to '{transit}'" if transit else f"held by '{holder}'"
        problems.append(Problem(None, "source_lot_ids", f"source lot {sid} is {where}, not by '{org_id}': record its "
                                "shipment and receipt first", lot_id))
    if problems:
        raise InvalidInput(problems, source=f"custody of lot {lot_id}")


def _custody(session: Session, lot_id: str) -> LotCustody:
    stored = get_lots(session, [lot_id]).get(lot_id)
    if stored is None:
        raise NotFound(f"no lot '{lot_id}' is recorded")
    moves = transfers_of(session, [lot_id]).get(lot_id, [])
    holder, transit = custody_state(stored.actor_org_id, moves)
    return LotCustody(lot_id=lot_id, recorded_by=stored.actor_org_id, holder=holder, in_transit_to=transit,
                      transfers=[TransferOut(kind=t.kind, org_id=t.org_id, counterparty_org_id=t.counterparty_org_id,
                                             on_date=t.on_date, recorded_at=t.recorded_at) for t in moves])


def lot_custody(engine: Engine, principal: Principal, lot_id: str) -> LotCustody:
    """Who holds a lot and its transfers (any logged-in caller who may read the lot)."""
    require_schema(engine)
    with transaction(engine) as session:
        require_lot_reader(session, principal, lot_id)
        return _custody(session, lot_id)


def ship_lot(engine: Engine, principal: Principal, lot_id: str, to_org_id: str, shipped_on: dt.date, *,
             now: dt.datetime | None = None) -> LotCustody:
    """Record the shipment of a lot by its holder to another registered organisation."""
    require_scope(principal, Scope.WRITE)
    require_schema(engine)
    now = now or dt.datetime.now(dt.UTC)
    with transaction(engine) as session:
        state = _custody(session, lot_id)
        stored = get_lots(session, [lot_id])[lot_id]
        if state.holder != principal.org_id:
            raise InvalidInput(Problem(None, "lot_id", f"lot {lot_id} is not held by '{principal.org_id}' (holder: "
                                       f"{state.holder or 'nobody, in transit to ' + str(state.in_transit_to)})",
                                       lot_id))
        if organisation_role(session, to_org_id) is None or to_org_id == principal.org_id:
            raise InvalidInput(Problem(None, "to_org_id", f"'{to_org_id}' is not another registered organisation",
                                       lot_id))
        made = consumers_of(session, [lot_id]).get(lot_id, [])
        if made:
            raise InvalidInput(Problem(None, "lot_id", f"lots were already made from {lot_id} ({', '.join(made)}): "
                                       "split it (record an intermediate lot for the part you ship) and ship that",
                                       lot_id))
        _check_date(shipped_on, max([lot_period(stored.lot), *(t.on_date for t in state.transfers)]), now, lot_id)
        insert_transfer(session, uuid.uuid4().hex, StoredTransfer(lot_id, "shipped", principal.org_id or "",
                                                                  to_org_id, shipped_on, format_timestamp(now)))
        return _custody(session, lot_id)


def receive_lot(engine: Engine, principal: Principal, lot_id: str, received_on: dt.date, *,
                now: dt.datetime | None = None) -> LotCustody:
    """Record the receipt of a lot shipped to the caller's organisation."""
    require_scope(principal, Scope.WRITE)
    require_schema(engine)
    now = now or dt.datetime.now(dt.UTC)
    with transaction(engine) as session:
        state = _custody(session, lot_id)
        if state.in_transit_to != principal.org_id:
            raise InvalidInput(Problem(None, "lot_id", f"lot {lot_id} was not shipped to '{principal.org_id}'",
                                       lot_id))
        last = state.transfers[-1]
        _check_date(received_on, last.on_date, now, lot_id)
        insert_transfer(session, uuid.uuid4().hex, StoredTransfer(lot_id, "received", principal.org_id or "",
                                                                  last.org_id, received_on, format_timestamp(now)))
        return _custody(session, lot_id)


def _check_date(day: dt.date, not_before: dt.date, now: dt.datetime, lot_id: str) -> None:
    if day > now.date():
        raise InvalidInput(Problem(None, "date", f"{day} is in the future", lot_id))
    if day < not_before:
        raise InvalidInput(Problem(None, "date", f"{day} is before the lot's last recorded date {not_before}", lot_id))
