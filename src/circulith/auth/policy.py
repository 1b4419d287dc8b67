"""Who may see and do what: roles, principals, and the audience for one battery.

Role → audience (combined with the Annex XIII lattice of :mod:`circulith.passport.access`):

===================  ========================================================================
role                 audience for a battery's passport
===================  ========================================================================
(no login)           ``public``
oem, battery_maker   ``legitimate`` for batteries they manufactured (``manufacturer_id``), hold
                     in custody, or hold an approved grant for; ``public`` otherwise
dismantler,          ``legitimate`` for batteries in their custody (``custodian_org_id``) or
reuse_integrator,    with an approved grant (Art. 77(2)(c), third subparagraph: repair,
recycler, refiner    repurposing, recycling); ``public`` otherwise
notified_body,       ``authority`` for every battery (Art. 77(2)(b))
market_surveillance
commission           ``commission`` for every battery (Art. 77(2)(b))
operator             ``public`` for passport data (least privilege); administers grants, reads
                     the access log and verifies the ledger
===================  ========================================================================

Private records (event payloads other than custody facts and passport data) are visible to the
organisation that recorded them, to authorities, the Commission and the operator
(:func:`event_view`). Passport data in event payloads (dynamic values, status, the vehicle) follows
the lattice for everyone, as in the passport view: dynamic values are legitimate-interest data
(Annex XIII point 4), so the operator, authorities and the Commission do not see them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from circulith.passport.access import AccessPoint, Audience, entitled
from circulith.passport.payload_access import payload_key_access


class Role(StrEnum):
    """Organisation roles (``organisations.role``)."""

    OEM = "oem"
    BATTERY_MAKER = "battery_maker"
    DISMANTLER = "dismantler"
    REUSE_INTEGRATOR = "reuse_integrator"
    RECYCLER = "recycler"
    REFINER = "refiner"
    NOTIFIED_BODY = "notified_body"
    MARKET_SURVEILLANCE = "market_surveillance"
    COMMISSION = "commission"
    OPERATOR = "operator"


AUTHORITY_ROLES = frozenset({Role.NOTIFIED_BODY, Role.MARKET_SURVEILLANCE})
CHAIN_ROLES = frozenset({Role.OEM, Role.BATTERY_MAKER, Role.DISMANTLER, Role.REUSE_INTEGRATOR, Role.RECYCLER,
                         Role.REFINER})
MAKER_ROLES = frozenset({Role.OEM, Role.BATTERY_MAKER})


class Scope(StrEnum):
    """What a credential may do. Browser sessions carry every scope of their user."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True)
class Principal:
    """Who is calling.

    Parameters
    ----------
    org_id : str or None
        The caller's organisation; None for the anonymous public.
    role : Role or None
        The organisation's role.
    user_id : str or None
        The user (browser session or key owner).
    key_id : str or None
        The API key used, if any.
    scopes : frozenset of Scope
        What the credential allows.
    via : {"anonymous", "session", "api_key", "cli"}
        How the caller authenticated (CSRF applies to sessions only; ``cli``: a local run acting as
        ``org_id`` with ``--as``).
    session_digest : str or None
        Digest of the browser session (for CSRF).
    """

    org_id: str | None = None
    role: Role | None = None
    user_id: str | None = None
    key_id: str | None = None
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    via: str = "anonymous"
    session_digest: str | None = None

    @property
    def authenticated(self) -> bool:
        """Whether the caller logged in or presented a key."""
        return self.org_id is not None

    @property
    def is_operator(self) -> bool:
        """Whether the caller runs the registry."""
        return self.role is Role.OPERATOR

    @property
    def global_audience(self) -> Audience | None:
        """The audience the role has for every battery, or None where it depends on the battery."""
        if self.role in AUTHORITY_ROLES:
            return Audience.AUTHORITY
        if self.role is Role.COMMISSION:
            return Audience.COMMISSION
        if self.role is Role.OPERATOR or self.role is None:
            return Audience.PUBLIC
        return None

    @property
    def sees_whole_fleet(self) -> bool:
        """Whether fleet aggregates cover every battery (authorities, Commission, operator)."""
        return self.role in AUTHORITY_ROLES or self.role in (Role.COMMISSION, Role.OPERATOR)


ANONYMOUS = Principal()


@dataclass(frozen=True)
class BatteryFacts:
    """What decides a chain actor's audience for one battery."""

    manufacturer_id: str
    custodian_org_id: str | None
    granted: bool = False


def audience_for(principal: Principal, facts: BatteryFacts) -> Audience:
    """The audience ``principal`` has for the battery described by ``facts`` (see the module table)."""
    fixed = principal.global_audience
    if fixed is not None:
        return fixed
    org = principal.org_id
    if facts.custodian_org_id == org or facts.granted:
        return Audience.LEGITIMATE
    if principal.role in MAKER_ROLES and facts.manufacturer_id == org:
        return Audience.LEGITIMATE
    return Audience.PUBLIC


def is_restricted(audience: Audience) -> bool:
    """Whether ``audience`` sees anything beyond the public attributes (such reads are logged)."""
    return audience is not Audience.PUBLIC


# Event payload keys that state custody and identity facts: visible with the history itself.
CUSTODY_KEYS = frozenset({"to_org_id", "from_org_id", "region", "level", "passport_id", "passport_sha256",
                          "parent_battery_id", "site", "reason"})


_DYNAMIC_TOKENS = ("soh", "soc", "remaining_", "cycles", "throughput", "resistance", "temp", "discharge_events",
                   "overcharge", "accident", "capacity_ah", "efficiency")


def is_dynamic_key(key: str, dynamic_keys: frozenset[str] = frozenset()) -> bool:
    """Whether a payload key carries the battery's dynamic condition (legitimate interest, Annex XIII 4).

    Known keys, and by name any key about state of health or charge, remaining values, cycles,
    throughput, resistance, temperature exposure, abuse events or accidents (default-deny for
    measurements we have not listed, such as ``module_soh_pct``).
    """
    low = key.lower()
    return key in dynamic_keys or any(tok in low for tok in _DYNAMIC_TOKENS)


def event_view(event: dict[str, Any], principal: Principal, audience: Audience,
               dynamic_keys: frozenset[str]) -> dict[str, Any]:
    """One ledger event as ``principal`` (with ``audience`` for the battery) may see it.

    Custody facts are shown to anyone who may read the history. Passport data in a payload (a key
    :func:`circulith.passport.payload_access.payload_key_access` maps to an Annex XIII access point,
    and by name any other dynamic value, which is legitimate interest) is shown exactly when the
    audience is entitled to that access point, as in the passport view, whoever recorded it: the
    operator (audience ``public``) sees no state of health, not even in an event it recorded, and
    authorities and the Commission see no dynamic values. Every other payload key is the recording
    organisation's private record, shown to it, to authorities, the Commission and the operator.
    """
    points = entitled(audience)
    actor = event.get("actor_org_id") == principal.org_id
    overseer = principal.role in AUTHORITY_ROLES or principal.role in (Role.COMMISSION, Role.OPERATOR)
    payload = event.get("payload") or {}
    shown: dict[str, Any] = {}
    withheld: list[str] = []
    for key, value in payload.items():
        point = None if key in CUSTODY_KEYS else payload_key_access(key)
        if point is None and key not in CUSTODY_KEYS and is_dynamic_key(key, dynamic_keys):
            point = AccessPoint.LEGITIMATE_INTEREST
        if key in CUSTODY_KEYS:
            ok = True
        elif point is not None:
            ok = point in points
        else:
            ok = actor or overseer
        if ok:
            shown[key] = value
        else:
            withheld.append(key)
    out = {k: v for k, v in event.items() if k != "payload"}
    out["payload"] = shown
    out["withheld"] = sorted(withheld)
    return out


def may_read_history(principal: Principal, audience: Audience) -> bool:
    """Whether the caller may read a battery's event history (a restricted audience, or the operator)."""
    return principal.authenticated and (audience is not Audience.PUBLIC or principal.is_operator)


def may_append(principal: Principal, facts: BatteryFacts) -> bool:
    """Whether the caller may record an event on the battery (custodian, maker, grantee, operator)."""
    if Scope.WRITE not in principal.scopes or principal.role is None:
        return False
    if principal.is_operator:
        return True
    if principal.role not in CHAIN_ROLES:
        return False
    return audience_for(principal, facts) is Audience.LEGITIMATE
