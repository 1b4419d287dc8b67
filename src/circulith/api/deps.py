"""Request dependencies: the caller (principal) with CSRF for browser sessions, and units of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine

from circulith.api.settings import Settings
from circulith.auth.errors import AccessDenied, NotAuthenticated
from circulith.auth.policy import ANONYMOUS, Principal
from circulith.auth.tokens import csrf_ok
from circulith.services import platform as svc
from circulith.store.database import transaction

T = TypeVar("T")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRF-Token"


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def engine_of(request: Request) -> Engine:
    """The app's database engine."""
    return request.app.state.engine


def run(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(session, *args)`` in one transaction (rolled back on any error: nothing half-written)."""
    with transaction(engine_of(request)) as session:
        return fn(session, *args, **kwargs)


async def _csrf_value(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


def _identify(request: Request) -> Principal:
    settings = settings_of(request)
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("Authorization must be 'Bearer clk_...'")
        return run(request, svc.principal_from_api_key, token.strip())
    cookie = request.cookies.get(settings.session_cookie)
    if cookie:
        return run(request, svc.principal_from_cookie, cookie, settings.secret_key)
    return ANONYMOUS


async def current_principal(request: Request) -> Principal:
    """The caller: API key (``Authorization: Bearer clk_...``), session cookie, or the anonymous public.

    A presented but invalid credential is refused (401), never downgraded to anonymous. Unsafe
    requests made with a session cookie must carry the session's CSRF token.
    """
    from starlette.concurrency import run_in_threadpool

    principal = await run_in_threadpool(_identify, request)
    if principal.via == "session" and request.method in UNSAFE_METHODS:
        presented = await _csrf_value(request)
        if not csrf_ok(settings_of(request).secret_key, principal.session_digest or "", presented):
            raise AccessDenied(f"missing or wrong CSRF token (send the {CSRF_HEADER} header or the csrf_token field)")
    request.state.principal = principal
    return principal


async def optional_principal(request: Request) -> Principal:
    """Like :func:`current_principal` but an invalid cookie counts as anonymous (public web pages)."""
    try:
        return await current_principal(request)
    except NotAuthenticated:
        return ANONYMOUS


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal, Depends(optional_principal)]
