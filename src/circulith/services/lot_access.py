"""Who reads a recorded lot.

Authorities, the Commission and the registry operator read every lot; an organisation the lots it
recorded or received and the lots upstream and downstream of them (its chain of custody). Another
organisation's lot is reported as unknown, so lot names do not leak.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from circulith.auth.policy import AUTHORITY_ROLES, Principal, Role, Scope
from circulith.errors import NotFound
from circulith.services.access_rules import require_scope
from circulith.store.lot_repo import downstream, get_lots, transfers_of, upstream

#: Roles that read every lot (besides the organisations of its chain of custody).
LOT_READERS = AUTHORITY_ROLES | {Role.COMMISSION, Role.OPERATOR}


def require_lot_reader(session: Session, principal: Principal, lot_id: str) -> None:
    """Raise :class:`NotFound` unless the lot is recorded and the caller may read it."""
    require_scope(principal, Scope.READ)
    if lot_id not in get_lots(session, [lot_id]):
        raise NotFound(f"no lot '{lot_id}' is recorded")
    if principal.role in LOT_READERS:
        return
    chain_ids = upstream(session, [lot_id]) | downstream(session, [lot_id])
    orgs = {s.actor_org_id for s in get_lots(session, chain_ids).values()}
    orgs |= {t.org_id for ts in transfers_of(session, chain_ids).values() for t in ts}
    if principal.org_id not in orgs:
        raise NotFound(f"no lot '{lot_id}' is recorded that you may read")
