"""Passport reads and writes: the Annex XIII view per audience, search, registration, lineage, history.

Every function takes the acting principal; what it may see is decided by
:func:`circulith.services.access_rules.audiences` and every non-public read is logged there.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import MAKER_ROLES, Principal, Scope, event_view, may_read_history
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.passport.access import Audience
from circulith.passport.attributes import project, view_paths
from circulith.passport.identifiers import parse_identifier
from circulith.passport.model import Passport
from circulith.services.access_rules import (
    Seen,
    audiences,
    ceased,
    find_battery,
    log_seen,
    require_scope,
    timestamp,
)
from circulith.services.recycled_content_view import PassportRecycledContent, passport_recycled_content
from circulith.store import platform_repo as repo
from circulith.store.ledger_store import DYNAMIC_KEYS, battery_history
from circulith.store.models import Battery
from circulith.store.registry import register_passports, stored_passport

DYNAMIC_FIELDS = frozenset(DYNAMIC_KEYS) | {"accident"}
"""Payload keys of events that carry dynamic values (shown per :func:`~circulith.auth.policy.event_view`)."""
RESTRICTED_SUMMARY = ("status", "lifecycle_state", "custodian_org_id", "custody_site_id", "region", "soh_pct")
"""Registry columns shown only to callers with legitimate interest."""
VIEW_CACHE_SIZE = 4096
"""Passport views kept per worker (keyed by the stored document, status and dynamic values themselves)."""


# ---------------------------------------------------------------- models


class PassportOut(BaseModel):
    """A passport as the caller may see it."""

    battery_id: str
    passport_id: str
    audience: Literal["public", "legitimate", "commission", "authority"]
    ground: str
    ceased: bool = Field(description="The battery is recycled: its passport has ceased (Art. 77(8)).")
    passport: dict[str, Any]
    state: dict[str, Any] | None = Field(None, description="Registry state (legitimate interest only).")
    withheld: list[str] = Field(description="Attribute paths withheld from this caller.")
    recycled_content_allocated: PassportRecycledContent | None = Field(
        None, description="Recorded mass-balance allocations of recycled content to this passport beside the "
                          "declared fractions (the same as compliance recycled-content-of); evidence lines for "
                          "non-public views only. None: nothing allocated.")


class PassportSummary(BaseModel):
    """One search result; restricted columns only where the caller has legitimate interest."""

    battery_id: str
    passport_id: str
    level: str
    parent_battery_id: str | None = None
    category: str
    chemistry: str
    model: str
    manufacturer_id: str
    manufacturing_date: str
    mass_kg: float
    rated_energy_kwh: float
    ceased: bool
    audience: str
    status: str | None = None
    lifecycle_state: str | None = None
    custodian_org_id: str | None = None
    custody_site_id: str | None = None
    region: str | None = None
    soh_pct: float | None = None


class PassportPage(BaseModel):
    """A page of search results."""

    items: list[PassportSummary]
    next_cursor: str | None = None


class CreatedOut(BaseModel):
    """What a registration did."""

    created: int
    unchanged: int
    battery_ids: list[str]


class ResolveOut(BaseModel):
    """The battery behind an identifier."""

    identifier: str
    scheme: str
    canonical: str
    battery_id: str
    passport_id: str
    level: str


class BatteryRef(BaseModel):
    """A link to another battery."""

    battery_id: str
    passport_id: str
    level: str
    ceased: bool


class LineageOut(BaseModel):
    """Pack ↔ modules ↔ cells, predecessor and successor passports (Art. 77(7))."""

    battery_id: str
    passport_id: str
    level: str
    ceased: bool
    audience: str
    parent: BatteryRef | None = None
    children: list[BatteryRef]
    predecessor: BatteryRef | None = None
    successors: list[BatteryRef]
    withheld: list[str]


class PublicPassportOut(PassportOut):
    """What the public page shows: the public view and the lineage of public links."""

    lineage: LineageOut


class EventOut(BaseModel):
    """One ledger event; payload keys the caller may not see are listed in ``withheld``."""

    battery_seq: int
    global_seq: int
    event_id: str
    kind: str
    occurred_at: str
    actor_org_id: str
    site_id: str | None = None
    payload: dict[str, Any]
    withheld: list[str]
    content_sha256: str
    battery_chain_sha256: str
    global_chain_sha256: str


class HistoryOut(BaseModel):
    """A battery's ledger history."""

    battery_id: str
    audience: str
    events: list[EventOut]


# ---------------------------------------------------------------- views


@lru_cache(maxsize=VIEW_CACHE_SIZE)
def _cached_view(document: str, status: str, dynamic_json: str, audience: Audience) -> tuple[dict[str, Any], list[str]]:
    """(shown, withheld paths) of a stored passport for an audience; a pure function of its arguments.

    The key is the stored text itself, so a passport changed by a ledger event (status, dynamic
    values) is a new key and can never be served stale. The returned objects are shared: callers
    must not mutate them.
    """
    from circulith.passport.model import readable_dynamic

    doc = json.loads(document)
    doc["status"] = status
    # a stored value that fails today's checks (recorded before them) is shown as invalid, never fatal
    doc["dynamic"], invalid = readable_dynamic(json.loads(dynamic_json))
    full = Passport.model_validate(doc).model_dump(mode="json")
    shown = project(full, view_paths(audience))
    withheld = sorted(_withheld_paths(full, shown))
    return shown, withheld + [f"dynamic.{name} (invalid)" for name in invalid]


def _withheld_paths(full: dict[str, Any], shown: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in full.items():
        if key not in shown:
            out.append(prefix + key)
        elif isinstance(value, dict) and isinstance(shown[key], dict):
            out.extend(_withheld_paths(value, shown[key], f"{prefix}{key}."))
    return out


def _summary(s: Seen) -> PassportSummary:
    b = s.battery
    out: dict[str, Any] = {
        "battery_id": b.battery_id, "passport_id": b.passport_id, "level": b.level,
        "parent_battery_id": b.parent_battery_id, "category": b.category, "chemistry": b.chemistry, "model": b.model,
        "manufacturer_id": b.manufacturer_id, "manufacturing_date": b.manufacturing_date, "mass_kg": b.mass_kg,
        "rated_energy_kwh": b.rated_energy_kwh, "ceased": ceased(b), "audience": s.audience.value,
    }
    if s.audience is Audience.LEGITIMATE:
        out.update({k: getattr(b, k) for k in RESTRICTED_SUMMARY})
    return PassportSummary(**out)


def _read_battery(session: Session, principal: Principal, b: Battery, action: str,
                  seen: Seen | None = None, *, with_allocations: bool = False) -> PassportOut:
    (s,) = [seen] if seen is not None else audiences(session, principal, [b])
    shown, withheld = _cached_view(b.document, b.status, b.dynamic_json, s.audience)
    state = None
    if s.audience is Audience.LEGITIMATE:
        state = {k: getattr(b, k) for k in RESTRICTED_SUMMARY} | {"events": b.last_seq}
    log_seen(session, principal, [s], action)
    allocated = (passport_recycled_content(session, b.battery_id, shown.get("recycled_content") or {})
                 if with_allocations else None)  # the public page's one-statement read does not look them up
    if allocated is not None and s.audience is Audience.PUBLIC:
        allocated = allocated.model_copy(update={"evidence": []})
    return PassportOut(battery_id=b.battery_id, passport_id=b.passport_id, audience=s.audience.value,
                       ground=s.ground, ceased=ceased(b), passport=shown, state=state, withheld=withheld,
                       recycled_content_allocated=allocated)


# ---------------------------------------------------------------- use cases


def read_passport(session: Session, principal: Principal, identifier: str, *, action: str = "read_passport",
                  level: Audience | None = None) -> PassportOut:
    """The passport behind any identifier, as the caller may see it (logged if non-public).

    Parameters
    ----------
    level : Audience or None
        A narrower view to show (e.g. the public one); never wider than the caller's audience.

    Raises
    ------
    AccessDenied
        If ``level`` is wider than what the caller may see.
    """
    b = find_battery(session, identifier)
    (s,) = audiences(session, principal, [b])
    if level is not None and level is not s.audience:
        if level not in _NARROWER[s.audience]:
            raise AccessDenied(f"as {principal.org_id or 'the public'} you may see the '{s.audience.value}' view of "
                               f"{b.battery_id}, not the '{level.value}' one")
        s = Seen(b, level, s.ground if level is not Audience.PUBLIC else "public")
    return _read_battery(session, principal, b, action, s, with_allocations=True)


_NARROWER: dict[Audience, frozenset[Audience]] = {
    Audience.PUBLIC: frozenset({Audience.PUBLIC}),
    Audience.LEGITIMATE: frozenset({Audience.PUBLIC, Audience.LEGITIMATE}),
    Audience.COMMISSION: frozenset({Audience.PUBLIC, Audience.COMMISSION}),
    Audience.AUTHORITY: frozenset(Audience),
}
"""The views an audience may ask for instead of its own (the authority sees every attribute, Annex XIII)."""


def public_passport(session: Session, identifier: str) -> PublicPassportOut:
    """What the public page shows: public attributes, ceased flag, lineage of public links."""
    from circulith.passport.identifiers import canonical

    public = Principal()
    found = repo.battery_with_children(session, canonical(identifier))
    if found is None:
        raise NotFound(f"no battery with identifier '{identifier}'")
    b, children = found
    (s,) = audiences(session, public, [b])
    out = _read_battery(session, public, b, "read_passport", s)
    return PublicPassportOut(**dict(out), lineage=_lineage(session, public, b, s, children))


def search(session: Session, principal: Principal, filters: dict[str, Any], *, cursor: str | None,
           limit: int) -> PassportPage:
    """Search passports; restricted columns are shown and filterable only where the caller may see them."""
    require_scope(principal, Scope.READ)
    if principal.global_audience is not None:
        scope = repo.NOTHING  # authorities, Commission, operator: no legitimate-interest columns
    else:
        scope = repo.legitimate_scope(principal.org_id or "", maker=principal.role in MAKER_ROLES, now=timestamp())
    after = repo.decode_cursor(cursor) if cursor else None
    rows = repo.search_batteries(session, filters, restricted_scope=scope, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    seen = audiences(session, principal, rows)
    log_seen(session, principal, seen, "search")
    return PassportPage(items=[_summary(s) for s in seen],
                        next_cursor=repo.encode_cursor(rows[-1].battery_id) if more and rows else None)


def create_passports(session: Session, principal: Principal, passports: list[Passport]) -> CreatedOut:
    """Register passports; makers register their own batteries only, the operator any.

    Raises
    ------
    AccessDenied
        For callers that may not register passports, or a maker's foreign battery.
    """
    require_scope(principal, Scope.WRITE)
    if not principal.is_operator:
        if principal.role not in MAKER_ROLES:
            raise AccessDenied("only battery makers, OEMs and the registry operator register passports")
        foreign = [Problem(i + 1, "manufacturer.id", f"'{p.manufacturer.id}' is not your organisation "
                           f"({principal.org_id}): register only batteries you make", p.battery_id)
                   for i, p in enumerate(passports) if p.manufacturer.id != principal.org_id]
        if foreign:
            raise AccessDenied(str(InvalidInput(foreign, source="passports")))
    result = register_passports(session, passports, actor_org_id=principal.org_id or "")
    return CreatedOut(created=result.created, unchanged=result.unchanged,
                      battery_ids=[p.battery_id for p in passports])


def lineage(session: Session, principal: Principal, identifier: str) -> LineageOut:
    """Pack ↔ modules ↔ cells, and predecessor/successor passports (these only where the lattice allows)."""
    b = find_battery(session, identifier)
    (s,) = audiences(session, principal, [b])
    return _lineage(session, principal, b, s)


def _ref(x: Any) -> BatteryRef | None:
    if x is None:
        return None
    if isinstance(x, dict):
        return BatteryRef(battery_id=x["battery_id"], passport_id=x["passport_id"], level=x["level"],
                          ceased=x["lifecycle_state"] == "recycled")
    return BatteryRef(battery_id=x.battery_id, passport_id=x.passport_id, level=x.level,
                      ceased=x.lifecycle_state == "recycled")


def _lineage(session: Session, principal: Principal, b: Battery, s: Seen,
             children: list[dict[str, Any]] | None = None) -> LineageOut:
    parent = repo.battery_refs(session, [b.parent_battery_id])[0] if b.parent_battery_id else None
    kids = repo.child_refs(session, b.battery_id) if children is None else children
    pred: BatteryRef | None = None
    successors: list[BatteryRef] = []
    withheld: list[str] = []
    # predecessor_passport_id is legitimate-interest data (Annex XIII 4), both ways.
    if s.audience is Audience.LEGITIMATE:
        found = repo.battery_by_passport(session, b.predecessor_passport_id) if b.predecessor_passport_id else None
        pred = _ref(found)
        successors = [r for r in (_ref(x) for x in repo.successors_of(session, b.passport_id)) if r is not None]
        log_seen(session, principal, [s], "lineage")
    else:
        withheld = ["predecessor", "successors"]
    return LineageOut(battery_id=b.battery_id, passport_id=b.passport_id, level=b.level, ceased=ceased(b),
                      audience=s.audience.value, parent=_ref(parent),
                      children=[r for r in (_ref(c) for c in kids) if r is not None],
                      predecessor=pred, successors=successors, withheld=withheld)


def history(session: Session, principal: Principal, identifier: str) -> HistoryOut:
    """A battery's ledger events, payloads filtered by :func:`~circulith.auth.policy.event_view`.

    Every read is logged: a history is never public (the public page shows no custody chain), and
    the registry operator, whose audience is public, is shown other organisations' private event
    fields (issue 14: every read of non-public data by anyone, the operator included, is logged).

    Raises
    ------
    AccessDenied
        If the caller may not read the battery's history.
    """
    require_scope(principal, Scope.READ)
    b = find_battery(session, identifier)
    (s,) = audiences(session, principal, [b])
    if not may_read_history(principal, s.audience):
        raise AccessDenied(f"you may not read the history of {b.battery_id}: it is not in your custody, not "
                           "made by you and you hold no grant for it (request one at /api/v1/grants)")
    events = [event_view(e, principal, s.audience, DYNAMIC_FIELDS) for e in battery_history(session, b.battery_id)]
    log_seen(session, principal, [s], "history", revealed=True)
    return HistoryOut(battery_id=b.battery_id, audience=s.audience.value, events=[EventOut(**e) for e in events])


def export_passport(session: Session, principal: Principal, identifier: str) -> Passport:
    """The whole stored passport, for a Battery Pass export: to its manufacturer and to authorities only.

    An export carries every attribute, so it is given only to those who may see all of them: the
    authorities (Annex XIII point 4) and the manufacturer who declared them. The export is logged.

    Raises
    ------
    AccessDenied
        For anyone else (they read the view they may see with :func:`read_passport`).
    """
    require_scope(principal, Scope.READ)
    b = find_battery(session, identifier)
    (s,) = audiences(session, principal, [b])
    if s.audience is not Audience.AUTHORITY and principal.org_id != b.manufacturer_id:
        raise AccessDenied(f"the full passport of {b.battery_id} is exported to its manufacturer "
                           f"({b.manufacturer_id}) and to authorities only; read the view you may see instead")
    log_seen(session, principal, [s], "export")
    return stored_passport(b)


def resolve_identifier(session: Session, identifier: str) -> ResolveOut:
    """The battery behind an identifier in any accepted scheme (public)."""
    parsed = parse_identifier(identifier)
    b = find_battery(session, identifier)
    return ResolveOut(identifier=identifier, scheme=parsed.scheme, canonical=parsed.canonical,
                      battery_id=b.battery_id, passport_id=b.passport_id, level=b.level)
