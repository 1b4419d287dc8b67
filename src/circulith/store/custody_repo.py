"""Custody facts of stored batteries for write authorisation, and organisations' roles."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from circulith.auth.policy import CHAIN_ROLES, Role
from circulith.auth.write_policy import CustodyFacts
from circulith.ledger.state_machine import LifecycleState
from circulith.store.ledger_store import chunks, rows_by_keys
from circulith.store.models import Event, Organisation


def organisation_roles(session: Session, org_ids: Sequence[str | None]) -> dict[str, Role]:
    """The role of each registered organisation among ``org_ids`` (unknown ones are absent)."""
    wanted = sorted({o for o in org_ids if o})
    out: dict[str, Role] = {}
    for part in chunks(wanted):
        for org, role in session.execute(select(Organisation.org_id, Organisation.role)
                                         .where(Organisation.org_id.in_(part))):
            try:
                out[org] = Role(role)
            except ValueError:
                continue
    return out


_LATEST_SQL = ("SELECT battery_id, kind, max(battery_seq) FROM events WHERE kind IN ('shipped', 'received', 'removed') "
               "AND battery_id IN (SELECT value FROM json_each(?)) GROUP BY battery_id, kind")
_PARENTS_SQL = ("SELECT DISTINCT parent_battery_id FROM batteries "
                "WHERE parent_battery_id IN (SELECT value FROM json_each(?))")
_CUSTODY_SQL = ("SELECT battery_id, manufacturer_id, custodian_org_id, lifecycle_state FROM batteries "
                "WHERE battery_id IN (SELECT value FROM json_each(?))")


def _latest(session: Session, battery_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    """The latest ``shipped``, ``received`` and ``removed`` event of each battery [battery_seq]."""
    return {(bid, kind): int(seq) for bid, kind, seq in rows_by_keys(session, _LATEST_SQL, battery_ids)}


def custody_facts(session: Session, battery_ids: Sequence[str]) -> dict[str, CustodyFacts]:
    """What :func:`circulith.auth.write_policy.write_refusal` needs, per stored battery (unknown: absent).

    The consignee is that of the latest ``shipped`` event not followed by a ``received`` one; the
    remover is the organisation of the latest ``removed`` event.
    """
    ids = list(dict.fromkeys(battery_ids))
    if not ids:
        return {}
    rows = [(r[0], r[1], r[2], r[3]) for r in rows_by_keys(session, _CUSTODY_SQL, ids)]
    roles = organisation_roles(session, [r[2] for r in rows])
    latest = _latest(session, ids)
    wanted = [(bid, latest[(bid, k)]) for bid in ids for k in ("shipped", "removed") if (bid, k) in latest]
    payload: dict[tuple[str, int], tuple[str, str]] = {}
    for part in chunks(wanted, 400):
        events = select(Event.battery_id, Event.battery_seq, Event.actor_org_id, Event.payload_json).where(
            tuple_(Event.battery_id, Event.battery_seq).in_(list(part)))
        for bid, seq, actor, text in session.execute(events):
            payload[(str(bid), int(seq))] = (str(actor), str(text))
    out: dict[str, CustodyFacts] = {}
    for bid, maker, custodian, state in rows:
        shipped_to = removed_by = None
        s_seq, r_seq = latest.get((bid, "shipped")), latest.get((bid, "received"), 0)
        if s_seq is not None and s_seq > r_seq:
            try:
                shipped_to = json.loads(payload[(bid, s_seq)][1]).get("to_org_id")
            except (ValueError, AttributeError):
                shipped_to = None
        if (bid, "removed") in latest:
            removed_by = payload[(bid, latest[(bid, "removed")])][0]
        role = roles.get(custodian or "")
        out[bid] = CustodyFacts(maker, custodian, role in CHAIN_ROLES, LifecycleState(state),
                                shipped_to if isinstance(shipped_to, str) else None, removed_by)
    return out


def organisations_with_role(session: Session, role: Role) -> list[str]:
    """IDs of the registered organisations that have ``role``."""
    return [str(o) for o in session.execute(select(Organisation.org_id).where(Organisation.role == role.value)).scalars()]


def batteries_with_units(session: Session, battery_ids: Sequence[str]) -> set[str]:
    """Those of ``battery_ids`` that contain modules or cells (the parents of a registered battery)."""
    return {str(r[0]) for r in rows_by_keys(session, _PARENTS_SQL, list(dict.fromkeys(battery_ids)))}
