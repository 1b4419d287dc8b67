"""Fleet aggregates and the ledger's head and verification, within what the acting principal may see."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import MAKER_ROLES, Principal, Scope
from circulith.services.access_rules import require_scope, timestamp
from circulith.store import platform_repo as repo
from circulith.store.ledger_store import verify_ledger

MAX_FINDINGS = 100
"""Verification findings reported at most (the count is in ``truncated``)."""


class FleetOut(BaseModel):
    """Fleet aggregates within the caller's scope."""

    scope: str
    level: str
    batteries: int
    energy_mwh: float
    mass_t: float
    mean_soh_pct: float | None = None
    by_chemistry: dict[str, int]
    by_lifecycle_state: dict[str, int]
    by_status: dict[str, int]
    by_region: dict[str, int]
    by_production_year: dict[str, int]
    by_manufacturer: dict[str, int]
    soh_pct_bins: dict[str, int]
    retirements_by_year: dict[str, int]
    events_by_kind: dict[str, int]


class LedgerOut(BaseModel):
    """The ledger head and, for a verification, its outcome."""

    head_global_seq: int
    head_sha256: str
    ok: bool | None = None
    events_checked: int | None = None
    batteries_checked: int | None = None
    truncated: bool | None = None
    findings: list[str] | None = None
    verifier: str | None = None  # "compiled", or "python (why)": see circulith.store.native_verify


def fleet_scope(principal: Principal) -> ColumnElement[bool] | None:
    """The SQL scope of the caller's fleet aggregates (None: whole fleet)."""
    require_scope(principal, Scope.READ)
    if principal.sees_whole_fleet:
        return None
    return repo.legitimate_scope(principal.org_id or "", maker=principal.role in MAKER_ROLES, now=timestamp())


def fleet(session: Session, principal: Principal, level: str = "pack") -> FleetOut:
    """Fleet aggregates: the whole fleet for authorities, Commission and operator; otherwise the caller's own."""
    scope = fleet_scope(principal)
    out: dict[str, Any] = repo.fleet_counts(session, scope, level=level)
    out["scope"] = "whole fleet" if scope is None else f"batteries visible to {principal.org_id}"
    out["retirements_by_year"] = repo.retirements_by_year(session, scope)
    out["events_by_kind"] = repo.events_by_kind(session, scope)
    return FleetOut(**out)


def ledger_status(session: Session, principal: Principal, *, full: bool) -> LedgerOut:
    """The ledger head; with ``full``, a verification of every chain (authorities, Commission, operator).

    Raises
    ------
    AccessDenied
        For a full verification by anyone else.
    """
    require_scope(principal, Scope.READ)
    seq, sha = repo.ledger_head(session)
    if not full:
        return LedgerOut(head_global_seq=seq, head_sha256=sha)
    if not principal.sees_whole_fleet:
        raise AccessDenied("ledger verification is for authorities, the Commission and the operator")
    report = verify_ledger(session, max_findings=MAX_FINDINGS, compiled=True)
    return LedgerOut(head_global_seq=seq, head_sha256=sha, ok=report.ok, events_checked=report.events_checked,
                     batteries_checked=report.batteries_checked, truncated=report.truncated,
                     findings=[str(f) for f in report.findings[:MAX_FINDINGS]], verifier=report.verifier)
