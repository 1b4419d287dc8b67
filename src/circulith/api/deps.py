"""Request dependencies: the caller (principal) with CSRF for browser sessions, and units of work.

Reads are cheap: a credential is checked in an autocommit session (no BEGIN/COMMIT round trips)
kept on ``request.state``, and a read route continues in it with :func:`run_read`, so an
authenticated passport read is one connection checkout and three statements (key, battery,
access-log insert). The access-log row is a single INSERT that commits before the response is
built: a read is never shown unlogged. :func:`run` (everything that writes) hands the autocommit
session back and works in one transaction. A session the route never used is closed when the
request ends.
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
from circulith.services import credentials
from circulith.store.database import transaction, with_write_retries

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
    """Close a session nobody else will use (autocommit: nothing is pending)."""
    if session is not None:
        session.close()


def autocommit_engine(engine: Engine) -> Engine:
    """``engine`` in autocommit mode (same pool): every statement is its own transaction."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _read_session(request: Request) -> Session:
    state = request.app.state
    eng = getattr(state, "autocommit_engine", None)
    if eng is None:
        eng = state.autocommit_engine = autocommit_engine(state.engine)
    return Session(eng, expire_on_commit=False)


def run(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(session, *args)`` in one transaction (rolled back on any error: nothing half-written).

    A transaction that lost a race with another writer is run again a bounded number of times
    (:func:`~circulith.store.database.with_write_retries`), then answered 409 with a retry hint.
    """
    _finish(_take_session(request))
    engine = request.app.state.engine

    def unit() -> T:
        with transaction(engine) as session:
            return fn(session, *args, **kwargs)

    return with_write_retries(unit)


def run_read(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a read ``fn(session, *args)`` without a transaction, continuing the credential's session.

    For access-layer reads whose only write is their access-log entry: one INSERT statement,
    committed by itself before ``fn`` returns (if it fails, ``fn`` raises and nothing is shown).
    Statements see the committed state at the time each runs; use :func:`run` where several reads
    must agree with each other or anything else is written.
    """
    session = _take_session(request) or _read_session(request)
    try:
        out = fn(session, *args, **kwargs)
        if session.new or session.dirty or session.deleted:  # would never be flushed: a bug, not a read
            raise RuntimeError(f"{getattr(fn, '__name__', fn)} changed ORM objects: call it with run(), not run_read()")
        return out
    finally:
        session.close()


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
    session = _read_session(request)
    try:
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthenticated("Authorization must be 'Bearer clk_...'")
            principal, stale = credentials.authenticate_api_key(session, token.strip())
            if stale:  # at most once per KEY_TOUCH_INTERVAL (autocommit: written at once)
                credentials.record_key_use(session, principal.key_id or "")
        else:
            principal = credentials.principal_from_cookie(session, cookie or "", settings.secret_key)
    except BaseException:
        session.close()
        raise
    # give the pooled connection back while the request waits for a worker thread (a read session
    # reconnects on its next statement): 64 waiting requests must not hold every connection of the pool
    session.close()
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
