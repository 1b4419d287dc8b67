"""Queries of the platform tables, and the scoped battery queries the access layer builds on.

Only SQL lives here; who may see what is decided in :mod:`circulith.auth.policy` and applied in
:mod:`circulith.services.access_rules` and the services built on it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, false, func, insert, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from circulith.errors import InvalidInput, Problem
from circulith.store.ledger_store import chunks
from circulith.store.models import Battery, Event, Identifier, LedgerHead, Organisation
from circulith.store.platform_models import AccessGrant, AccessLogEntry, ApiKey, User, WebSession

# ---------------------------------------------------------------- organisations and users


def get_organisation(session: Session, org_id: str) -> Organisation | None:
    """The organisation ``org_id`` or None."""
    return session.get(Organisation, org_id)


def list_organisations(session: Session) -> list[Organisation]:
    """Every organisation, by ID."""
    return list(session.execute(select(Organisation).order_by(Organisation.org_id)).scalars())


def get_user_by_email(session: Session, email: str) -> User | None:
    """The user with ``email`` (case-insensitive), or None."""
    return session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()


def get_user(session: Session, user_id: str) -> User | None:
    """The user ``user_id`` or None."""
    return session.get(User, user_id)


def add_user(session: Session, **values: Any) -> None:
    """Insert a user row (``user_id``, ``email``, ``org_id``, ``display_name``, ``password_hash``, ...)."""
    session.execute(insert(User), [values])


# ---------------------------------------------------------------- sessions and keys


def add_session(session: Session, token_sha256: str, user_id: str, created_at: str, expires_at: str) -> None:
    """Record a browser session."""
    session.execute(insert(WebSession), [{"token_sha256": token_sha256, "user_id": user_id,
                                          "created_at": created_at, "expires_at": expires_at, "revoked": False}])


def session_user(session: Session, token_sha256: str, now: str) -> User | None:
    """The active user of an unexpired, unrevoked session, or None."""
    return session.execute(
        select(User).join(WebSession, WebSession.user_id == User.user_id)
        .where(WebSession.token_sha256 == token_sha256, WebSession.revoked.is_(False),
               WebSession.expires_at > now, User.active.is_(True))
    ).scalar_one_or_none()


def revoke_session(session: Session, token_sha256: str) -> None:
    """End a browser session."""
    session.execute(update(WebSession).where(WebSession.token_sha256 == token_sha256).values(revoked=True))


def add_api_key(session: Session, **values: Any) -> None:
    """Insert an API key row."""
    session.execute(insert(ApiKey), [values])


def get_api_key(session: Session, key_id: str) -> ApiKey | None:
    """The key ``key_id`` or None."""
    return session.get(ApiKey, key_id)


def api_key_with_role(session: Session, key_id: str) -> Row[Any] | None:
    """The key ``key_id`` with its organisation's role (None if the organisation is gone), in one query.

    Columns: ``key_id, key_sha256, org_id, user_id, scopes, expires_at, revoked_at, last_used_at, role``.
    """
    return cast("Row[Any] | None", session.execute(_KEY_WITH_ROLE, {"key_id": key_id}).one_or_none())


_KEY_WITH_ROLE = (
    select(ApiKey.key_id, ApiKey.key_sha256, ApiKey.org_id, ApiKey.user_id, ApiKey.scopes, ApiKey.expires_at,
           ApiKey.revoked_at, ApiKey.last_used_at, Organisation.role)
    .outerjoin(Organisation, Organisation.org_id == ApiKey.org_id)
    .where(ApiKey.key_id == bindparam("key_id"))
)


def list_api_keys(session: Session, org_id: str) -> list[ApiKey]:
    """An organisation's keys, newest first."""
    return list(session.execute(
        select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.created_at.desc(), ApiKey.key_id)
    ).scalars())


def touch_api_key(session: Session, key_id: str, now: str) -> None:
    """Record the key's last use."""
    session.execute(update(ApiKey).where(ApiKey.key_id == key_id).values(last_used_at=now))


# ---------------------------------------------------------------- grants and the access log


def add_grants(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert access-grant rows (one per battery of a request)."""
    if rows:
        session.execute(insert(AccessGrant), list(rows))


def add_grant(session: Session, **values: Any) -> None:
    """Insert one access-grant row."""
    add_grants(session, [values])


def get_grant(session: Session, grant_id: str) -> AccessGrant | None:
    """The grant row ``grant_id`` or None."""
    return session.get(AccessGrant, grant_id)


def grant_request_rows(session: Session, request_id: str) -> list[AccessGrant]:
    """Every row of one grant request (by request ID, or the grant ID of a row made before requests)."""
    stmt = select(AccessGrant).where(or_(AccessGrant.request_id == request_id, AccessGrant.grant_id == request_id))
    return list(session.execute(stmt.order_by(AccessGrant.battery_id)).scalars())


def list_grants(session: Session, org_id: str | None, status: str | None = None, limit: int = 5000,
                *, owner_org_id: str | None = None) -> list[AccessGrant]:
    """Grant rows of requests by ``org_id`` or over data of ``owner_org_id`` (both None: all), newest first."""
    stmt = select(AccessGrant).order_by(AccessGrant.requested_at.desc(), AccessGrant.grant_id).limit(limit)
    terms = []
    if org_id is not None:
        terms.append(AccessGrant.org_id == org_id)
    if owner_org_id is not None:
        terms.append(AccessGrant.owner_org_id == owner_org_id)
    if terms:
        stmt = stmt.where(or_(*terms))
    if status is not None:
        stmt = stmt.where(AccessGrant.status == status)
    return list(session.execute(stmt).scalars())


def pending_battery_ids(session: Session, org_id: str, battery_ids: Sequence[str]) -> dict[str, str]:
    """Those of ``battery_ids`` with a pending request by ``org_id``: battery ID -> request ID."""
    out: dict[str, str] = {}
    for part in chunks(list(dict.fromkeys(battery_ids))):
        for bid, rid, gid in session.execute(
            select(AccessGrant.battery_id, AccessGrant.request_id, AccessGrant.grant_id)
            .where(AccessGrant.org_id == org_id, AccessGrant.status == "requested", AccessGrant.battery_id.in_(part))
        ):
            out[bid] = rid or gid
    return out


def consignment_battery_ids(session: Session, consignment_id: str) -> list[str]:
    """Batteries whose ``shipped`` or ``received`` event states ``consignment_id`` in its payload."""
    needle = json.dumps({"consignment_id": consignment_id}, ensure_ascii=False, separators=(",", ":"))[1:-1]
    stmt = (select(Event.battery_id).where(Event.kind.in_(("shipped", "received")),
                                           Event.payload_json.contains(needle, autoescape=True))
            .distinct().order_by(Event.battery_id))
    return list(session.execute(stmt).scalars())


def _active_grant(org_id: str, now: str) -> ColumnElement[bool]:
    return and_(AccessGrant.org_id == org_id, AccessGrant.status == "approved",
                or_(AccessGrant.expires_at.is_(None), AccessGrant.expires_at > now))


def granted_battery_ids(session: Session, org_id: str, battery_ids: Sequence[str], now: str) -> set[str]:
    """Those of ``battery_ids`` for which ``org_id`` holds an approved, unexpired grant."""
    out: set[str] = set()
    for part in chunks(list(dict.fromkeys(battery_ids))):
        out.update(session.execute(
            select(AccessGrant.battery_id).where(_active_grant(org_id, now), AccessGrant.battery_id.in_(part))
        ).scalars())
    return out


def granted_batteries(session: Session, org_id: str, now: str, *, limit: int = 500
                      ) -> list[tuple[Battery, str, str | None]]:
    """(battery, purpose, expiry) of every battery ``org_id`` holds an active grant for, by battery ID."""
    stmt = (select(Battery, AccessGrant.purpose, AccessGrant.expires_at)
            .join(AccessGrant, AccessGrant.battery_id == Battery.battery_id)
            .where(_active_grant(org_id, now)).order_by(Battery.battery_id).limit(limit))
    return [(b, p, e) for b, p, e in session.execute(stmt)]


def log_reads(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Append chained access-log entries (``at, org_id, user_id, key_id, battery_id, audience, action, ground``).

    In the caller's transaction (committed with the read, or not at all); from an autocommit
    session, in a short transaction of its own (see :mod:`circulith.store.access_log_store`).
    """
    from circulith.store.access_log_store import append_entries

    append_entries(session, list(rows))


def access_log(session: Session, *, before: int | None = None, org_id: str | None = None,
               battery_id: str | None = None, limit: int = 100, visible_to: str | None = None,
               action: str | None = None, since: str | None = None, until: str | None = None
               ) -> list[AccessLogEntry]:
    """Access-log entries, newest first (``before``: entry ID cursor).

    ``visible_to`` restricts to the entries an organisation may read: its own reads and reads of
    batteries it manufactured (its data). ``since``/``until`` bound ``at`` (ISO timestamps).
    """
    stmt = select(AccessLogEntry).order_by(AccessLogEntry.entry_id.desc()).limit(limit)
    if visible_to is not None:
        owned = select(Battery.battery_id).where(Battery.manufacturer_id == visible_to)
        stmt = stmt.where(or_(AccessLogEntry.org_id == visible_to, AccessLogEntry.battery_id.in_(owned)))
    if before is not None:
        stmt = stmt.where(AccessLogEntry.entry_id < before)
    if org_id is not None:
        stmt = stmt.where(AccessLogEntry.org_id == org_id)
    if battery_id is not None:
        stmt = stmt.where(AccessLogEntry.battery_id == battery_id)
    if action is not None:
        stmt = stmt.where(AccessLogEntry.action == action)
    if since is not None:
        stmt = stmt.where(AccessLogEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AccessLogEntry.at < until)
    return list(session.execute(stmt).scalars())


# ---------------------------------------------------------------- scoped battery queries


def legitimate_scope(org_id: str, *, maker: bool, now: str) -> ColumnElement[bool]:
    """Rows an organisation sees at the ``legitimate`` level: custody, own make (makers), or a grant."""
    granted = select(AccessGrant.battery_id).where(_active_grant(org_id, now))
    terms = [Battery.custodian_org_id == org_id, Battery.battery_id.in_(granted)]
    if maker:
        terms.append(Battery.manufacturer_id == org_id)
    return or_(*terms)


NOTHING: ColumnElement[bool] = false()

PUBLIC_FILTERS = ("level", "chemistry", "category", "manufacturer_id", "model")
RESTRICTED_FILTERS = ("lifecycle_state", "status", "region", "custodian_org_id")


def encode_cursor(value: str) -> str:
    """Opaque cursor for a battery ID."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The battery ID behind a cursor.

    Raises
    ------
    InvalidInput
        For a cursor this server did not issue.
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(Problem(None, "cursor", "not a cursor issued by this server")) from None
    if not text or len(text) > 300:
        raise InvalidInput(Problem(None, "cursor", "not a cursor issued by this server"))
    return text


def search_batteries(
    session: Session,
    filters: dict[str, Any],
    *,
    restricted_scope: ColumnElement[bool] | None,
    after: str | None,
    limit: int,
) -> list[Battery]:
    """Batteries matching ``filters``, ordered by battery ID, after the cursor.

    Filters on restricted columns (``RESTRICTED_FILTERS``, ``soh_min``/``soh_max``) only match rows
    inside ``restricted_scope`` (None: everywhere), so that filtering cannot reveal what reading
    would not.
    """
    stmt = select(Battery).order_by(Battery.battery_id).limit(limit)
    restricted_used = False
    for key in PUBLIC_FILTERS:
        if filters.get(key) is not None:
            stmt = stmt.where(getattr(Battery, key) == filters[key])
    if filters.get("production_year") is not None:
        stmt = stmt.where(Battery.manufacturing_date.like(f"{int(filters['production_year']):04d}-%"))
    for key in RESTRICTED_FILTERS:
        if filters.get(key) is not None:
            stmt = stmt.where(getattr(Battery, key) == filters[key])
            restricted_used = True
    if filters.get("soh_min") is not None:
        stmt = stmt.where(Battery.soh_pct >= float(filters["soh_min"]))
        restricted_used = True
    if filters.get("soh_max") is not None:
        stmt = stmt.where(Battery.soh_pct <= float(filters["soh_max"]))
        restricted_used = True
    if restricted_used and restricted_scope is not None:
        stmt = stmt.where(restricted_scope)
    if after is not None:
        stmt = stmt.where(Battery.battery_id > after)
    return list(session.execute(stmt).scalars())


def batteries_by_ids(session: Session, battery_ids: Sequence[str]) -> list[Battery]:
    """Stored batteries, in ID order."""
    out: list[Battery] = []
    for part in chunks(list(dict.fromkeys(battery_ids))):
        out.extend(session.execute(select(Battery).where(Battery.battery_id.in_(part))).scalars())
    return sorted(out, key=lambda b: b.battery_id)


def battery_by_identifier(session: Session, canonical_identifier: str) -> Battery | None:
    """The battery carrying a canonical identifier, or else the one whose passport ID it is."""
    found = session.execute(_BY_IDENTIFIER, {"key": canonical_identifier}).scalar_one_or_none()
    if found is None:
        found = session.execute(_BY_PASSPORT_ID, {"key": canonical_identifier}).scalar_one_or_none()
    return found


_BY_IDENTIFIER = (select(Battery).join(Identifier, Identifier.battery_id == Battery.battery_id)
                  .where(Identifier.identifier == bindparam("key")))
_BY_PASSPORT_ID = select(Battery).where(Battery.passport_id == bindparam("key"))


_REF_COLUMNS = (Battery.battery_id, Battery.passport_id, Battery.level, Battery.lifecycle_state)
REF_FIELDS = ("battery_id", "passport_id", "level", "lifecycle_state")


@lru_cache(maxsize=4)
def _with_children_statements(dialect: str) -> tuple[Any, Any]:
    """(by identifier, by passport ID) selects of a battery and its children as a JSON array of ``REF_FIELDS``.

    Built once per dialect: constructing the aliased correlated subquery costs more than running it.
    """
    child = aliased(Battery)
    cols = [getattr(child, f) for f in REF_FIELDS]
    if dialect == "postgresql":
        agg = func.json_agg(func.json_build_array(*cols))
    else:
        agg = func.json_group_array(func.json_array(*cols))
    children = select(agg).where(child.parent_battery_id == Battery.battery_id).scalar_subquery()
    by_identifier = (select(Battery, children).join(Identifier, Identifier.battery_id == Battery.battery_id)
                     .where(Identifier.identifier == bindparam("key")))
    by_passport = select(Battery, children).where(Battery.passport_id == bindparam("key"))
    return by_identifier, by_passport


def battery_with_children(session: Session, canonical_identifier: str) -> tuple[Battery, list[dict[str, Any]]] | None:
    """:func:`battery_by_identifier` and the battery's children (``REF_FIELDS`` dicts by ID) in one query."""
    by_identifier, by_passport = _with_children_statements(session.get_bind().dialect.name)
    row = session.execute(by_identifier, {"key": canonical_identifier}).one_or_none()
    if row is None:
        row = session.execute(by_passport, {"key": canonical_identifier}).one_or_none()
    if row is None:
        return None
    found = row[1]
    if isinstance(found, str | bytes):
        found = json.loads(found)
    refs = [dict(zip(REF_FIELDS, r, strict=True)) for r in found or [] if r and r[0] is not None]
    return row[0], sorted(refs, key=lambda r: r["battery_id"])


def battery_refs(session: Session, battery_ids: Sequence[str]) -> list[Row[Any] | None]:
    """``(battery_id, passport_id, level, lifecycle_state)`` of each battery (None where unknown), in order."""
    found: dict[str, Any] = {r.battery_id: r for r in session.execute(select(*_REF_COLUMNS).where(Battery.battery_id.in_(battery_ids)))}
    return [found.get(i) for i in battery_ids]


def child_refs(session: Session, battery_id: str) -> list[Row[Any]]:
    """``(battery_id, passport_id, level, lifecycle_state)`` of the modules of a pack or cells of a module."""
    return list(session.execute(
        select(*_REF_COLUMNS).where(Battery.parent_battery_id == battery_id).order_by(Battery.battery_id)
    ))


def children_of(session: Session, battery_id: str) -> list[Battery]:
    """The modules of a pack or cells of a module."""
    return list(session.execute(
        select(Battery).where(Battery.parent_battery_id == battery_id).order_by(Battery.battery_id)
    ).scalars())


def battery_by_passport(session: Session, passport_id: str) -> Battery | None:
    """The battery whose passport is ``passport_id``."""
    return session.execute(select(Battery).where(Battery.passport_id == passport_id)).scalar_one_or_none()


def successors_of(session: Session, passport_id: str) -> list[Battery]:
    """Batteries whose passport succeeds ``passport_id`` (Art. 77(7))."""
    return list(session.execute(
        select(Battery).where(Battery.predecessor_passport_id == passport_id).order_by(Battery.battery_id)
    ).scalars())


def fleet_counts(session: Session, scope: ColumnElement[bool] | None, *, level: str = "pack") -> dict[str, Any]:
    """Counts and totals of batteries at ``level`` inside ``scope`` (None: the whole fleet)."""
    def where(stmt: Select[Any]) -> Select[Any]:
        stmt = stmt.where(Battery.level == level)
        return stmt.where(scope) if scope is not None else stmt

    def counts(col: ColumnElement[Any] | InstrumentedAttribute[Any]) -> dict[str, int]:
        rows = session.execute(where(select(col, func.count()).group_by(col).order_by(col)))
        return {("unknown" if k is None else str(k)): int(v) for k, v in rows}

    year = func.substr(Battery.manufacturing_date, 1, 4)
    totals = session.execute(where(select(
        func.count(), func.coalesce(func.sum(Battery.rated_energy_kwh), 0.0), func.coalesce(func.sum(Battery.mass_kg), 0.0),
        func.avg(Battery.soh_pct),
    ))).one()
    soh_bins: dict[str, int] = {}
    edges = [(0, 60), (60, 70), (70, 80), (80, 90), (90, 101)]
    for lo, hi in edges:
        n = session.execute(where(select(func.count()).where(Battery.soh_pct >= lo, Battery.soh_pct < hi))).scalar_one()
        soh_bins[f"{lo}-{min(hi, 100)}"] = int(n)
    return {
        "level": level,
        "batteries": int(totals[0]),
        "energy_mwh": round(float(totals[1]) / 1000.0, 3),
        "mass_t": round(float(totals[2]) / 1000.0, 3),
        "mean_soh_pct": None if totals[3] is None else round(float(totals[3]), 2),
        "by_chemistry": counts(Battery.chemistry),
        "by_lifecycle_state": counts(Battery.lifecycle_state),
        "by_status": counts(Battery.status),
        "by_region": counts(Battery.region),
        "by_production_year": counts(year),
        "by_manufacturer": counts(Battery.manufacturer_id),
        "soh_pct_bins": soh_bins,
    }


def ledger_head(session: Session) -> tuple[int, str]:
    """The global chain head (sequence number, digest)."""
    row = session.execute(select(LedgerHead.global_seq, LedgerHead.global_chain_sha256)).one()
    return int(row[0]), str(row[1])


def events_by_kind(session: Session, battery_ids_scope: ColumnElement[bool] | None) -> dict[str, int]:
    """Event counts by kind (for batteries inside the scope; None: all)."""
    stmt = select(Event.kind, func.count()).group_by(Event.kind).order_by(Event.kind)
    if battery_ids_scope is not None:
        stmt = stmt.join(Battery, Battery.battery_id == Event.battery_id).where(battery_ids_scope)
    return {str(k): int(v) for k, v in session.execute(stmt)}


def retirements_by_year(session: Session, scope: ColumnElement[bool] | None) -> dict[str, int]:
    """Removal events per calendar year (packs and modules inside the scope)."""
    year = func.substr(Event.occurred_at, 1, 4)
    stmt = select(year, func.count()).where(Event.kind == "removed").group_by(year).order_by(year)
    if scope is not None:
        stmt = stmt.join(Battery, Battery.battery_id == Event.battery_id).where(scope)
    return {str(k): int(v) for k, v in session.execute(stmt)}


# ---------------------------------------------------------------- triage, recovery and plant records


def count_packs(session: Session, lifecycle_states: Sequence[str], *, custodian_org_id: str | None = None,
                chemistry: str | None = None) -> int:
    """Packs in the given lifecycle states (of one custodian, one chemistry)."""
    stmt = select(func.count()).where(Battery.level == "pack", Battery.lifecycle_state.in_(list(lifecycle_states)))
    if custodian_org_id:
        stmt = stmt.where(Battery.custodian_org_id == custodian_org_id)
    if chemistry:
        stmt = stmt.where(Battery.chemistry == chemistry)
    return int(session.execute(stmt).scalar_one())


def latest_payloads(session: Session, kind: str, scope: ColumnElement[bool] | None, *, level: str = "pack",
                    limit: int = 100_000) -> list[tuple[Battery, str, str]]:
    """The latest event of ``kind`` of each battery at ``level`` inside ``scope``: (battery, occurred_at, payload)."""
    last = (select(Event.battery_id, func.max(Event.battery_seq).label("seq")).where(Event.kind == kind)
            .group_by(Event.battery_id).subquery())
    stmt = (select(Battery, Event.occurred_at, Event.payload_json)
            .join(last, last.c.battery_id == Battery.battery_id)
            .join(Event, (Event.battery_id == last.c.battery_id) & (Event.battery_seq == last.c.seq))
            .where(Battery.level == level).order_by(Battery.battery_id).limit(limit))
    if scope is not None:
        stmt = stmt.where(scope)
    return [(b, str(at), str(p)) for b, at, p in session.execute(stmt)]



def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
