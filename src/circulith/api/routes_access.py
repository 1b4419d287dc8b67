"""API routes for writes and access (``/api/v1``): events, dynamic values, grants, the access log.

Routes parse and format; :mod:`circulith.services.events` and :mod:`circulith.services.access` decide.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from circulith.api.deps import CurrentPrincipal, run
from circulith.api.errors import ERROR_RESPONSES
from circulith.api.schemas import ErrorBody
from circulith.services import access as access_svc
from circulith.services import events as events_svc
from circulith.services.access_models import (
    AccessLogOut,
    AppendOut,
    DynamicIn,
    EventIn,
    GrantDecisionIn,
    GrantIn,
    GrantOut,
    GrantRequestOut,
)

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

Text120 = Annotated[str | None, Query(max_length=120)]
Stamp = Annotated[str | None, Query(max_length=32, pattern=r"^\d{4}-\d{2}-\d{2}[T0-9:.Z+\-]*$")]


@router.patch("/passports/{identifier:path}/dynamic", response_model=AppendOut, status_code=201,
              tags=["passports"])
def passport_dynamic(request: Request, principal: CurrentPrincipal, identifier: str, body: DynamicIn) -> AppendOut:
    """Update dynamic values: recorded as a ``bms_snapshot`` ledger event, never by editing the document.

    Values must be finite and within their physical range (SOH 0-120 %, counts whole and
    non-negative, ...); the battery's holder or its manufacturer records them.
    """
    return run(request, events_svc.update_dynamic, principal, identifier, body)


@router.post("/events", response_model=AppendOut, status_code=201, tags=["events"])
def append_event(request: Request, principal: CurrentPrincipal, body: EventIn) -> AppendOut:
    """Record a lifecycle event as the caller's organisation.

    Custody and state changes come from the battery's holder (the consignee for a receipt), or
    from the role the state machine names (a dismantler removing a battery from its first life);
    terminal states from a recycler holding the battery. A read grant never allows a write.
    """
    return run(request, events_svc.append_event, principal, body)


@router.post("/grants", response_model=GrantRequestOut, status_code=201, tags=["access"],
             responses={409: {"model": ErrorBody, "description": "A request is already pending."}})
def request_grant(request: Request, principal: CurrentPrincipal, body: GrantIn) -> GrantRequestOut:
    """Ask for legitimate-interest access to a set of batteries (identifiers or a consignment), stating the purpose.

    One grant is created per data owner; each owner approves once for all of its batteries.
    """
    return run(request, access_svc.request_grant, principal, body)


@router.get("/grants", response_model=list[GrantOut], tags=["access"])
def list_grants(request: Request, principal: CurrentPrincipal,
                status: Annotated[Literal["requested", "approved", "refused", "revoked"] | None, Query()] = None
                ) -> list[GrantOut]:
    """Your organisation's requests and the requests over its data (the operator: all)."""
    return run(request, access_svc.list_grants, principal, status).items


@router.get("/grants/granted", response_model=access_svc.GrantedPassports, tags=["access"])
def granted(request: Request, principal: CurrentPrincipal) -> access_svc.GrantedPassports:
    """The passports your organisation holds an active grant for."""
    return run(request, access_svc.granted_passports, principal)


@router.post("/grants/{grant_id}/decision", response_model=GrantOut, tags=["access"],
             responses={409: {"model": ErrorBody, "description": "The grant is not in a decidable state."}})
def decide_grant(request: Request, principal: CurrentPrincipal, grant_id: str, body: GrantDecisionIn) -> GrantOut:
    """Approve, refuse or revoke a whole request (the data's owner or the registry operator)."""
    return run(request, access_svc.decide_grant, principal, grant_id[:40], body.decision, body.note, body.valid_days)


@router.get("/access-log/verify", response_model=access_svc.AccessLogVerification, tags=["access"])
def access_log_verify(request: Request, principal: CurrentPrincipal) -> access_svc.AccessLogVerification:
    """Verify the access log's hash chain: an edited or deleted entry is found (authorities, Commission, operator)."""
    return run(request, access_svc.verify_log, principal)


@router.get("/access-log", response_model=AccessLogOut, tags=["access"])
def access_log(
    request: Request,
    principal: CurrentPrincipal,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    org_id: Text120 = None,
    battery_id: Annotated[str | None, Query(max_length=300)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    since: Stamp = None,
    until: Stamp = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AccessLogOut:
    """Reads of non-public data, newest first: your own and those of your batteries (authorities, the
    Commission and the operator: all)."""
    return run(request, access_svc.read_access_log, principal, before=before, org_id=org_id, battery_id=battery_id,
               action=action, since=since, until=until, limit=limit)
