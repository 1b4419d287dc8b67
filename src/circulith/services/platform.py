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
from functools import lru_cache
from typing import Any

from circulith.auth.policy import (
    Principal,
    Scope,
)
from circulith.errors import InvalidInput, Problem
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

__all__ = [
    "DEMO_PASSWORD", "DYNAMIC_FIELDS", "GRANT_DEFAULT_DAYS", "GRANT_PURPOSES", "KEY_TOUCH_INTERVAL",
    "RESTRICTED_SUMMARY", "SESSION_TTL", "VIEW_CACHE_SIZE", "_Seen", "_audiences", "_battery", "_cached_view",
    "_ceased", "_log", "_now", "_require_login", "_require_scope", "_ts", "authenticate_api_key",
    "capacity", "create_api_key", "create_passports",
    "demo_email", "fleet", "fleet_scope", "forecast", "history", "import_passports_work", "job_out", "job_status",
    "ledger_status", "lineage", "list_api_keys", "list_jobs", "login", "logout", "network_plan",
    "principal_for_org", "principal_for_user",
    "principal_from_api_key", "principal_from_cookie", "public_passport", "read_passport",
    "record_key_use", "resolve_identifier",
    "revoke_api_key", "search", "seed_demo_users", "submit_job", "triage_grade", "triage_grade_work",
    "triage_overview", "warm_planning_caches",
]

log = logging.getLogger(__name__)

GRANT_DEFAULT_DAYS = 90
"""Default validity of an approved grant [days] (assumption: a quarter covers one repair or recycling job)."""
GRANT_PURPOSES = ("repair", "remanufacturing", "preparing_for_reuse", "repurposing", "recycling", "energy_services")
"""Purposes of Art. 77(2), third subparagraph (legitimate interest)."""


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
