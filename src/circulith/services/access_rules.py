"""What every service shares: time stamps, credential checks, audiences per battery, the access log.

Each service takes the acting :class:`~circulith.auth.policy.Principal`, decides its audience per
battery here (:func:`audiences`, with :func:`circulith.auth.policy.audience_for`) and logs every read of
non-public data here (:func:`log_seen`), so the CLI, the API and the dashboard apply one set of rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied, NotAuthenticated
from circulith.auth.policy import (
    AUTHORITY_ROLES,
    MAKER_ROLES,
    BatteryFacts,
    Principal,
    Role,
    Scope,
    audience_for,
    is_restricted,
)
from circulith.errors import NotFound
from circulith.ledger.events import format_timestamp
from circulith.passport.access import Audience
from circulith.store import platform_repo as repo
from circulith.store.models import Battery


def now_utc() -> datetime:
    """The current time (UTC, aware)."""
    return datetime.now(UTC)


def timestamp(at: datetime | None = None) -> str:
    """``at`` (default: now) as the registry's canonical UTC time stamp text."""
    return format_timestamp(at or now_utc())


def require_login(principal: Principal) -> None:
    """Refuse anonymous callers.

    Raises
    ------
    NotAuthenticated
        If the principal carries no credential.
    """
    if not principal.authenticated:
        raise NotAuthenticated("log in or present an API key")


def require_scope(principal: Principal, scope: Scope) -> None:
    """Refuse callers without ``scope``.

    Raises
    ------
    NotAuthenticated
        If the principal carries no credential.
    AccessDenied
        If its credential lacks the scope.
    """
    require_login(principal)
    if scope not in principal.scopes:
        raise AccessDenied(f"this credential lacks the '{scope.value}' scope")


@dataclass
class Seen:
    """A battery with the audience the caller has for it and the ground of that audience."""

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


def audiences(session: Session, principal: Principal, batteries: list[Battery]) -> list[Seen]:
    """The caller's audience for each battery (one grant query at most)."""
    granted: set[str] = set()
    org = principal.org_id
    if principal.global_audience is None and org and batteries:
        # a grant changes nothing where custody or (for makers) manufacture already gives legitimate interest
        maker = principal.role in MAKER_ROLES
        open_ids = [b.battery_id for b in batteries
                    if b.custodian_org_id != org and not (maker and b.manufacturer_id == org)]
        if open_ids:
            granted = repo.granted_battery_ids(session, org, open_ids, timestamp())
    out = []
    for b in batteries:
        is_granted = b.battery_id in granted
        aud = audience_for(principal, BatteryFacts(b.manufacturer_id, b.custodian_org_id, is_granted))
        out.append(Seen(b, aud, _ground(principal, b, is_granted)))
    return out


def log_seen(session: Session, principal: Principal, seen: list[Seen], action: str, *,
             revealed: bool = False) -> None:
    """Append one access-log entry per battery read with non-public data (in the caller's transaction).

    Every read of non-public data by anyone is logged: reads with a restricted audience, and, with
    ``revealed``, reads that showed non-public data whatever the audience (the registry operator
    reading other organisations' private event fields: its audience is public, its ground its
    role). Public reads are not logged.
    """
    at = timestamp()
    repo.log_reads(session, (
        {"at": at, "org_id": principal.org_id or "public", "user_id": principal.user_id, "key_id": principal.key_id,
         "battery_id": s.battery.battery_id, "audience": s.audience.value, "action": action,
         "ground": s.ground if is_restricted(s.audience) or principal.role is None else principal.role.value}
        for s in seen if is_restricted(s.audience) or (revealed and principal.authenticated)
    ))


def find_battery(session: Session, identifier: str) -> Battery:
    """The stored battery behind any accepted identifier, in one query (two for a passport ID).

    Raises
    ------
    InvalidInput
        If the identifier fails its scheme's check.
    NotFound
        If no battery carries it.
    """
    from circulith.passport.model import battery_key  # canonical form, or a plain serial as given

    b = repo.battery_by_identifier(session, battery_key(identifier))
    if b is None:
        raise NotFound(f"no battery with identifier '{identifier}'")
    return b


def ceased(b: Battery) -> bool:
    """Whether the battery's passport has ceased (the battery is recycled, Art. 77(8))."""
    return b.lifecycle_state == "recycled"
