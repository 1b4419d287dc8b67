"""Request dependencies: the caller (principal) with CSRF for browser sessions, and units of work.

One request, one transaction where possible: resolving a credential opens the request's session
(kept on ``request.state``) and the route's first :func:`run` continues in it and commits it, so an
authenticated read costs one connection checkout and one commit, not two. A session the route
never used is committed and closed when the request ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

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
    """The app's database engine (for work outside the request's unit of work: its session is ended first)."""
    _finish(_take_session(request))
    return request.app.state.engine


def _take_session(request: Request) -> Session | None:
    """The request's open session (from credential resolution), handed over once."""
    session = getattr(request.state, "db_session", None)
    request.state.db_session = None
    return session


def _finish(session: Session | None) -> None:
    """Commit and close a session nobody else will use."""
    if session is None:
        return
    try:
        session.commit()
    finally:
        session.close()


def run(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(session, *args)`` in one transaction (rolled back on any error: nothing half-written).

    The first call of a request continues the transaction in which its credential was checked.
    """
    session = _take_session(request)
    if session is None:
        with transaction(request.app.state.engine) as fresh:
            return fn(fresh, *args, **kwargs)
    try:
        out = fn(session, *args, **kwargs)
        session.commit()
        return out
    finally:
        session.close()  # rolls back whatever was not committed


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
    """Check the credential in a new session left open on ``request.state`` for the route's :func:`run`."""
    settings = settings_of(request)
    auth = request.headers.get("authorization")
    cookie = request.cookies.get(settings.session_cookie)
    if auth is None and not cookie:
        return ANONYMOUS
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthenticated("Authorization must be 'Bearer clk_...'")
            principal, stale = svc.authenticate_api_key(session, token.strip())
            if stale:  # at most once per KEY_TOUCH_INTERVAL: record the use and release the write at once
                svc.record_key_use(session, principal.key_id or "")
                session.commit()
        else:
            principal = svc.principal_from_cookie(session, cookie, settings.secret_key)
    except BaseException:
        session.close()
        raise
    request.state.db_session = session
    return principal


async def _principal(request: Request) -> Principal:
    principal = await run_in_threadpool(_identify, request)
    if principal.via == "session" and request.method in UNSAFE_METHODS:
        presented = await _csrf_value(request)
        if not csrf_ok(settings_of(request).secret_key, principal.session_digest or "", presented):
            raise AccessDenied(f"missing or wrong CSRF token (send the {CSRF_HEADER} header or the csrf_token field)")
    request.state.principal = principal
    return principal


async def _end_request(request: Request) -> None:
    session = _take_session(request)
    if session is not None:
        await run_in_threadpool(_finish, session)


async def current_principal(request: Request) -> AsyncIterator[Principal]:
    """The caller: API key (``Authorization: Bearer clk_...``), session cookie, or the anonymous public.

    A presented but invalid credential is refused (401), never downgraded to anonymous. Unsafe
    requests made with a session cookie must carry the session's CSRF token.
    """
    try:
        yield await _principal(request)
    finally:
        await _end_request(request)


async def optional_principal(request: Request) -> AsyncIterator[Principal]:
    """Like :func:`current_principal` but an invalid cookie counts as anonymous (public web pages)."""
    try:
        try:
            principal = await _principal(request)
        except NotAuthenticated:
            principal = ANONYMOUS
        yield principal
    finally:
        await _end_request(request)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal, Depends(optional_principal)]
