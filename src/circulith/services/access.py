"""Journey 5: legitimate-interest grants over sets of batteries, decided by the data's owner; the access log.

- A request names a set of batteries (identifiers, or a consignment) and one purpose of Art. 77(2);
  it becomes one grant per data owner, so that each owner decides once for all its batteries.
- The owner of a battery's data is its passport's economic operator (Art. 77(4)); the operator or
  the battery's manufacturer decides, and the registry operator can too.
- The access log is read within scope: every organisation its own reads and the reads of data it
  manufactured; authorities, the Commission and the registry operator every read.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied, NotAuthenticated
from circulith.auth.policy import AUTHORITY_ROLES, Principal, Role, Scope
from circulith.errors import Conflict, InvalidInput, NotFound, Problem
from circulith.ledger.events import format_timestamp
from circulith.passport.identifiers import canonical
from circulith.services.access_models import (
    GRANT_PURPOSES,
    MAX_GRANT_BATTERIES,
    AccessLogItem,
    AccessLogOut,
    GrantIn,
    GrantOut,
    GrantRequestOut,
)
from circulith.store import platform_repo as repo
from circulith.store.models import Battery
from circulith.store.platform_models import AccessGrant

GRANT_DEFAULT_DAYS = 90
"""Default validity of an approved grant [days] (assumption: a quarter covers one repair or recycling job)."""
LOG_READERS = AUTHORITY_ROLES | {Role.COMMISSION, Role.OPERATOR}
"""Who reads every entry of the access log (others: their own reads and reads of their data)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _require(principal: Principal, scope: Scope) -> None:
    if not principal.authenticated:
        raise NotAuthenticated("log in or present an API key")
    if scope not in principal.scopes:
        raise AccessDenied(f"this credential lacks the '{scope.value}' scope")


def data_owner(b: Battery) -> str:
    """The organisation whose data a battery's passport is: its economic operator, else its manufacturer."""
    try:
        op = json.loads(b.document).get("operator") or {}
    except ValueError:
        op = {}
    owner = op.get("id") if isinstance(op, dict) else None
    return owner if isinstance(owner, str) and owner else b.manufacturer_id


def _grant_out(rows: list[AccessGrant]) -> GrantOut:
    g = rows[0]
    return GrantOut(grant_id=g.request_id or g.grant_id, org_id=g.org_id, battery_id=g.battery_id,
                    battery_ids=sorted(r.battery_id for r in rows), owner_org_id=g.owner_org_id, purpose=g.purpose,
                    justification=g.justification, status=g.status, requested_at=g.requested_at,
                    decided_at=g.decided_at, decided_by_org_id=g.decided_by_org_id, decision_note=g.decision_note,
                    expires_at=g.expires_at)


def _group(rows: list[AccessGrant]) -> list[GrantOut]:
    by_request: dict[str, list[AccessGrant]] = defaultdict(list)
    for r in rows:
        by_request[r.request_id or r.grant_id].append(r)
    out = [_grant_out(v) for v in by_request.values()]
    return sorted(out, key=lambda g: (g.requested_at, g.grant_id), reverse=True)


def _named_batteries(session: Session, body: GrantIn) -> list[Battery]:
    idents = list(body.battery_ids) + ([body.battery_id] if body.battery_id else [])
    if body.consignment_id:
        found = repo.consignment_battery_ids(session, body.consignment_id)
        if not found:
            raise InvalidInput(Problem(None, "consignment_id", f"no shipment states consignment "
                                       f"'{body.consignment_id}'"))
        idents += found
    if not idents:
        raise InvalidInput(Problem(None, "battery_ids", "name at least one battery or a consignment"))
    if len(idents) > MAX_GRANT_BATTERIES:
        raise InvalidInput(Problem(None, "battery_ids", f"at most {MAX_GRANT_BATTERIES} batteries per request"))
    out: dict[str, Battery] = {}
    problems = []
    for i, ident in enumerate(idents):
        try:
            b = repo.battery_by_identifier(session, canonical(ident))
        except InvalidInput as exc:
            problems.append(Problem(None, f"battery_ids[{i}]", exc.problems[0].reason, ident))
            continue
        if b is None:
            problems.append(Problem(None, f"battery_ids[{i}]", f"no battery with identifier '{ident}'", ident))
            continue
        out[b.battery_id] = b
    if problems:
        raise InvalidInput(problems)
    return list(out.values())


def request_grant(session: Session, principal: Principal, body: GrantIn) -> GrantRequestOut:
    """A chain actor asks for legitimate-interest access to a set of batteries, for one purpose.

    Creates one grant per data owner of the batteries named (each owner decides once for its own).

    Raises
    ------
    Conflict
        If a request of the caller for one of these batteries is still pending.
    """
    _require(principal, Scope.WRITE)
    if principal.global_audience is not None:
        raise AccessDenied("authorities, the Commission and the operator do not need grants")
    if body.purpose not in GRANT_PURPOSES:
        raise InvalidInput(Problem(None, "purpose", f"unknown purpose '{body.purpose}'"))
    batteries = _named_batteries(session, body)
    org = principal.org_id or ""
    pending = repo.pending_battery_ids(session, org, [b.battery_id for b in batteries])
    if pending:
        bid, rid = next(iter(sorted(pending.items())))
        raise Conflict(f"a request for {bid} is already pending ({rid})"
                       + (f" and for {len(pending) - 1} more of these batteries" if len(pending) > 1 else ""))
    by_owner: dict[str, list[Battery]] = defaultdict(list)
    for b in batteries:
        by_owner[data_owner(b)].append(b)
    at = format_timestamp(_now())
    grants = []
    for owner, part in sorted(by_owner.items()):
        rid = str(uuid.uuid4())
        rows = [{"grant_id": rid if i == 0 else str(uuid.uuid4()), "request_id": rid, "org_id": org,
                 "battery_id": b.battery_id, "owner_org_id": owner, "purpose": body.purpose,
                 "justification": body.justification, "status": "requested", "requested_by": principal.user_id,
                 "requested_at": at, "decided_by": None, "decided_at": None, "decided_by_org_id": None,
                 "decision_note": None, "expires_at": None} for i, b in enumerate(part)]
        repo.add_grants(session, rows)
        grants.append(_grant_out(repo.grant_request_rows(session, rid)))
    return GrantRequestOut(grants=grants)


class GrantList(BaseModel):
    """Grants the caller sees: its own requests and requests over its data (the operator: all)."""

    items: list[GrantOut]


def list_grants(session: Session, principal: Principal, status: str | None = None) -> GrantList:
    """The caller's organisation's requests and the requests over its data (the operator: every grant)."""
    _require(principal, Scope.READ)
    if principal.is_operator:
        rows = repo.list_grants(session, None, status)
    else:
        rows = repo.list_grants(session, principal.org_id, status, owner_org_id=principal.org_id)
    return GrantList(items=_group(rows))


def _may_decide(principal: Principal, rows: list[AccessGrant], session: Session) -> bool:
    if principal.is_operator:
        return True
    if principal.org_id is None or principal.global_audience is not None:
        return False
    if all(r.owner_org_id == principal.org_id for r in rows):
        return True
    makers = {b.manufacturer_id for b in repo.batteries_by_ids(session, [r.battery_id for r in rows])}
    return makers == {principal.org_id}


def decide_grant(session: Session, principal: Principal, grant_id: str, decision: str, note: str | None,
                 valid_days: int = GRANT_DEFAULT_DAYS) -> GrantOut:
    """The data's owner (economic operator or manufacturer) or the registry operator decides a whole request."""
    _require(principal, Scope.WRITE)
    rows = repo.grant_request_rows(session, grant_id)
    if not rows:
        raise NotFound(f"no grant '{grant_id}'")
    if not _may_decide(principal, rows, session):
        if principal.org_id in {r.org_id for r in rows}:
            raise AccessDenied("only the owner of the data (the passports' economic operator or manufacturer) or "
                               "the registry operator decides on this request")
        raise NotFound(f"no grant '{grant_id}'")  # others' requests are not disclosed
    allowed = {"approve": ("requested",), "refuse": ("requested",), "revoke": ("approved",)}.get(decision)
    if allowed is None:
        raise InvalidInput(Problem(None, "decision", f"unknown decision '{decision}'"))
    status = rows[0].status
    if status not in allowed:
        raise Conflict(f"grant {grant_id} is '{status}': cannot {decision} it")
    now = _now()
    for g in rows:
        g.status = {"approve": "approved", "refuse": "refused", "revoke": "revoked"}[decision]
        g.decided_by, g.decided_at, g.decision_note = principal.user_id, format_timestamp(now), note
        g.decided_by_org_id = principal.org_id
        if decision == "approve":
            g.expires_at = format_timestamp(now + timedelta(days=valid_days))
    session.flush()
    return _grant_out(rows)


def read_access_log(session: Session, principal: Principal, *, before: int | None = None, org_id: str | None = None,
                    battery_id: str | None = None, action: str | None = None, since: str | None = None,
                    until: str | None = None, limit: int = 100) -> AccessLogOut:
    """Who read what, newest first, with filters and paging, within what the caller may read.

    Authorities, the Commission and the operator read every entry; every other organisation its
    own reads and the reads of batteries it manufactured.
    """
    _require(principal, Scope.READ)
    everyone = principal.role in LOG_READERS
    scope = "every read" if everyone else f"reads by {principal.org_id} and reads of its batteries"
    bid = None
    if battery_id:
        b = repo.battery_by_identifier(session, canonical(battery_id))
        bid = b.battery_id if b is not None else battery_id
    rows = repo.access_log(session, before=before, org_id=org_id, battery_id=bid, limit=limit + 1,
                           visible_to=None if everyone else principal.org_id, action=action, since=since,
                           until=until)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [AccessLogItem(entry_id=r.entry_id, at=r.at, org_id=r.org_id, user_id=r.user_id, key_id=r.key_id,
                           battery_id=r.battery_id, audience=r.audience, action=r.action, ground=r.ground,
                           entry_sha256=r.entry_sha256) for r in rows]
    return AccessLogOut(scope=scope, items=items, next_before=rows[-1].entry_id if more and rows else None)


class GrantedPassport(BaseModel):
    """A passport the caller holds an active grant for."""

    battery_id: str
    passport_id: str
    level: str
    chemistry: str
    model: str
    manufacturer_id: str
    purpose: str
    expires_at: str | None = None


class GrantedPassports(BaseModel):
    """What the caller was granted (the reuse customer's list)."""

    items: list[GrantedPassport]


def granted_passports(session: Session, principal: Principal, *, limit: int = 500) -> GrantedPassports:
    """The passports the caller's organisation holds an active grant for (opened at the ``legitimate`` level)."""
    _require(principal, Scope.READ)
    rows = repo.granted_batteries(session, principal.org_id or "", format_timestamp(_now()), limit=limit)
    return GrantedPassports(items=[GrantedPassport(battery_id=b.battery_id, passport_id=b.passport_id, level=b.level,
                                                   chemistry=b.chemistry, model=b.model,
                                                   manufacturer_id=b.manufacturer_id, purpose=p, expires_at=e)
                                   for b, p, e in rows])


class AccessLogVerification(BaseModel):
    """Outcome of verifying the access log's chain."""

    ok: bool
    entries_checked: int
    findings: list[str]


def verify_log(session: Session, principal: Principal) -> AccessLogVerification:
    """Verify every access-log entry's digest and link and the head (authorities, the Commission, the operator)."""
    from circulith.store.access_log_store import verify_access_log

    _require(principal, Scope.READ)
    if principal.role not in LOG_READERS:
        raise AccessDenied("verifying the whole access log is for authorities, the Commission and the operator")
    report = verify_access_log(session)
    return AccessLogVerification(ok=report.ok, entries_checked=report.entries_checked,
                                 findings=[str(f) for f in report.findings])
