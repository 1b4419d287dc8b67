"""Compatibility module: the operations not yet moved out of here, and re-exports of those that were.

The core moved into one module per seam (each function takes the acting principal and returns a typed
pydantic model):

* :mod:`circulith.services.access_rules` -- time stamps, scope checks, audiences per battery, the access log;
* :mod:`circulith.services.credentials` -- logins, browser sessions, API keys, CLI principals;
* :mod:`circulith.services.passports` -- passport views, read, search, create, lineage, history, resolve;
* :mod:`circulith.services.fleet` -- fleet aggregates, ledger head and verification;
* :mod:`circulith.services.background` -- background jobs and the passport-import job;
* :mod:`circulith.services.demo_users` -- demo log-ins.

What is still defined here (events and dynamic values, grants and the access log, triage, recovery,
compliance, planning) moves to its own modules next; import new code from the modules above.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import (
    BatteryFacts,
    Principal,
    Scope,
    may_append,
)
from circulith.errors import Conflict, InvalidInput, NotFound, Problem
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.services.access_rules import Seen as _Seen
from circulith.services.access_rules import audiences as _audiences
from circulith.services.access_rules import ceased as _ceased
from circulith.services.access_rules import find_battery as _battery
from circulith.services.access_rules import log_seen as _log
from circulith.services.access_rules import now_utc as _now
from circulith.services.access_rules import require_login as _require_login
from circulith.services.access_rules import require_scope as _require_scope
from circulith.services.access_rules import timestamp as _ts
from circulith.services.background import import_passports_work, job_out, job_status, list_jobs, submit_job
from circulith.services.credentials import (
    KEY_TOUCH_INTERVAL,
    SESSION_TTL,
    authenticate_api_key,
    create_api_key,
    list_api_keys,
    login,
    logout,
    principal_for_org,
    principal_for_user,
    principal_from_api_key,
    principal_from_cookie,
    record_key_use,
    revoke_api_key,
)
from circulith.services.demo_users import DEMO_PASSWORD, demo_email, seed_demo_users
from circulith.services.fleet import fleet, fleet_scope, ledger_status
from circulith.services.passports import (
    DYNAMIC_FIELDS,
    RESTRICTED_SUMMARY,
    VIEW_CACHE_SIZE,
    _cached_view,
    create_passports,
    history,
    lineage,
    public_passport,
    read_passport,
    resolve_identifier,
    search,
)

# Triage moved to circulith.services.triage_views; re-exported for callers not yet moved.
from circulith.services.triage_views import triage_grade as triage_grade
from circulith.services.triage_views import triage_grade_work as triage_grade_work
from circulith.services.triage_views import triage_overview as triage_overview
from circulith.store import platform_repo as repo
from circulith.store.ledger_store import append_events, battery_history
from circulith.store.models import Battery

__all__ = [
    "DEMO_PASSWORD", "DYNAMIC_FIELDS", "GRANT_DEFAULT_DAYS", "GRANT_PURPOSES", "KEY_TOUCH_INTERVAL",
    "RESTRICTED_SUMMARY", "SESSION_TTL", "VIEW_CACHE_SIZE", "_Seen", "_audiences", "_battery", "_cached_view",
    "_ceased", "_log", "_now", "_require_login", "_require_scope", "_ts", "append_event", "authenticate_api_key",
    "capacity", "create_api_key", "create_passports", "decide_grant",
    "demo_email", "fleet", "fleet_scope", "forecast", "history", "import_passports_work", "job_out", "job_status",
    "ledger_status", "lineage", "list_api_keys", "list_grants", "list_jobs", "login", "logout", "network_plan",
    "principal_for_org", "principal_for_user",
    "principal_from_api_key", "principal_from_cookie", "public_passport", "read_access_log", "read_passport",
    "record_key_use", "request_grant", "resolve_identifier",
    "revoke_api_key", "search", "seed_demo_users", "submit_job", "triage_grade", "triage_grade_work",
    "triage_overview", "update_dynamic", "warm_planning_caches",
]

log = logging.getLogger(__name__)

GRANT_DEFAULT_DAYS = 90
"""Default validity of an approved grant [days] (assumption: a quarter covers one repair or recycling job)."""
GRANT_PURPOSES = ("repair", "remanufacturing", "preparing_for_reuse", "repurposing", "recycling", "energy_services")
"""Purposes of Art. 77(2), third subparagraph (legitimate interest)."""


# ---------------------------------------------------------------- events and dynamic values


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
    return _grant_out(repo.get_grant(session, str(row["grant_id"])))


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


# ---------------------------------------------------------------- planning (cached: reference data only)


@lru_cache(maxsize=4)
def _default_forecast() -> Any:
    from circulith.planning.scenario import scenario_from_mapping
    from circulith.planning.service import run_forecast

    return run_forecast(scenario_from_mapping({}))


@lru_cache(maxsize=4)
def _default_capacity() -> dict[str, Any]:
    from circulith.planning.scenario import scenario_from_mapping
    from circulith.planning.service import run_capacity

    return run_capacity(scenario_from_mapping({}))


NETWORK_TIME_LIMIT_S = 30.0
"""Solver time limit of the example network plan [s] (the example solves to optimality in ~12 s)."""
NETWORK_INTEGER_TRUCKS = True
"""Whole trucks in the example plan (False relaxes truck counts: ~0.4 s instead of ~12 s; tests)."""


@lru_cache(maxsize=4)
def _example_network(time_limit_s: float, integer_trucks: bool) -> dict[str, Any]:
    from importlib.resources import files

    from circulith.planning.network_milp import plan_network
    from circulith.planning.readers import read_csv_table

    data = files("circulith.reference") / "data"
    sites = read_csv_table(str(data / "example_sites.csv"))
    demand = read_csv_table(str(data / "example_demand.csv"))
    plan = plan_network(sites, demand, time_limit_s=time_limit_s, integer_trucks=integer_trucks).to_dict()
    coords = {str(r.site_id): (float(r.lat), float(r.lon), str(r.kind), str(r.name)) for r in sites.itertuples()}
    coords |= {str(r.source_id): (float(r.lat), float(r.lon), "source", str(r.name)) for r in demand.itertuples()}
    plan["places"] = [{"id": k, "lat": v[0], "lon": v[1], "kind": v[2], "name": v[3],
                       "opened": k in plan["opened_sites"]} for k, v in sorted(coords.items())]
    plan["inputs"] = "example_sites.csv, example_demand.csv (fictional sites at real city locations)"
    plan["integer_trucks"] = integer_trucks
    return plan


def forecast(principal: Principal, *, stream: str = "feedstock", metric: str = "tonnes",
             region: str | None = None) -> dict[str, Any]:
    """The default scenario's forecast (median and interval) for one stream and metric (cached)."""
    _require_scope(principal, Scope.READ)
    result = _default_forecast()
    rows = result.table(stream, metric)
    if rows.empty:
        raise InvalidInput(Problem(None, "stream", f"no forecast rows for stream '{stream}' and metric '{metric}'"))
    if region:
        rows = rows[rows["region"] == region]
        if rows.empty:
            raise InvalidInput(Problem(None, "region", f"unknown region '{region}'"))
    cols = ["year", "region", "median", "lower", "upper"]
    return {"scenario": result.assumptions.get("scenario"), "stream": stream, "metric": metric,
            "n_members": int(result.n_members), "interval": [float(x) for x in result.interval],
            "regions": sorted(set(result.summary["region"])),
            "rows": [{k: (r[k] if k == "region" else float(r[k]) if k != "year" else int(r[k])) for k in cols}
                     for r in rows[cols].to_dict(orient="records")]}


def capacity(principal: Principal) -> dict[str, Any]:
    """Recycling capacity against forecast feedstock per region and year (cached)."""
    _require_scope(principal, Scope.READ)
    out = _default_capacity()
    gap = out["gap"]
    cols = [c for c in ("year", "region", "feedstock_t", "capacity_t", "gap_t", "position") if c in gap]
    rows = gap[cols].astype(object).where(gap[cols].notna(), None).to_dict(orient="records")
    return {"rows": rows, "summary": out["summary"], "unmatched_plants": out["unmatched_plants"],
            "stage": out["assumptions"]["stage"]}


def network_plan(principal: Principal) -> dict[str, Any]:
    """The collection-to-hub network plan on the shipped example sites and demand (cached)."""
    _require_scope(principal, Scope.READ)
    return _example_network(NETWORK_TIME_LIMIT_S, NETWORK_INTEGER_TRUCKS)


def warm_planning_caches() -> None:
    """Compute the cached forecast, capacity gap and example network plan (at server start, in a thread)."""
    try:
        _default_forecast()
        _default_capacity()
        _example_network(NETWORK_TIME_LIMIT_S, NETWORK_INTEGER_TRUCKS)
    except Exception:
        log.exception("warming the planning caches failed")
