"""The REST API routes (``/api/v1``). Routes parse and format; the access layer decides."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from circulith.api import schemas as s
from circulith.api.deps import CurrentPrincipal, run, run_read, settings_of
from circulith.api.errors import ERROR_RESPONSES
from circulith.auth.policy import Principal
from circulith.auth.ratelimit import client_address
from circulith.services import credentials, passports
from circulith.services import fleet as fleet_svc

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

Identifier = str  # any accepted identifier (GS1 Digital Link, IEC 61406, GB/T 34014, URN, passport ID)
Text40 = Annotated[str | None, Query(max_length=40)]
Text120 = Annotated[str | None, Query(max_length=120)]


# ---------------------------------------------------------------- session


@router.post("/auth/login", response_model=s.MeOut, tags=["auth"],
             responses={429: {"model": s.ErrorBody, "description": "Too many failed logins."}})
def login(request: Request, response: Response, body: s.LoginIn) -> s.MeOut:
    """Log in with e-mail and password: sets the session cookie and returns the CSRF token."""
    settings = settings_of(request)
    peer = request.client.host if request.client else None
    client = client_address(peer, request.headers.get("x-forwarded-for"), settings.trusted_networks)
    cookie, principal = run(request, credentials.login, body.email, body.password, limiter=request.app.state.limiter,
                            client=client, secret_key=settings.secret_key)
    response.set_cookie(settings.session_cookie, cookie, httponly=True, samesite="lax", secure=settings.cookie_secure,
                        max_age=int(credentials.SESSION_TTL.total_seconds()), path="/")
    return _me(request, principal)


@router.post("/auth/logout", status_code=204, tags=["auth"])
def logout(request: Request, principal: CurrentPrincipal) -> Response:
    """End the browser session."""
    run(request, credentials.logout, principal)
    response = Response(status_code=204)
    response.delete_cookie(settings_of(request).session_cookie, path="/")
    return response


def _me(request: Request, p: Principal) -> s.MeOut:
    return credentials.whoami(p, secret_key=settings_of(request).secret_key)


@router.get("/auth/me", response_model=s.MeOut, tags=["auth"])
def me(request: Request, principal: CurrentPrincipal) -> s.MeOut:
    """Who the caller is (anonymous callers get ``via: anonymous``)."""
    return _me(request, principal)


@router.get("/api-keys", response_model=list[s.ApiKeyOut], tags=["auth"])
def list_keys(request: Request, principal: CurrentPrincipal) -> list[s.ApiKeyOut]:
    """The caller's organisation's API keys (never their secrets)."""
    return run(request, credentials.list_api_keys, principal)


@router.post("/api-keys", response_model=s.ApiKeyOut, status_code=201, tags=["auth"])
def create_key(request: Request, principal: CurrentPrincipal, body: s.ApiKeyIn) -> s.ApiKeyOut:
    """Create an API key (from a browser session); the secret is shown once."""
    return run(request, credentials.create_api_key, principal, name=body.name, scopes=list(body.scopes),
               valid_days=body.valid_days)


@router.delete("/api-keys/{key_id}", response_model=s.ApiKeyOut, tags=["auth"])
def revoke_key(request: Request, principal: CurrentPrincipal, key_id: str) -> s.ApiKeyOut:
    """Revoke an API key of the caller's organisation."""
    return run(request, credentials.revoke_api_key, principal, key_id[:40])


# ---------------------------------------------------------------- passports


@router.get("/passports", response_model=s.PassportPage, tags=["passports"])
def search_passports(
    request: Request,
    principal: CurrentPrincipal,
    level: Annotated[Literal["pack", "module", "cell"] | None, Query()] = None,
    chemistry: Text40 = None,
    category: Annotated[Literal["EV", "LMT", "industrial", "stationary"] | None, Query()] = None,
    manufacturer_id: Text120 = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    production_year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    lifecycle_state: Text40 = None,
    status: Text40 = None,
    region: Annotated[str | None, Query(max_length=8)] = None,
    custodian_org_id: Text120 = None,
    soh_min: Annotated[float | None, Query(ge=0, le=100)] = None,
    soh_max: Annotated[float | None, Query(ge=0, le=100)] = None,
    cursor: Annotated[str | None, Query(max_length=420)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> s.PassportPage:
    """Search and filter passports, ordered by battery ID, with an opaque cursor.

    Filters on restricted columns (lifecycle state, status, region, custodian, SOH) match only
    batteries the caller has legitimate interest in.
    """
    filters = {"level": level, "chemistry": chemistry, "category": category, "manufacturer_id": manufacturer_id,
               "model": model, "production_year": production_year, "lifecycle_state": lifecycle_state,
               "status": status, "region": region, "custodian_org_id": custodian_org_id, "soh_min": soh_min,
               "soh_max": soh_max}
    return run(request, passports.search, principal, filters, cursor=cursor, limit=limit)


@router.post("/passports", response_model=s.CreatedOut, status_code=201, tags=["passports"])
def create_passport(request: Request, principal: CurrentPrincipal, body: s.Passport) -> s.CreatedOut:
    """Register one passport (makers: their own batteries; the operator: any)."""
    return run(request, passports.create_passports, principal, [body])


@router.post("/passports/bulk", response_model=s.CreatedOut, status_code=201, tags=["passports"])
def create_passports(request: Request, principal: CurrentPrincipal, body: s.BulkPassportsIn) -> s.CreatedOut:
    """Register up to 500 passports, all or nothing."""
    return run(request, passports.create_passports, principal, list(body.passports))


@router.get("/passports/{identifier:path}/lineage", response_model=s.LineageOut, tags=["passports"])
def passport_lineage(request: Request, principal: CurrentPrincipal, identifier: Identifier) -> s.LineageOut:
    """Pack ↔ modules ↔ cells; predecessor and successor passports for legitimate interest."""
    return run_read(request, passports.lineage, principal, identifier)


@router.get("/passports/{identifier:path}/events", response_model=s.HistoryOut, tags=["events"])
def passport_events(request: Request, principal: CurrentPrincipal, identifier: Identifier) -> s.HistoryOut:
    """The battery's ledger history and custody chain (restricted audiences and the operator)."""
    return run(request, passports.history, principal, identifier)


@router.get("/passports/{identifier:path}", response_model=s.PassportOut, tags=["passports"])
def read_passport(request: Request, principal: CurrentPrincipal, identifier: Identifier) -> s.PassportOut:
    """The passport behind any identifier, filtered to what the caller may see (Annex XIII)."""
    return run_read(request, passports.read_passport, principal, identifier)


@router.get("/resolve", response_model=s.ResolveOut, tags=["passports"])
def resolve(request: Request, principal: CurrentPrincipal,
            identifier: Annotated[str, Query(min_length=1, max_length=300)]) -> s.ResolveOut:
    """The battery behind an identifier in any accepted scheme."""
    return run_read(request, passports.resolve_identifier, identifier)


# ---------------------------------------------------------------- events, fleet, ledger


@router.get("/fleet/summary", response_model=s.FleetOut, tags=["fleet"])
def fleet_summary(request: Request, principal: CurrentPrincipal,
                  level: Annotated[Literal["pack", "module", "cell"], Query()] = "pack") -> s.FleetOut:
    """Fleet aggregates: the whole fleet for authorities, the Commission and the operator; otherwise your own."""
    return run(request, fleet_svc.fleet, principal, level)


@router.get("/ledger/head", response_model=s.LedgerOut, tags=["ledger"])
def ledger_head(request: Request, principal: CurrentPrincipal) -> s.LedgerOut:
    """The ledger's head (any logged-in caller)."""
    return run(request, fleet_svc.ledger_status, principal, full=False)


@router.get("/ledger/verify", response_model=s.LedgerOut, tags=["ledger"])
def ledger_verify(request: Request, principal: CurrentPrincipal) -> s.LedgerOut:
    """Verify every hash chain (authorities, the Commission and the operator)."""
    return run(request, fleet_svc.ledger_status, principal, full=True)
