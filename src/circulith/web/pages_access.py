"""Dashboard pages of journey 5: grants (request a set, decide as the data's owner), granted passports, the log.

The access page's data comes from :func:`access_context`; the forms post here and redirect back.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from circulith.api.deps import OptionalPrincipal, current_principal, run, run_read, settings_of
from circulith.auth.policy import Principal
from circulith.auth.tokens import csrf_token
from circulith.errors import InvalidInput, NotFound
from circulith.services import access as access_svc
from circulith.services.access_models import GRANT_PURPOSES, GrantIn

router = APIRouter(include_in_schema=False)

LOG_ROWS = 200
"""Access-log entries shown on the access page (older ones: CSV or the API's paging)."""
GRANT_COLUMNS = ["grant_id", "org_id", "owner_org_id", "batteries", "battery_ids", "purpose", "status",
                 "requested_at", "decided_at", "decided_by_org_id", "expires_at"]
LOG_COLUMNS = ["entry_id", "at", "org_id", "user_id", "key_id", "battery_id", "audience", "action", "ground",
               "entry_sha256"]


def access_context(request: Request, principal: Principal) -> dict[str, Any]:
    """What the access page shows: grants (own requests and requests over own data), granted passports, the log."""
    grants = run(request, access_svc.list_grants, principal).items
    granted = run(request, access_svc.granted_passports, principal).items if principal.global_audience is None else []
    log = run(request, access_svc.read_access_log, principal, limit=LOG_ROWS)
    return {"grants": [g.model_dump() for g in grants], "granted": [g.model_dump() for g in granted],
            "log": [e.model_dump() for e in log.items], "log_scope": log.scope, "purposes": GRANT_PURPOSES}


def grants_csv_rows(request: Request, principal: Principal) -> tuple[list[str], list[list[Any]]]:
    """The grants table as CSV rows."""
    rows = [g.model_dump() | {"batteries": len(g.battery_ids), "battery_ids": " ".join(g.battery_ids)}
            for g in run(request, access_svc.list_grants, principal).items]
    return GRANT_COLUMNS, [[r[c] for c in GRANT_COLUMNS] for r in rows]


def log_csv_rows(request: Request, principal: Principal, limit: int = 500) -> tuple[list[str], list[list[Any]]]:
    """The access-log table (newest ``limit`` entries in the caller's scope) as CSV rows."""
    items = run(request, access_svc.read_access_log, principal, limit=limit).items
    return LOG_COLUMNS, [[getattr(e, c) for c in LOG_COLUMNS] for e in items]


def _identifiers(text: str) -> list[str]:
    return [t for t in re.split(r"[\s,;]+", text.strip()) if t]


@router.post("/dashboard/grants")
def dashboard_request_grant(request: Request, principal: Principal = Depends(current_principal),
                            battery_ids: str = Form("", max_length=200_000),
                            consignment_id: str = Form("", max_length=120),
                            purpose: str = Form(..., max_length=40),
                            justification: str = Form(..., max_length=2000)) -> Response:
    """Request one grant over a set of batteries (identifiers, one per line or separated by commas, or a consignment)."""
    if purpose not in GRANT_PURPOSES:
        raise InvalidInput(f"unknown purpose '{purpose}'")
    if len(justification.strip()) < 10:
        raise InvalidInput("justification: say why in at least 10 characters")
    body = GrantIn(battery_id=None, battery_ids=_identifiers(battery_ids), consignment_id=consignment_id.strip() or None,
                   purpose=purpose, justification=justification.strip())
    run(request, access_svc.request_grant, principal, body)
    return RedirectResponse("/dashboard/access", status_code=303)


@router.post("/dashboard/grants/{grant_id}/decision")
def dashboard_decide(request: Request, grant_id: str, principal: Principal = Depends(current_principal),
                     decision: str = Form(..., max_length=10), note: str = Form("", max_length=2000)) -> Response:
    """The data's owner (or the registry operator) decides a whole request from the access page."""
    if decision not in ("approve", "refuse", "revoke"):
        raise InvalidInput(f"unknown decision '{decision}'")
    run(request, access_svc.decide_grant, principal, grant_id[:40], decision, note or None)
    return RedirectResponse("/dashboard/access", status_code=303)


@router.get("/dashboard/access/passport/{identifier:path}", response_class=HTMLResponse)
def dashboard_passport(request: Request, principal: OptionalPrincipal, identifier: str) -> Response:
    """A passport opened at the caller's level (legitimate interest where granted; the read is logged)."""
    from circulith.services import passports as svc
    from circulith.web.templating import templates

    if not principal.authenticated:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    token = csrf_token(settings_of(request).secret_key, principal.session_digest) if principal.session_digest else ""
    ctx: dict[str, Any] = {"request": request, "principal": principal, "csrf": token, "page": "access",
                           "pages": _pages()}
    try:
        data = run_read(request, svc.read_passport, principal, identifier)
    except (NotFound, InvalidInput) as exc:
        status = 404 if isinstance(exc, NotFound) else 422
        return templates.TemplateResponse(request, "error.html", ctx | {"status": status, "message": str(exc)},
                                          status_code=status)
    return templates.TemplateResponse(request, "access_passport.html", ctx | {"data": data})


def _pages() -> tuple[tuple[str, str], ...]:
    from circulith.web.templating import EXTRA_PAGES, PAGES

    return PAGES + tuple(EXTRA_PAGES)
