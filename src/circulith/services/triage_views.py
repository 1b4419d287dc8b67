"""Triage use cases of the API and the dashboard: grade (now or as a job) and the triage overview.

Each takes the acting principal and returns a typed model (the API's response models). Grading
reads each pack's dynamic values under legitimate interest (custody, or the operator), so every
graded pack's read is logged in the access log; an overview is logged once per request with its scope.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied, NotAuthenticated
from circulith.auth.policy import MAKER_ROLES, Principal, Scope, is_restricted
from circulith.passport.access import Audience
from circulith.services.intake import require_role
from circulith.services.triage import (
    AWAITING_EVALUATION,
    TRIAGE_ROLES,
    RegroupSummary,
    UnitGrade,
    grade_registry,
)
from circulith.store import platform_repo as repo
from circulith.store.database import transaction
from circulith.triage.regroup import regroup
from circulith.triage.rules import load_rules

Progress = Callable[[int, int, str], None]


class TriageGradeIn(BaseModel):
    """Grade what you hold (your custody; the operator: all): a consignment, some packs, or what awaits."""

    model_config = ConfigDict(extra="forbid")

    consignment_id: str | None = Field(None, max_length=80, description="Grade this received consignment.")
    identifiers: list[str] | None = Field(None, max_length=10_000, description="Grade these packs (any scheme).")
    chemistry: str | None = Field(None, max_length=20)
    application: str | None = Field(None, max_length=40, description="Second-life application (default: per chemistry).")
    limit: int | None = Field(None, ge=1, le=100_000, description="Grade at most this many packs.")
    preview: bool = Field(False, description="Grade without recording events (read scope suffices).")


class TriageGradeSummary(BaseModel):
    """What grading did (packs listed up to a cap; every unit's grade is in the registry)."""

    recorded: bool
    scope: str
    rules_version: str
    graded_packs: int
    graded_units: int
    counts: dict[str, dict[str, int]]
    events_written: int
    regroup: dict[str, RegroupSummary]
    packs: list[UnitGrade]
    packs_truncated: bool


class GradedPack(BaseModel):
    """A pack's latest grade (from its ``graded`` event)."""

    battery_id: str
    chemistry: str
    graded_at: str
    grade: str
    application: str | None = None
    rule_id: str | None = None
    soh_pct: float | None = None
    pack_decision: str | None = None
    explanation: str | None = None


class RegroupedGroup(BaseModel):
    """One second-life pack the graded fit modules would make."""

    group: str
    chemistry: str
    application: str
    modules: int
    capacity_spread_pct: float
    usable_energy_kwh: float


class TriageOverview(BaseModel):
    """Retirements and triage in the caller's scope."""

    graded_packs: int
    grades: dict[str, int]
    soh_pct_bins: dict[str, int]
    packs: list[GradedPack]
    regrouped: list[RegroupedGroup]
    fit_modules: int


def _ts() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _triage_scope(principal: Principal, *, record: bool) -> str | None:
    """The custodian whose packs the caller may grade (None: every pack, the operator)."""
    require_role(principal, TRIAGE_ROLES, "grading", write=record)
    return None if principal.is_operator else principal.org_id


def _log_graded(engine: Engine, principal: Principal, battery_ids: list[str], action: str) -> None:
    """Grading reads each pack's dynamic values (legitimate interest): log every read."""
    if not battery_ids:
        return
    ground = "operator" if principal.is_operator else "custody"
    audience = Audience.PUBLIC.value if principal.is_operator else Audience.LEGITIMATE.value
    at = _ts()
    with transaction(engine) as session:
        repo.log_reads(session, ({"at": at, "org_id": principal.org_id, "user_id": principal.user_id,
                                  "key_id": principal.key_id, "battery_id": b, "audience": audience,
                                  "action": action, "ground": ground} for b in battery_ids))


def triage_grade(engine: Engine, principal: Principal, *, record: bool, chemistry: str | None = None,
                 application: str | None = None, limit: int | None = None, as_of: dt.date | None = None,
                 consignment_id: str | None = None, identifiers: list[str] | None = None,
                 max_packs_listed: int = 500) -> TriageGradeSummary:
    """Grade what the caller may grade (see :data:`~circulith.services.triage.TRIAGE_ROLES`), all levels recorded.

    With ``record`` the events are written (needs the ``write`` scope); without, a preview
    (``read`` scope). Packs listed are capped at ``max_packs_listed``.
    """
    custodian = _triage_scope(principal, record=record)
    res = grade_registry(engine, principal, consignment_id=consignment_id, identifiers=identifiers,
                         chemistry=chemistry, custodian_org_id=custodian, limit=limit, application=application,
                         as_of=as_of, record=record)
    _log_graded(engine, principal, [p.battery_id for p in res.packs], "triage_grade" if record else "triage_preview")
    return TriageGradeSummary(recorded=record, scope=res.scope, rules_version=res.rules_version,
                              graded_packs=res.graded_packs, graded_units=res.graded_units, counts=res.counts,
                              events_written=res.events_written, regroup=res.regroup,
                              packs=res.packs[:max_packs_listed], packs_truncated=len(res.packs) > max_packs_listed)


def triage_grade_work(engine: Engine, principal: Principal, *, chemistry: str | None = None,
                      application: str | None = None, batch: int = 100) -> Callable[[Progress], dict[str, Any]]:
    """The background job "grade the registry": checks access now, returns the work for the job runner.

    The work grades ``batch`` packs at a time (each batch is recorded, so it leaves the
    awaiting-evaluation states) and reports progress after each batch.
    """
    custodian = _triage_scope(principal, record=True)

    def work(progress: Progress) -> dict[str, Any]:
        with transaction(engine) as session:
            total = repo.count_packs(session, AWAITING_EVALUATION, custodian_org_id=custodian, chemistry=chemistry)
        progress(0, total, "grading")
        done = events = 0
        counts: dict[str, int] = {}
        for _ in range(total // batch + 2):  # bounded even if a batch were refused
            part = triage_grade(engine, principal, record=True, chemistry=chemistry, application=application,
                                limit=batch, max_packs_listed=0)
            if part.graded_packs == 0:
                break
            done += part.graded_packs
            events += part.events_written
            for g, n in part.counts.get("pack", {}).items():
                counts[g] = counts.get(g, 0) + n
            progress(min(done, total), total, "grading")
            if part.events_written == 0:
                break
        return {"graded_packs": done, "events_written": events, "pack_grades": counts}

    return work


def _scope(principal: Principal) -> Any:
    """The SQL scope of the caller's fleet (None: whole fleet)."""
    if not principal.authenticated:
        raise NotAuthenticated("log in or present an API key")
    if Scope.READ not in principal.scopes:
        raise AccessDenied("this credential lacks the 'read' scope")
    if principal.sees_whole_fleet:
        return None
    return repo.legitimate_scope(principal.org_id or "", maker=principal.role in MAKER_ROLES, now=_ts())


def triage_overview(session: Session, principal: Principal) -> TriageOverview:
    """Retirements and triage for the dashboard, from the latest ``graded`` event of each pack in scope.

    Grade mix, state-of-health distribution (the graded SOH estimate), and the modules fit for
    second life regrouped into packs of consistent capacity (per chemistry and application).
    """
    scope = _scope(principal)
    rows = repo.latest_payloads(session, "graded", scope)
    tested = {b.battery_id: json.loads(p) for b, _, p in repo.latest_payloads(session, "tested", scope)}
    grades: dict[str, int] = {}
    soh_bins = {f"{lo}-{lo + 5}": 0 for lo in range(50, 100, 5)}
    soh_bins["<50"] = 0
    packs: list[GradedPack] = []
    fit: list[dict[str, Any]] = []
    for b, at, text in rows:
        p = json.loads(text)
        grade = str(p.get("grade"))
        grades[grade] = grades.get(grade, 0) + 1
        soh = tested.get(b.battery_id, {}).get("soh_pct")
        if isinstance(soh, int | float):
            lo = int(soh // 5 * 5)
            soh_bins["<50" if soh < 50 else f"{min(lo, 95)}-{min(lo, 95) + 5}"] += 1
        packs.append(GradedPack(battery_id=b.battery_id, chemistry=b.chemistry, graded_at=at, grade=grade,
                                application=p.get("application"), rule_id=p.get("rule_id"), soh_pct=soh,
                                pack_decision=p.get("pack_decision"), explanation=p.get("explanation")))
        for m in p.get("modules") or []:
            if m.get("grade") in ("reuse", "repurpose"):
                fit.append(m | {"chemistry": b.chemistry})
    regrouped = _regrouped(session, fit)
    seen = Audience.LEGITIMATE if scope is not None else principal.global_audience or Audience.PUBLIC
    audience = seen.value
    if is_restricted(seen) and rows:
        repo.log_reads(session, [overview_log_entry(principal, audience, len(rows), scoped=scope is not None)])
    return TriageOverview(graded_packs=len(rows), grades=dict(sorted(grades.items())), soh_pct_bins=soh_bins,
                          packs=packs, regrouped=regrouped, fit_modules=len(fit))


def overview_log_entry(principal: Principal, audience: str, packs: int, *, scoped: bool) -> dict[str, Any]:
    """The one access-log entry of a triage overview: its subject, the scope it read and how many packs.

    One entry per request (not one per pack), so an overview of a thousand packs does not push the
    real reads of single passports off the log's pages. The subject and count go in the battery
    column (``triage_overview: <n> graded packs``), the scope filter in the ground column.
    """
    if not scoped:
        ground = "scope: whole fleet"
    elif principal.role in MAKER_ROLES:
        ground = "scope: custody, own make, grants"
    else:
        ground = "scope: custody, grants"
    subject = f"triage_overview: {packs} graded pack{'' if packs == 1 else 's'}"
    return {"at": _ts(), "org_id": principal.org_id or "public", "user_id": principal.user_id,
            "key_id": principal.key_id, "battery_id": subject, "audience": audience, "action": "triage_overview",
            "ground": ground}


def _regrouped(session: Session, fit: list[dict[str, Any]]) -> list[RegroupedGroup]:
    if not fit:
        return []
    mods = {m.battery_id: m for m in repo.batteries_by_ids(session, [f["battery_id"] for f in fit])}
    frame = pd.DataFrame([f for f in fit if f["battery_id"] in mods])
    if frame.empty:
        return []
    docs = {bid: json.loads(m.document) for bid, m in mods.items()}
    frame["capacity_ah"] = [docs[b]["rated_capacity_ah"] * s / 100.0
                            for b, s in zip(frame["battery_id"], frame["soh_pct"], strict=True)]
    frame["nominal_voltage_v"] = [docs[b]["nominal_voltage_v"] for b in frame["battery_id"]]
    frame["rated_capacity_ah"] = [docs[b]["rated_capacity_ah"] for b in frame["battery_id"]]
    rules = load_rules()
    frame["application"] = frame["application"].fillna("").replace("", "stationary_storage")
    out: list[RegroupedGroup] = []
    for (chem, application), grp in frame.groupby(["chemistry", "application"]):
        if application not in rules["applications"]:
            continue
        res = regroup(grp[["battery_id", "capacity_ah", "nominal_voltage_v", "rated_capacity_ah", "grade"]],
                      application=str(application), rules=rules)
        for k, g in enumerate(res.groups):
            out.append(RegroupedGroup(group=f"{chem}/{application}/{k + 1}", chemistry=str(chem),
                                      application=str(application), modules=len(g["battery_ids"]),
                                      capacity_spread_pct=round(float(g["capacity_spread_pct"]), 2),
                                      usable_energy_kwh=round(float(g["usable_energy_kwh"]), 2)))
    return out
