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
    "create_api_key", "create_passports",
    "demo_email", "fleet", "fleet_scope", "history", "import_passports_work", "job_out", "job_status",
    "ledger_status", "lineage", "list_api_keys", "list_jobs", "login", "logout",
    "principal_for_org", "principal_for_user",
    "principal_from_api_key", "principal_from_cookie", "public_passport", "read_passport",
    "record_key_use", "resolve_identifier",
    "revoke_api_key", "search", "seed_demo_users", "submit_job", "triage_grade", "triage_grade_work",
    "triage_overview",
]

log = logging.getLogger(__name__)

GRANT_DEFAULT_DAYS = 90
"""Default validity of an approved grant [days] (assumption: a quarter covers one repair or recycling job)."""
GRANT_PURPOSES = ("repair", "remanufacturing", "preparing_for_reuse", "repurposing", "recycling", "energy_services")
"""Purposes of Art. 77(2), third subparagraph (legitimate interest)."""
