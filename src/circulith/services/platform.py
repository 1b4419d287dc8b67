"""The platform's access layer: every read and write of the API and the dashboard goes through here.

Each operation takes the caller (:class:`~circulith.auth.policy.Principal`) and an open session,
decides the caller's audience per battery with :func:`circulith.auth.policy.audience_for`, filters
passports with the Annex XIII view (:func:`circulith.passport.attributes.view`) and event payloads
with :func:`circulith.auth.policy.event_view`, and logs every read of non-public data. Routes never
filter on their own: enforcement lives in this one module.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied, NotAuthenticated, TooManyAttempts
from circulith.auth.passwords import dummy_hash, hash_password, verify_password
from circulith.auth.policy import (
    ALL_SCOPES,
    AUTHORITY_ROLES,
    MAKER_ROLES,
    BatteryFacts,
    Principal,
    Role,
    Scope,
    audience_for,
    event_view,
    is_restricted,
    may_append,
    may_read_history,
)
from circulith.auth.ratelimit import LoginLimiter
from circulith.auth.tokens import (
    api_key_matches,
    mint_api_key,
    mint_session_token,
    open_session_cookie,
    parse_api_key,
)
from circulith.errors import Conflict, InvalidInput, NotFound, Problem
from circulith.ledger.events import EventKind, LedgerEvent, format_timestamp
from circulith.passport.access import Audience
from circulith.passport.attributes import project, view_paths
from circulith.passport.identifiers import parse_identifier
from circulith.passport.model import Passport
from circulith.store import platform_repo as repo
from circulith.store.database import transaction
from circulith.store.ledger_store import DYNAMIC_KEYS, append_events, battery_history, verify_ledger
from circulith.store.models import Battery
from circulith.store.registry import register_passports

log = logging.getLogger(__name__)

DEMO_PASSWORD = "circulith-demo-2026"
"""Password of every demo user (printed by ``circulith demo``; never use the demo in production)."""
SESSION_TTL = timedelta(hours=8)
GRANT_DEFAULT_DAYS = 90
"""Default validity of an approved grant [days] (assumption: a quarter covers one repair or recycling job)."""
DYNAMIC_FIELDS = frozenset(DYNAMIC_KEYS) | {"accident"}
RESTRICTED_SUMMARY = ("status", "lifecycle_state", "custodian_org_id", "custody_site_id", "region", "soh_pct")
GRANT_PURPOSES = ("repair", "remanufacturing", "preparing_for_reuse", "repurposing", "recycling", "energy_services")
"""Purposes of Art. 77(2), third subparagraph (legitimate interest)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(at: datetime | None = None) -> str:
    return format_timestamp(at or _now())


# ---------------------------------------------------------------- authentication


def principal_for_user(session: Session, user_id: str, *, via: str, session_digest: str | None = None) -> Principal:
    """The principal of a user (every scope; the operator's users also get ``admin``)."""
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
    now = _now()
    repo.add_session(session, digest, user.user_id, _ts(now), _ts(now + SESSION_TTL))
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
    user = repo.session_user(session, digest, _ts())
    if user is None:
        raise NotAuthenticated("session expired or logged out")
    return principal_for_user(session, user.user_id, via="session", session_digest=digest)


def logout(session: Session, principal: Principal) -> None:
    """End the caller's browser session."""
    if principal.session_digest:
        repo.revoke_session(session, principal.session_digest)


KEY_TOUCH_INTERVAL = timedelta(minutes=5)
"""How stale an API key's ``last_used_at`` may get before a use rewrites it (assumption: a key's last use
to within five minutes is what an operator needs, and it spares every request a write)."""
_SCOPE_VALUES = frozenset(s.value for s in Scope)


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
    at = _now()
    now = _ts(at)
    if key.revoked_at is not None:
        raise NotAuthenticated("API key revoked")
    if key.expires_at <= now:
        raise NotAuthenticated("API key expired")
    if key.role is None:
        raise NotAuthenticated("the key's organisation no longer exists")
    scopes = frozenset(Scope(s) for s in key.scopes.split() if s in _SCOPE_VALUES)
    principal = Principal(org_id=key.org_id, role=Role(key.role), user_id=key.user_id, key_id=key.key_id,
                          scopes=scopes, via="api_key")
    stale = key.last_used_at is None or key.last_used_at < _ts(at - KEY_TOUCH_INTERVAL)
    return principal, stale


def record_key_use(session: Session, key_id: str) -> None:
    """Set an API key's ``last_used_at`` to now."""
    repo.touch_api_key(session, key_id, _ts())


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
                   valid_days: int) -> dict[str, Any]:
    """Mint a key for the caller's organisation (shown once); scopes cannot exceed the caller's."""
    _require_login(principal)
    if principal.via == "api_key":
        raise AccessDenied("API keys are created from a browser session, not with another key")
    wanted = frozenset(Scope(s) for s in scopes)
    if not wanted <= principal.scopes:
        raise AccessDenied(f"scopes {sorted(wanted - principal.scopes)} exceed your own")
    new = mint_api_key()
    now = _now()
    row = {"key_id": new.key_id, "key_sha256": new.key_sha256, "org_id": principal.org_id,
           "user_id": principal.user_id, "name": name, "scopes": " ".join(sorted(wanted)), "created_at": _ts(now),
           "expires_at": _ts(now + timedelta(days=valid_days)), "revoked_at": None, "last_used_at": None}
    repo.add_api_key(session, **row)
    return _key_out(row) | {"secret": new.secret}


def _key_out(row: Any) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return {"key_id": get("key_id"), "name": get("name"), "scopes": get("scopes").split(),
            "created_at": get("created_at"), "expires_at": get("expires_at"), "revoked_at": get("revoked_at"),
            "last_used_at": get("last_used_at")}


def list_api_keys(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The caller's organisation's keys (never their secrets)."""
    _require_login(principal)
    return [_key_out(k) for k in repo.list_api_keys(session, principal.org_id or "")]


def revoke_api_key(session: Session, principal: Principal, key_id: str) -> dict[str, Any]:
    """Revoke one of the caller's organisation's keys."""
    _require_login(principal)
    key = repo.get_api_key(session, key_id)
    if key is None or key.org_id != principal.org_id:
        raise NotFound(f"no API key '{key_id}' in your organisation")
    if key.revoked_at is None:
        key.revoked_at = _ts()
    return _key_out(key)


def _require_login(principal: Principal) -> None:
    if not principal.authenticated:
        raise NotAuthenticated("log in or present an API key")


def _require_scope(principal: Principal, scope: Scope) -> None:
    _require_login(principal)
    if scope not in principal.scopes:
        raise AccessDenied(f"this credential lacks the '{scope.value}' scope")


# ---------------------------------------------------------------- audiences and logging


@dataclass
class _Seen:
    battery: Battery
    audience: Audience
    ground: str


def _ground(principal: Principal, b: Battery, granted: bool) -> str:
    if principal.role in AUTHORITY_ROLES:
        return "authority"
    if principal.role is Role.COMMISSION:
        return "commission"
    if b.custodian_org_id == principal.org_id:
        return "custody"
    if principal.role in MAKER_ROLES and b.manufacturer_id == principal.org_id:
        return "manufacturer"
    if granted:
        return "grant"
    return "public"


def _audiences(session: Session, principal: Principal, batteries: list[Battery]) -> list[_Seen]:
    granted: set[str] = set()
    org = principal.org_id
    if principal.global_audience is None and org and batteries:
        # a grant changes nothing where custody or (for makers) manufacture already gives legitimate interest
        maker = principal.role in MAKER_ROLES
        open_ids = [b.battery_id for b in batteries
                    if b.custodian_org_id != org and not (maker and b.manufacturer_id == org)]
        if open_ids:
            granted = repo.granted_battery_ids(session, org, open_ids, _ts())
    out = []
    for b in batteries:
        is_granted = b.battery_id in granted
        aud = audience_for(principal, BatteryFacts(b.manufacturer_id, b.custodian_org_id, is_granted))
        out.append(_Seen(b, aud, _ground(principal, b, is_granted)))
    return out


def _log(session: Session, principal: Principal, seen: list[_Seen], action: str) -> None:
    at = _ts()
    repo.log_reads(session, (
        {"at": at, "org_id": principal.org_id or "public", "user_id": principal.user_id, "key_id": principal.key_id,
         "battery_id": s.battery.battery_id, "audience": s.audience.value, "action": action, "ground": s.ground}
        for s in seen if is_restricted(s.audience)
    ))


def _battery(session: Session, identifier: str) -> Battery:
    """The stored battery behind any accepted identifier, in one query (two for a passport ID).

    Raises
    ------
    InvalidInput
        If the identifier fails its scheme's check.
    NotFound
        If no battery carries it.
    """
    from circulith.passport.identifiers import canonical

    b = repo.battery_by_identifier(session, canonical(identifier))
    if b is None:
        raise NotFound(f"no battery with identifier '{identifier}'")
    return b


def _ceased(b: Battery) -> bool:
    return b.lifecycle_state == "recycled"


def _summary(s: _Seen) -> dict[str, Any]:
    b = s.battery
    out: dict[str, Any] = {
        "battery_id": b.battery_id, "passport_id": b.passport_id, "level": b.level,
        "parent_battery_id": b.parent_battery_id, "category": b.category, "chemistry": b.chemistry, "model": b.model,
        "manufacturer_id": b.manufacturer_id, "manufacturing_date": b.manufacturing_date, "mass_kg": b.mass_kg,
        "rated_energy_kwh": b.rated_energy_kwh, "ceased": _ceased(b), "audience": s.audience.value,
    }
    if s.audience is Audience.LEGITIMATE:
        out.update({k: getattr(b, k) for k in RESTRICTED_SUMMARY})
    return out


# ---------------------------------------------------------------- passports


VIEW_CACHE_SIZE = 4096
"""Passport views kept per worker (keyed by the stored document, status and dynamic values themselves)."""


@lru_cache(maxsize=VIEW_CACHE_SIZE)
def _cached_view(document: str, status: str, dynamic_json: str, audience: Audience) -> tuple[dict[str, Any], list[str]]:
    """(shown, withheld paths) of a stored passport for an audience; a pure function of its arguments.

    The key is the stored text itself, so a passport changed by a ledger event (status, dynamic
    values) is a new key and can never be served stale. The returned objects are shared: callers
    must not mutate them.
    """
    doc = json.loads(document)
    doc["status"] = status
    doc["dynamic"] = json.loads(dynamic_json)
    full = Passport.model_validate(doc).model_dump(mode="json")
    shown = project(full, view_paths(audience))
    return shown, sorted(_withheld_paths(full, shown))


def _passport_view(b: Battery, audience: Audience) -> tuple[dict[str, Any], list[str]]:
    return _cached_view(b.document, b.status, b.dynamic_json, audience)


def read_passport(session: Session, principal: Principal, identifier: str, *, action: str = "read_passport"
                  ) -> dict[str, Any]:
    """The passport behind any identifier, as the caller may see it (logged if non-public)."""
    return _read_battery(session, principal, _battery(session, identifier), action)


def _read_battery(session: Session, principal: Principal, b: Battery, action: str,
                  seen: _Seen | None = None) -> dict[str, Any]:
    (s,) = [seen] if seen is not None else _audiences(session, principal, [b])
    shown, withheld = _passport_view(b, s.audience)
    state = None
    if s.audience is Audience.LEGITIMATE:
        state = {k: getattr(b, k) for k in RESTRICTED_SUMMARY} | {"events": b.last_seq}
    _log(session, principal, [s], action)
    return {"battery_id": b.battery_id, "passport_id": b.passport_id, "audience": s.audience.value,
            "ground": s.ground, "ceased": _ceased(b), "passport": shown, "state": state, "withheld": withheld}


def _withheld_paths(full: dict[str, Any], shown: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in full.items():
        if key not in shown:
            out.append(prefix + key)
        elif isinstance(value, dict) and isinstance(shown[key], dict):
            out.extend(_withheld_paths(value, shown[key], f"{prefix}{key}."))
    return out


def public_passport(session: Session, identifier: str) -> dict[str, Any]:
    """What the public page shows: public attributes, ceased flag, lineage of public links."""
    from circulith.passport.identifiers import canonical

    public = Principal()
    found = repo.battery_with_children(session, canonical(identifier))
    if found is None:
        raise NotFound(f"no battery with identifier '{identifier}'")
    b, children = found
    (s,) = _audiences(session, public, [b])
    out = _read_battery(session, public, b, "read_passport", s)
    out["lineage"] = _lineage(session, public, b, s, children)
    return out


def search(session: Session, principal: Principal, filters: dict[str, Any], *, cursor: str | None,
           limit: int) -> dict[str, Any]:
    """Search passports; restricted columns are shown and filterable only where the caller may see them."""
    _require_scope(principal, Scope.READ)
    scope = None
    if principal.global_audience is not None:
        scope = repo.NOTHING  # authorities, Commission, operator: no legitimate-interest columns
    else:
        scope = repo.legitimate_scope(principal.org_id or "", maker=principal.role in MAKER_ROLES, now=_ts())
    after = repo.decode_cursor(cursor) if cursor else None
    rows = repo.search_batteries(session, filters, restricted_scope=scope, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    seen = _audiences(session, principal, rows)
    _log(session, principal, seen, "search")
    return {"items": [_summary(s) for s in seen],
            "next_cursor": repo.encode_cursor(rows[-1].battery_id) if more and rows else None}


def create_passports(session: Session, principal: Principal, passports: list[Passport]) -> dict[str, Any]:
    """Register passports; makers register their own batteries only, the operator any."""
    _require_scope(principal, Scope.WRITE)
    if not principal.is_operator:
        if principal.role not in MAKER_ROLES:
            raise AccessDenied("only battery makers, OEMs and the registry operator register passports")
        foreign = [Problem(i + 1, "manufacturer.id", f"'{p.manufacturer.id}' is not your organisation "
                           f"({principal.org_id}): register only batteries you make", p.battery_id)
                   for i, p in enumerate(passports) if p.manufacturer.id != principal.org_id]
        if foreign:
            raise AccessDenied(str(InvalidInput(foreign, source="passports")))
    result = register_passports(session, passports, actor_org_id=principal.org_id or "")
    return {"created": result.created, "unchanged": result.unchanged,
            "battery_ids": [p.battery_id for p in passports]}


def lineage(session: Session, principal: Principal, identifier: str) -> dict[str, Any]:
    """Pack ↔ modules ↔ cells, and predecessor/successor passports (these only where the lattice allows)."""
    b = _battery(session, identifier)
    (s,) = _audiences(session, principal, [b])
    return _lineage(session, principal, b, s)


def _lineage(session: Session, principal: Principal, b: Battery, s: _Seen,
             children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    def ref(x: Any) -> dict[str, Any] | None:
        if x is None:
            return None
        if isinstance(x, dict):
            return {"battery_id": x["battery_id"], "passport_id": x["passport_id"], "level": x["level"],
                    "ceased": x["lifecycle_state"] == "recycled"}
        return {"battery_id": x.battery_id, "passport_id": x.passport_id, "level": x.level, "ceased": _ceased(x)}

    parent = repo.battery_refs(session, [b.parent_battery_id])[0] if b.parent_battery_id else None
    out: dict[str, Any] = {
        "battery_id": b.battery_id, "passport_id": b.passport_id, "level": b.level, "ceased": _ceased(b),
        "audience": s.audience.value, "parent": ref(parent),
        "children": [ref(c) for c in (repo.child_refs(session, b.battery_id) if children is None else children)],
        "predecessor": None, "successors": [], "withheld": [],
    }
    # predecessor_passport_id is legitimate-interest data (Annex XIII 4), both ways.
    if s.audience is Audience.LEGITIMATE:
        pred = repo.battery_by_passport(session, b.predecessor_passport_id) if b.predecessor_passport_id else None
        out["predecessor"] = ref(pred)
        out["successors"] = [ref(x) for x in repo.successors_of(session, b.passport_id)]
        _log(session, principal, [s], "lineage")
    else:
        out["withheld"] = ["predecessor", "successors"]
    return out


def history(session: Session, principal: Principal, identifier: str) -> dict[str, Any]:
    """A battery's ledger events, payloads filtered by :func:`~circulith.auth.policy.event_view`."""
    _require_scope(principal, Scope.READ)
    b = _battery(session, identifier)
    (s,) = _audiences(session, principal, [b])
    if not may_read_history(principal, s.audience):
        raise AccessDenied(f"you may not read the history of {b.battery_id}: it is not in your custody, not "
                           "made by you and you hold no grant for it (request one at /api/v1/grants)")
    events = [event_view(e, principal, s.audience, DYNAMIC_FIELDS) for e in battery_history(session, b.battery_id)]
    _log(session, principal, [s], "history")
    return {"battery_id": b.battery_id, "audience": s.audience.value, "events": events}


def append_event(session: Session, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """Record one lifecycle event as the caller's organisation (never as another)."""
    _require_scope(principal, Scope.WRITE)
    kind = body["kind"]
    if kind == EventKind.REGISTERED.value:
        raise InvalidInput(Problem(None, "kind", "'registered' is written by the registry: create the passport"))
    b = _battery(session, body["battery_id"])
    granted = bool(principal.org_id and repo.granted_battery_ids(session, principal.org_id, [b.battery_id], _ts()))
    facts = BatteryFacts(b.manufacturer_id, b.custodian_org_id, granted)
    if not may_append(principal, facts) and not _receiving(session, principal, b, kind):
        raise AccessDenied(f"you may not record events on {b.battery_id}: not in your custody, not made by you, "
                           "no grant")
    event = LedgerEvent(
        event_id=body.get("event_id") or "", battery_id=b.battery_id, kind=EventKind(kind),
        occurred_at=body["occurred_at"], actor_org_id=principal.org_id or "", site_id=body.get("site_id"),
        payload=body.get("payload") or {},
    )
    res = append_events(session, [event])
    return {"appended": res.appended, "unchanged": res.unchanged, "event_id": event.with_derived_id().event_id,
            "head_global_seq": res.head_global_seq, "head_sha256": res.head_sha256}


def _receiving(session: Session, principal: Principal, b: Battery, kind: str) -> bool:
    """Whether the caller receives a battery shipped to it (the last shipment names it)."""
    if kind != EventKind.RECEIVED.value or Scope.WRITE not in principal.scopes:
        return False
    shipped = [e for e in battery_history(session, b.battery_id) if e["kind"] == "shipped"]
    return bool(shipped) and shipped[-1]["payload"].get("to_org_id") == principal.org_id


def update_dynamic(session: Session, principal: Principal, identifier: str, values: dict[str, float],
                   occurred_at: datetime | None, site_id: str | None) -> dict[str, Any]:
    """Record new dynamic values (SOH, cycles, ...) as a ``bms_snapshot`` ledger event."""
    if not values:
        raise InvalidInput(Problem(None, "values", "give at least one dynamic value"))
    b = _battery(session, identifier)
    return append_event(session, principal, {
        "battery_id": b.battery_id, "kind": EventKind.BMS_SNAPSHOT.value, "occurred_at": occurred_at or _now(),
        "site_id": site_id, "payload": dict(values),
    })


def resolve_identifier(session: Session, identifier: str) -> dict[str, Any]:
    """The battery behind an identifier in any accepted scheme (public)."""
    parsed = parse_identifier(identifier)
    b = _battery(session, identifier)
    return {"identifier": identifier, "scheme": parsed.scheme, "canonical": parsed.canonical,
            "battery_id": b.battery_id, "passport_id": b.passport_id, "level": b.level}


# ---------------------------------------------------------------- fleet, ledger


def fleet_scope(principal: Principal) -> Any:
    """The SQL scope of the caller's fleet aggregates (None: whole fleet)."""
    _require_scope(principal, Scope.READ)
    if principal.sees_whole_fleet:
        return None
    return repo.legitimate_scope(principal.org_id or "", maker=principal.role in MAKER_ROLES, now=_ts())


def fleet(session: Session, principal: Principal, level: str = "pack") -> dict[str, Any]:
    """Fleet aggregates: the whole fleet for authorities, Commission and operator; otherwise the caller's own."""
    scope = fleet_scope(principal)
    out = repo.fleet_counts(session, scope, level=level)
    out["scope"] = "whole fleet" if scope is None else f"batteries visible to {principal.org_id}"
    out["retirements_by_year"] = repo.retirements_by_year(session, scope)
    out["events_by_kind"] = repo.events_by_kind(session, scope)
    return out


def ledger_status(session: Session, principal: Principal, *, full: bool) -> dict[str, Any]:
    """The ledger head; with ``full``, a verification of every chain (authorities, Commission, operator)."""
    _require_scope(principal, Scope.READ)
    seq, sha = repo.ledger_head(session)
    out: dict[str, Any] = {"head_global_seq": seq, "head_sha256": sha}
    if full:
        if not principal.sees_whole_fleet:
            raise AccessDenied("ledger verification is for authorities, the Commission and the operator")
        report = verify_ledger(session, max_findings=100)
        out.update({"ok": report.ok, "events_checked": report.events_checked,
                    "batteries_checked": report.batteries_checked, "truncated": report.truncated,
                    "findings": [str(f) for f in report.findings[:100]]})
    return out


# ---------------------------------------------------------------- grants and access log


def _grant_out(g: Any) -> dict[str, Any]:
    keys = ("grant_id", "org_id", "battery_id", "purpose", "justification", "status", "requested_at",
            "decided_at", "decision_note", "expires_at")
    return {k: getattr(g, k) for k in keys}


def request_grant(session: Session, principal: Principal, identifier: str, purpose: str,
                  justification: str) -> dict[str, Any]:
    """A chain actor asks for legitimate-interest access to one battery."""
    _require_scope(principal, Scope.WRITE)
    if principal.global_audience is not None:
        raise AccessDenied("authorities, the Commission and the operator do not need grants")
    b = _battery(session, identifier)
    pending = [g for g in repo.list_grants(session, principal.org_id, "requested") if g.battery_id == b.battery_id]
    if pending:
        raise Conflict(f"a request for {b.battery_id} is already pending ({pending[0].grant_id})")
    row = {"grant_id": str(uuid.uuid4()), "org_id": principal.org_id, "battery_id": b.battery_id, "purpose": purpose,
           "justification": justification, "status": "requested", "requested_by": principal.user_id,
           "requested_at": _ts(), "decided_by": None, "decided_at": None, "decision_note": None, "expires_at": None}
    repo.add_grant(session, **row)
    return _grant_out(repo.get_grant(session, row["grant_id"]))


def list_grants(session: Session, principal: Principal, status: str | None = None) -> list[dict[str, Any]]:
    """The caller's organisation's grants (the operator: every grant)."""
    _require_scope(principal, Scope.READ)
    org = None if principal.is_operator else principal.org_id
    return [_grant_out(g) for g in repo.list_grants(session, org, status)]


def decide_grant(session: Session, principal: Principal, grant_id: str, decision: str, note: str | None,
                 valid_days: int = GRANT_DEFAULT_DAYS) -> dict[str, Any]:
    """The operator approves, refuses or revokes a grant."""
    _require_scope(principal, Scope.ADMIN)
    if not principal.is_operator:
        raise AccessDenied("only the registry operator decides on access requests")
    g = repo.get_grant(session, grant_id)
    if g is None:
        raise NotFound(f"no grant '{grant_id}'")
    allowed = {"approve": ("requested",), "refuse": ("requested",), "revoke": ("approved",)}[decision]
    if g.status not in allowed:
        raise Conflict(f"grant {grant_id} is '{g.status}': cannot {decision} it")
    now = _now()
    g.status = {"approve": "approved", "refuse": "refused", "revoke": "revoked"}[decision]
    g.decided_by, g.decided_at, g.decision_note = principal.user_id, _ts(now), note
    if decision == "approve":
        g.expires_at = _ts(now + timedelta(days=valid_days))
    return _grant_out(g)


def read_access_log(session: Session, principal: Principal, *, before: int | None, org_id: str | None,
                    battery_id: str | None, limit: int) -> dict[str, Any]:
    """Who read what (operator only)."""
    _require_scope(principal, Scope.ADMIN)
    if not principal.is_operator:
        raise AccessDenied("the access log is for the registry operator")
    rows = repo.access_log(session, before=before, org_id=org_id, battery_id=battery_id, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    keys = ("entry_id", "at", "org_id", "user_id", "key_id", "battery_id", "audience", "action", "ground")
    return {"items": [{k: getattr(r, k) for k in keys} for r in rows],
            "next_before": rows[-1].entry_id if more and rows else None}


# ---------------------------------------------------------------- demo users


def demo_email(org_id: str) -> str:
    """The demo user's e-mail of an organisation (``<org_id lower>@demo.circulith``)."""
    return f"{org_id.lower()}@demo.circulith"


def seed_demo_users(engine: Engine, password: str = DEMO_PASSWORD) -> list[dict[str, str]]:
    """One demo user per organisation (idempotent); returns the credentials to print.

    Returns
    -------
    list of dict
        ``email``, ``password``, ``org_id``, ``role`` per organisation.
    """
    out = []
    with transaction(engine) as session:
        hashed: str | None = None
        for org in repo.list_organisations(session):
            email = demo_email(org.org_id)
            if repo.get_user_by_email(session, email) is None:
                hashed = hashed or hash_password(password)
                repo.add_user(session, user_id=f"user-{org.org_id.lower()}", email=email, org_id=org.org_id,
                              display_name=f"Demo user of {org.name}", password_hash=hashed, active=True,
                              created_at=_ts())
            out.append({"email": email, "password": password, "org_id": org.org_id, "role": org.role})
    return out


# ---------------------------------------------------------------- triage


TRIAGE_ROLES = frozenset({Role.OPERATOR, Role.RECYCLER, Role.DISMANTLER})
"""Who grades the registry: the operator (every pack) and dismantlers and recyclers (packs in their custody)."""
PACK_RESULT_KEYS = ("battery_id", "chemistry", "grade", "application", "rule_id", "clause", "soh_pct", "soh_low_pct",
                    "soh_high_pct", "further_test", "explanation", "custodian_org_id")


def _triage_scope(principal: Principal, *, record: bool) -> str | None:
    """The custodian whose packs the caller may grade (None: every pack, the operator)."""
    _require_scope(principal, Scope.WRITE if record else Scope.READ)
    if principal.role not in TRIAGE_ROLES:
        raise AccessDenied("grading is for the registry operator, dismantlers and recyclers")
    return None if principal.is_operator else principal.org_id


def _log_graded(engine: Engine, principal: Principal, packs: list[dict[str, Any]], action: str) -> None:
    """Grading reads each pack's dynamic values (legitimate interest): log every read."""
    if not packs:
        return
    ground = "operator" if principal.is_operator else "custody"
    audience = Audience.PUBLIC.value if principal.is_operator else Audience.LEGITIMATE.value
    at = _ts()
    with transaction(engine) as session:
        repo.log_reads(session, ({"at": at, "org_id": principal.org_id, "user_id": principal.user_id,
                                  "key_id": principal.key_id, "battery_id": p["battery_id"], "audience": audience,
                                  "action": action, "ground": ground} for p in packs))


def triage_grade(engine: Engine, principal: Principal, *, record: bool, chemistry: str | None = None,
                 application: str | None = None, limit: int | None = None, as_of: Any = None,
                 max_packs_listed: int = 500) -> dict[str, Any]:
    """Grade the packs awaiting evaluation that the caller may grade (see :data:`TRIAGE_ROLES`).

    With ``record`` the ``tested``/``graded`` events are written (needs the ``write`` scope);
    without, a preview (``read`` scope). Packs listed are capped at ``max_packs_listed``.
    """
    from circulith.services.triage import grade_registry

    custodian = _triage_scope(principal, record=record)
    out = grade_registry(engine, application=application, chemistry=chemistry, custodian_org_id=custodian,
                         limit=limit, as_of=as_of, record=record)
    _log_graded(engine, principal, out["packs"], "triage_grade" if record else "triage_preview")
    packs = [{k: p.get(k) for k in PACK_RESULT_KEYS} for p in out["packs"]]
    regroup = {k: {kk: v[kk] for kk in ("groups", "usable_energy_kwh", "leftovers")}
               for k, v in out["regroup"].items()}
    return {"recorded": record, "scope": "every custodian" if custodian is None else custodian,
            "rules_version": out["rules_version"], "graded_packs": out["graded_packs"],
            "counts": {lvl: {str(g): int(n) for g, n in c.items()} for lvl, c in out["counts"].items()},
            "events_written": out["events_written"], "regroup": regroup, "packs": packs[:max_packs_listed],
            "packs_truncated": len(packs) > max_packs_listed}


def triage_grade_work(engine: Engine, principal: Principal, *, chemistry: str | None = None,
                      application: str | None = None, batch: int = 100) -> Any:
    """The background job "grade the registry": checks access now, returns the work for the job runner.

    The work grades ``batch`` packs at a time (each batch is recorded, so it leaves the
    awaiting-evaluation states) and reports progress after each batch.
    """
    from circulith.services.triage import AWAITING_EVALUATION

    custodian = _triage_scope(principal, record=True)

    def work(progress: Any) -> dict[str, Any]:
        with transaction(engine) as session:
            total = repo.count_packs(session, AWAITING_EVALUATION, custodian_org_id=custodian, chemistry=chemistry)
        progress(0, total, "grading")
        done = events = 0
        counts: dict[str, int] = {}
        for _ in range(total // batch + 2):  # bounded even if a batch were refused
            part = triage_grade(engine, principal, record=True, chemistry=chemistry, application=application,
                                limit=batch, max_packs_listed=0)
            if part["graded_packs"] == 0:
                break
            done += part["graded_packs"]
            events += part["events_written"]
            for g, n in part["counts"].get("pack", {}).items():
                counts[g] = counts.get(g, 0) + n
            progress(min(done, total), total, "grading")
            if part["events_written"] == 0:
                break
        return {"graded_packs": done, "events_written": events, "pack_grades": counts}

    return work


def import_passports_work(engine: Engine, principal: Principal, path: Any, *, chunk: int = 200) -> Any:
    """The background job "import a file" of passports (CSV, JSON, JSON Lines), through :func:`create_passports`.

    Checks access now; the work validates every record first (nothing is written if any is
    invalid), then registers them chunk by chunk with the same rules as the API (makers: their
    own batteries only).
    """
    from circulith.io.records import iter_records
    from circulith.passport.model import parse_passport

    _require_scope(principal, Scope.WRITE)
    if not principal.is_operator and principal.role not in MAKER_ROLES:
        raise AccessDenied("only battery makers, OEMs and the registry operator register passports")

    def work(progress: Any) -> dict[str, Any]:
        passports: list[Passport] = []
        problems: list[Problem] = []
        for row, record in iter_records(path):
            try:
                passports.append(parse_passport(record, row=row))
            except InvalidInput as exc:
                problems.extend(exc.problems)
        if problems:
            raise InvalidInput(problems, source="uploaded file")
        total = len(passports)
        progress(0, total, "registering")
        created = unchanged = 0
        # Packs first keeps parents before their modules and cells across chunks.
        passports.sort(key=lambda p: {"pack": 0, "module": 1, "cell": 2}.get(str(p.level), 3))
        for i in range(0, total, chunk):
            with transaction(engine) as session:
                res = create_passports(session, principal, passports[i : i + chunk])
            created += res["created"]
            unchanged += res["unchanged"]
            progress(min(i + chunk, total), total, "registering")
        return {"records": total, "created": created, "unchanged": unchanged}

    return work


def triage_overview(session: Session, principal: Principal) -> dict[str, Any]:
    """Retirements and triage for the dashboard, from the latest ``graded`` event of each pack in scope.

    Grade mix, state-of-health distribution (the graded SOH estimate), and the modules fit for
    second life regrouped into packs of consistent capacity (per chemistry and application).
    """
    import pandas as pd

    from circulith.triage.regroup import regroup
    from circulith.triage.rules import load_rules

    scope = fleet_scope(principal)
    rows = repo.latest_payloads(session, "graded", scope)
    tested = {b.battery_id: json.loads(p) for b, _, p in repo.latest_payloads(session, "tested", scope)}
    grades: dict[str, int] = {}
    soh_bins = {f"{lo}-{lo + 5}": 0 for lo in range(50, 100, 5)}
    soh_bins["<50"] = 0
    packs: list[dict[str, Any]] = []
    fit: list[dict[str, Any]] = []
    for b, at, text in rows:
        p = json.loads(text)
        grade = str(p.get("grade"))
        grades[grade] = grades.get(grade, 0) + 1
        soh = tested.get(b.battery_id, {}).get("soh_pct")
        if isinstance(soh, int | float):
            lo = int(soh // 5 * 5)
            soh_bins["<50" if soh < 50 else f"{min(lo, 95)}-{min(lo, 95) + 5}"] += 1
        packs.append({"battery_id": b.battery_id, "chemistry": b.chemistry, "graded_at": at, "grade": grade,
                      "application": p.get("application"), "rule_id": p.get("rule_id"),
                      "soh_pct": soh, "pack_decision": p.get("pack_decision"),
                      "explanation": p.get("explanation")})
        for m in p.get("modules") or []:
            if m.get("grade") in ("reuse", "repurpose"):
                fit.append(m | {"chemistry": b.chemistry})
    regrouped: list[dict[str, Any]] = []
    if fit:
        mods = {m.battery_id: m for m in repo.batteries_by_ids(session, [f["battery_id"] for f in fit])}
        frame = pd.DataFrame([f for f in fit if f["battery_id"] in mods])
        if not frame.empty:
            docs = {bid: json.loads(m.document) for bid, m in mods.items()}
            frame["capacity_ah"] = [docs[b]["rated_capacity_ah"] * s / 100.0
                                    for b, s in zip(frame["battery_id"], frame["soh_pct"], strict=True)]
            frame["nominal_voltage_v"] = [docs[b]["nominal_voltage_v"] for b in frame["battery_id"]]
            rules = load_rules()
            frame["application"] = frame["application"].fillna("").replace("", "stationary_storage")
            for (chem, application), grp in frame.groupby(["chemistry", "application"]):
                if application not in rules["applications"]:
                    continue
                res = regroup(grp[["battery_id", "capacity_ah", "nominal_voltage_v", "grade"]],
                              application=application, rules=rules)
                for k, g in enumerate(res.groups):
                    regrouped.append({"group": f"{chem}/{application}/{k + 1}", "chemistry": chem,
                                      "application": application, "modules": len(g["battery_ids"]),
                                      "capacity_spread_pct": round(float(g["capacity_spread_pct"]), 2),
                                      "usable_energy_kwh": round(float(g["usable_energy_kwh"]), 2)})
    _log(session, principal, [
        _Seen(b, Audience.LEGITIMATE if scope is not None else principal.global_audience or Audience.PUBLIC,
              "triage_overview") for b, _, _ in rows], "triage_overview")
    return {"graded_packs": len(rows), "grades": dict(sorted(grades.items())), "soh_pct_bins": soh_bins,
            "packs": packs, "regrouped": regrouped, "fit_modules": len(fit)}


# ---------------------------------------------------------------- recovery and prices


METAL_COMMODITIES = ("Al", "Co", "Cu", "Li2CO3", "Mn", "Ni")
"""Commodities a metal-price multiplier scales (graphite and steel scrap keep their price)."""


def price_scenario(price_date: Any = None, metal_price_multiplier: float = 1.0) -> tuple[Any, Any]:
    """The shipped price book as of ``price_date`` (latest if None) with metal prices scaled.

    Returns
    -------
    (PriceBook, date)
    """
    import datetime as dt

    from circulith.recovery.prices import default_price_book, latest_price_date

    if not 0 < metal_price_multiplier <= 10:
        raise InvalidInput(Problem(None, "metal_price_multiplier", "must lie in (0, 10]"))
    book = default_price_book()
    for c in METAL_COMMODITIES:
        if metal_price_multiplier != 1.0:
            book = book.scaled(c, metal_price_multiplier)
    as_of = price_date or latest_price_date(book)
    if isinstance(as_of, str):
        try:
            as_of = dt.date.fromisoformat(as_of)
        except ValueError:
            raise InvalidInput(Problem(None, "price_date", f"'{as_of}' is not an ISO date (YYYY-MM-DD)")) from None
    return book, as_of


def price_dates() -> list[str]:
    """Dates of the shipped price observations (for the scenario switch)."""
    from circulith.recovery.prices import default_price_book

    return sorted({o.date.isoformat() for o in default_price_book().observations})


def recovery_run(principal: Principal, *, chemistry: str, form: str, mass_kg: float, route: str,
                 price_date: Any = None, metal_price_multiplier: float = 1.0) -> dict[str, Any]:
    """Run a lot through one route (any logged-in caller: a calculation on the caller's own inputs)."""
    from circulith.recovery.compliance import material_recovery_check
    from circulith.recovery.valuation import evaluate

    _require_scope(principal, Scope.READ)
    book, as_of = price_scenario(price_date, metal_price_multiplier)
    res = evaluate(chemistry, form, mass_kg, route, prices=book, as_of=as_of)
    out = res.model_dump(mode="json")
    out["metal_price_multiplier"] = metal_price_multiplier
    out["eu_material_recovery"] = [c.model_dump(mode="json") for c in material_recovery_check(res.element_recovery)]
    return out


def recovery_compare(principal: Principal, *, chemistry: str, form: str, mass_kg: float, price_date: Any = None,
                     metal_price_multiplier: float = 1.0) -> dict[str, Any]:
    """Every route side by side for one chemistry, form and mass."""
    from circulith.recovery.pricing import DEFAULT_ROUTES
    from circulith.recovery.valuation import theoretical_metal_value

    runs = {r: recovery_run(principal, chemistry=chemistry, form=form, mass_kg=mass_kg, route=r,
                            price_date=price_date, metal_price_multiplier=metal_price_multiplier)
            for r in DEFAULT_ROUTES}
    book, as_of = price_scenario(price_date, metal_price_multiplier)
    keys = ("revenue_usd", "cost_usd", "net_usd", "energy_mj", "ghg_kg_co2e", "water_m3", "black_mass_kg",
            "element_recovery")
    return {"chemistry": chemistry, "form": form, "mass_kg": mass_kg, "price_date": as_of.isoformat(),
            "metal_price_multiplier": metal_price_multiplier,
            "theoretical_metal_value_usd_per_t": theoretical_metal_value(chemistry, form, prices=book, as_of=as_of),
            "routes": {r: {k: d[k] for k in keys} for r, d in runs.items()}}


def value_matrix(principal: Principal, *, form: str = "pack", price_date: Any = None,
                 metal_price_multiplier: float = 1.0) -> dict[str, Any]:
    """Net value per tonne of every route for every chemistry [USD/t] under a price scenario."""
    from circulith.recovery.composition import FORMS
    from circulith.recovery.pricing import DEFAULT_ROUTES, value_tables

    _require_scope(principal, Scope.READ)
    if form not in FORMS:
        raise InvalidInput(Problem(None, "form", f"unknown form '{form}'; use {', '.join(FORMS)}"))
    book, as_of = price_scenario(price_date, metal_price_multiplier)
    t = value_tables(DEFAULT_ROUTES, prices=book, as_of=as_of)
    f = list(FORMS).index(form)
    rows = []
    for c, chem in enumerate(t.chemistries):
        k = c * len(FORMS) + f
        rows.append({"chemistry": chem, **{f"{r}_usd_per_t": round(float(t.revenue[i, k] - t.cost[i, k]) * 1000, 1)
                                           for i, r in enumerate(t.routes)}})
    return {"form": form, "price_date": as_of.isoformat(), "metal_price_multiplier": metal_price_multiplier,
            "routes": list(t.routes), "rows": rows, "prices_usd_per_kg": book.scenario(as_of)}


def price_passport(session: Session, principal: Principal, identifier: str, *, price_date: Any = None,
                   metal_price_multiplier: float = 1.0, logistics_usd_per_kg: float = 0.0,
                   margin_fraction: float = 0.0) -> dict[str, Any]:
    """Price one battery the caller may see beyond the public view (custody, maker, grant, authorities)."""
    import pandas as pd

    from circulith.recovery.pricing import price_fleet

    _require_scope(principal, Scope.READ)
    b = _battery(session, identifier)
    (s,) = _audiences(session, principal, [b])
    if not is_restricted(s.audience):
        raise AccessDenied(f"you may not price {b.battery_id}: it is not in your custody, not made by you and you "
                           "hold no grant for it (request one at /api/v1/grants)")
    book, as_of = price_scenario(price_date, metal_price_multiplier)
    form = b.level if b.level in ("pack", "module", "cell") else "pack"
    frame = pd.DataFrame({"battery_id": [b.battery_id], "chemistry": [b.chemistry], "form": [form],
                          "mass_kg": [b.mass_kg]})
    priced = price_fleet(frame, prices=book, as_of=as_of, logistics_usd_per_kg=logistics_usd_per_kg,
                         margin_fraction=margin_fraction)
    row = priced.iloc[0]
    nets = {c[4:-4]: round(float(row[c]), 2) for c in priced.columns if c.startswith("net_") and c.endswith("_usd")}
    _log(session, principal, [s], "price")
    return {"battery_id": b.battery_id, "chemistry": b.chemistry, "form": form, "mass_kg": b.mass_kg,
            "price_date": as_of.isoformat(), "metal_price_multiplier": metal_price_multiplier,
            "best_route": str(row["best_route"]), "destination": str(row["destination"]),
            **{k: round(float(row[k]), 2) for k in ("revenue_usd", "processing_cost_usd", "logistics_usd",
                                                     "margin_usd", "offer_usd")},
            "net_by_route_usd": nets}


# ---------------------------------------------------------------- compliance


COMPLIANCE_READERS = AUTHORITY_ROLES | {Role.COMMISSION}
"""Who reads every plant's compliance report (besides the plant's own organisation)."""


def _plant_lots(session: Session, plant_id: str | None) -> list[tuple[str, Any]]:
    """(recording organisation, lot) of a plant's recorded lots (all plants when None)."""
    from circulith.store.lot_repo import plant_lots

    return [(stored.actor_org_id, stored.lot) for stored in plant_lots(session, plant_id)]


def compliance_plants(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """Plants with lot records the caller may report on: authorities and the Commission all, others their own."""
    _require_scope(principal, Scope.READ)
    plants: dict[str, dict[str, Any]] = {}
    for actor, lot in _plant_lots(session, None):
        if principal.role in COMPLIANCE_READERS or actor == principal.org_id:
            p = plants.setdefault(lot.plant_id, {"plant_id": lot.plant_id, "org_id": actor, "years": set()})
            when = getattr(lot, "received_on", None) or getattr(lot, "produced_on", None)
            if when is not None:
                p["years"].add(when.year)
    return [{**p, "years": sorted(p["years"])} for _, p in sorted(plants.items())]


def compliance(session: Session, principal: Principal, plant_id: str, year: int) -> dict[str, Any]:
    """A plant's compliance report for a year from its lot records (Annex XII efficiencies, recovery targets).

    Authorities and the Commission read any plant's; the organisation that recorded a plant's lots
    reads its own. Another organisation's plant is reported as unknown (404), not as forbidden, so
    that plant names do not leak.
    """
    from circulith.recovery.compliance import compliance_report

    _require_scope(principal, Scope.READ)
    lots = _plant_lots(session, plant_id)
    mine = [lot for actor, lot in lots if principal.role in COMPLIANCE_READERS or actor == principal.org_id]
    if not mine:
        raise NotFound(f"no lot records of plant '{plant_id}' that you may report on")
    report = compliance_report(mine, plant_id, year)
    return report.model_dump(mode="json")


# ---------------------------------------------------------------- background jobs


def job_out(job: Any) -> dict[str, Any]:
    """A job as the API shows it."""
    return job.as_dict()


def submit_job(runner: Any, principal: Principal, kind: str, work: Any, title: str) -> dict[str, Any]:
    """Queue a job for the caller's organisation (access was checked when ``work`` was built)."""
    _require_login(principal)
    return job_out(runner.submit(kind, principal.org_id or "", work, title=title))


def job_status(runner: Any, principal: Principal, job_id: str) -> dict[str, Any]:
    """One of the caller's organisation's jobs (others' jobs are unknown to it)."""
    _require_login(principal)
    job = runner.get(job_id)
    if job is None or job.owner_org_id != principal.org_id:
        raise NotFound(f"no job '{job_id}' of your organisation (jobs are kept in memory until the server restarts)")
    return job_out(job)


def list_jobs(runner: Any, principal: Principal) -> list[dict[str, Any]]:
    """The caller's organisation's jobs, newest first."""
    _require_login(principal)
    return [job_out(j) for j in runner.list(principal.org_id)]
