"""Credentials: password logins and browser sessions, API keys, and the principal each one stands for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied, NotAuthenticated, TooManyAttempts
from circulith.auth.passwords import dummy_hash, verify_password
from circulith.auth.policy import ALL_SCOPES, Principal, Role, Scope
from circulith.auth.ratelimit import LoginLimiter
from circulith.auth.tokens import (
    api_key_matches,
    csrf_token,
    mint_api_key,
    mint_session_token,
    open_session_cookie,
    parse_api_key,
)
from circulith.errors import NotFound
from circulith.services.access_rules import now_utc, require_login, timestamp
from circulith.store import platform_repo as repo

SESSION_TTL = timedelta(hours=8)
"""Lifetime of a browser session (assumption: one working day)."""
KEY_TOUCH_INTERVAL = timedelta(minutes=5)
"""How stale an API key's ``last_used_at`` may get before a use rewrites it (assumption: a key's last use
to within five minutes is what an operator needs, and it spares every request a write)."""
_SCOPE_VALUES = frozenset(s.value for s in Scope)


class ApiKeyOut(BaseModel):
    """An API key (the secret only once, at creation)."""

    key_id: str
    name: str
    scopes: list[str]
    created_at: str
    expires_at: str
    revoked_at: str | None = None
    last_used_at: str | None = None
    secret: str | None = None


class MeOut(BaseModel):
    """Who the caller is."""

    org_id: str | None
    role: str | None
    user_id: str | None
    key_id: str | None
    scopes: list[str]
    via: str
    csrf_token: str | None = None


def whoami(principal: Principal, *, secret_key: str) -> MeOut:
    """The caller's identity, scopes and (for a browser session) the CSRF token unsafe requests must carry."""
    token = csrf_token(secret_key, principal.session_digest) if principal.session_digest else None
    return MeOut(org_id=principal.org_id, role=principal.role.value if principal.role else None,
                 user_id=principal.user_id, key_id=principal.key_id, scopes=sorted(principal.scopes),
                 via=principal.via, csrf_token=token)


def principal_for_user(session: Session, user_id: str, *, via: str, session_digest: str | None = None) -> Principal:
    """The principal of a user (every scope; the operator's users also get ``admin``).

    Raises
    ------
    NotAuthenticated
        If the user or its organisation is gone, or the user is disabled.
    """
    user = repo.get_user(session, user_id)
    if user is None or not user.active:
        raise NotAuthenticated("the user no longer exists or is disabled")
    org = repo.get_organisation(session, user.org_id)
    if org is None:
        raise NotAuthenticated("the user's organisation no longer exists")
    role = Role(org.role)
    scopes = ALL_SCOPES if role is Role.OPERATOR else ALL_SCOPES - {Scope.ADMIN}
    return Principal(org_id=org.org_id, role=role, user_id=user.user_id, scopes=frozenset(scopes), via=via,
                     session_digest=session_digest)


def principal_for_org(session: Session, org_id: str, *, via: str = "cli") -> Principal:
    """The principal of a local run acting as organisation ``org_id`` (every scope of its role).

    Raises
    ------
    NotAuthenticated
        If no organisation ``org_id`` is registered.
    """
    org = repo.get_organisation(session, org_id)
    if org is None:
        raise NotAuthenticated(f"no organisation '{org_id}' in this registry (--as names a registered org_id)")
    role = Role(org.role)
    scopes = ALL_SCOPES if role is Role.OPERATOR else ALL_SCOPES - {Scope.ADMIN}
    return Principal(org_id=org.org_id, role=role, scopes=frozenset(scopes), via=via)


def principal_for_cli(session: Session, org_id: str | None) -> Principal:
    """Who a local command acts as: ``org_id`` (``--as`` / ``CIRCULITH_AS``), else the registry operator.

    The operator is the organisation :data:`~circulith.services.registry.REGISTRY_ORG` as registered, or,
    in a registry that lists no organisations yet, that organisation with the operator's role: whoever runs
    the registry's database. Either way the same access rules as the API's apply (the operator sees the
    public view of passports, the whole fleet, and ledger verification).

    Raises
    ------
    NotAuthenticated
        If ``org_id`` names no registered organisation.
    """
    from circulith.services.registry import REGISTRY_ORG

    if org_id:
        return principal_for_org(session, org_id)
    if repo.get_organisation(session, REGISTRY_ORG) is not None:
        return principal_for_org(session, REGISTRY_ORG)
    return Principal(org_id=REGISTRY_ORG, role=Role.OPERATOR, scopes=frozenset(ALL_SCOPES), via="cli")


def login(session: Session, email: str, password: str, *, limiter: LoginLimiter, client: str,
          secret_key: str) -> tuple[str, Principal]:
    """Check a password and open a browser session; returns (cookie value, principal).

    Raises
    ------
    TooManyAttempts
        After too many failures for this e-mail or client address.
    NotAuthenticated
        For a wrong e-mail or password (one message for both).
    """
    email_key, client_key = f"email:{email.strip().lower()}", f"client:{client}"
    wait = limiter.retry_after_s(email_key, client_key)
    if wait > 0:
        raise TooManyAttempts(f"too many failed logins; retry in {int(wait) + 1} s", wait)
    user = repo.get_user_by_email(session, email)
    ok = verify_password(user.password_hash if user else dummy_hash(), password)
    if not ok or user is None or not user.active:
        limiter.failed(email_key, client_key)
        raise NotAuthenticated("wrong e-mail or password")
    limiter.succeeded(email_key)
    cookie, digest = mint_session_token(secret_key)
    now = now_utc()
    repo.add_session(session, digest, user.user_id, timestamp(now), timestamp(now + SESSION_TTL))
    return cookie, principal_for_user(session, user.user_id, via="session", session_digest=digest)


def principal_from_cookie(session: Session, cookie: str, secret_key: str) -> Principal:
    """The principal of a session cookie.

    Raises
    ------
    NotAuthenticated
        For a forged, expired or revoked session.
    """
    digest = open_session_cookie(secret_key, cookie)
    if digest is None:
        raise NotAuthenticated("invalid session cookie")
    user = repo.session_user(session, digest, timestamp())
    if user is None:
        raise NotAuthenticated("session expired or logged out")
    return principal_for_user(session, user.user_id, via="session", session_digest=digest)


def logout(session: Session, principal: Principal) -> None:
    """End the caller's browser session."""
    if principal.session_digest:
        repo.revoke_session(session, principal.session_digest)


def authenticate_api_key(session: Session, secret: str) -> tuple[Principal, bool]:
    """The principal of an API key, and whether its ``last_used_at`` is older than :data:`KEY_TOUCH_INTERVAL`.

    One query (the key and its organisation's role); nothing is written.

    Raises
    ------
    NotAuthenticated
        For an unknown, malformed, revoked or expired key.
    """
    key_id = parse_api_key(secret)
    key = repo.api_key_with_role(session, key_id) if key_id else None
    if key is None or not api_key_matches(secret, key.key_sha256):
        raise NotAuthenticated("invalid API key")
    at = now_utc()
    now = timestamp(at)
    if key.revoked_at is not None:
        raise NotAuthenticated("API key revoked")
    if key.expires_at <= now:
        raise NotAuthenticated("API key expired")
    if key.role is None:
        raise NotAuthenticated("the key's organisation no longer exists")
    scopes = frozenset(Scope(s) for s in key.scopes.split() if s in _SCOPE_VALUES)
    principal = Principal(org_id=key.org_id, role=Role(key.role), user_id=key.user_id, key_id=key.key_id,
                          scopes=scopes, via="api_key")
    stale = key.last_used_at is None or key.last_used_at < timestamp(at - KEY_TOUCH_INTERVAL)
    return principal, stale


def record_key_use(session: Session, key_id: str) -> None:
    """Set an API key's ``last_used_at`` to now."""
    repo.touch_api_key(session, key_id, timestamp())


def principal_from_api_key(session: Session, secret: str) -> Principal:
    """The principal of an API key, recording its use when the last record is stale.

    Raises
    ------
    NotAuthenticated
        For an unknown, malformed, revoked or expired key.
    """
    principal, stale = authenticate_api_key(session, secret)
    if stale:
        record_key_use(session, principal.key_id or "")
    return principal


def create_api_key(session: Session, principal: Principal, *, name: str, scopes: list[str],
                   valid_days: int) -> ApiKeyOut:
    """Mint a key for the caller's organisation (shown once); scopes cannot exceed the caller's.

    Raises
    ------
    AccessDenied
        When called with an API key, or for scopes beyond the caller's own.
    """
    require_login(principal)
    if principal.via == "api_key":
        raise AccessDenied("API keys are created from a browser session, not with another key")
    wanted = frozenset(Scope(s) for s in scopes)
    if not wanted <= principal.scopes:
        raise AccessDenied(f"scopes {sorted(wanted - principal.scopes)} exceed your own")
    new = mint_api_key()
    now = now_utc()
    row: dict[str, Any] = {
        "key_id": new.key_id, "key_sha256": new.key_sha256, "org_id": principal.org_id, "user_id": principal.user_id,
        "name": name, "scopes": " ".join(sorted(wanted)), "created_at": timestamp(now),
        "expires_at": timestamp(now + timedelta(days=valid_days)), "revoked_at": None, "last_used_at": None,
    }
    repo.add_api_key(session, **row)
    return _key_out(row).model_copy(update={"secret": new.secret})


def _key_out(row: Any) -> ApiKeyOut:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return ApiKeyOut(key_id=get("key_id"), name=get("name"), scopes=str(get("scopes")).split(),
                     created_at=get("created_at"), expires_at=get("expires_at"), revoked_at=get("revoked_at"),
                     last_used_at=get("last_used_at"))


def list_api_keys(session: Session, principal: Principal) -> list[ApiKeyOut]:
    """The caller's organisation's keys (never their secrets)."""
    require_login(principal)
    return [_key_out(k) for k in repo.list_api_keys(session, principal.org_id or "")]


def revoke_api_key(session: Session, principal: Principal, key_id: str) -> ApiKeyOut:
    """Revoke one of the caller's organisation's keys.

    Raises
    ------
    NotFound
        If the organisation has no such key.
    """
    require_login(principal)
    key = repo.get_api_key(session, key_id)
    if key is None or key.org_id != principal.org_id:
        raise NotFound(f"no API key '{key_id}' in your organisation")
    if key.revoked_at is None:
        key.revoked_at = timestamp()
    return _key_out(key)
