"""API routes of journey 1: receive a consignment, grade it, regroup its modules, price the rest.

Routes parse and format; the services decide who may do what, and their models are the responses.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from circulith.api.deps import CurrentPrincipal, engine_of, run
from circulith.api.errors import ERROR_RESPONSES
from circulith.services.intake import IntakeReport, receive
from circulith.services.offers import OfferResult, recycling_offer
from circulith.services.regroup import RegroupResult, regroup_modules
from circulith.services.triage_views import (
    TriageGradeIn,
    TriageGradeSummary,
    TriageOverview,
    triage_grade,
    triage_overview,
)

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


class ConsignmentIn(BaseModel):
    """A consignment received by the caller's organisation."""

    model_config = ConfigDict(extra="forbid")

    identifiers: list[str] = Field(min_length=1, max_length=10_000, description="Scanned or typed codes (any scheme).")
    shipper_org_id: str | None = Field(None, max_length=120)
    received_at: dt.datetime | None = Field(None, description="Time of receipt (default now).")
    expected_count: int | None = Field(None, ge=1, le=10_000, description="Batteries on the delivery note.")
    consignment_id: str | None = Field(None, max_length=80, description="Delivery-note number (default: derived).")
    site_id: str | None = Field(None, max_length=120)


class UnitsIn(BaseModel):
    """Units named by identifier, as in the grade output (extra columns of the grade rows are accepted)."""

    units: list[dict[str, str | float | int | bool | None]] = Field(min_length=1, max_length=10_000)


class RegroupIn(UnitsIn):
    """Modules to regroup into second-life packs."""

    application: str = Field("stationary_storage", max_length=40)
    units_per_group: int = Field(4, ge=1, le=64)
    record: bool = Field(False, description="Register successor passports (Art. 77(7)).")


class OfferIn(UnitsIn):
    """Batteries to price for recycling."""

    as_of: dt.date | None = None
    max_price_age_days: int | None = Field(None, ge=0, le=3650)
    logistics_usd_per_kg: float = Field(0.0, ge=0)
    margin_fraction: float = Field(0.0, ge=0, lt=1)


@router.post("/consignments", response_model=IntakeReport, tags=["triage"])
def receive_consignment(request: Request, principal: CurrentPrincipal, body: ConsignmentIn) -> IntakeReport:
    """Receive a consignment: custody of its packs, modules and cells moves to you; unsafe packs are quarantined."""
    return receive(engine_of(request), principal, body.identifiers, site_id=body.site_id,
                   received_at=body.received_at, shipper_org_id=body.shipper_org_id,
                   expected_count=body.expected_count, consignment_id=body.consignment_id)


@router.post("/triage/grade", response_model=TriageGradeSummary, tags=["triage"])
def grade(request: Request, principal: CurrentPrincipal, body: TriageGradeIn) -> TriageGradeSummary:
    """Grade what you hold (a consignment, some packs, or what awaits evaluation), every level recorded."""
    return triage_grade(engine_of(request), principal, record=not body.preview, chemistry=body.chemistry,
                        application=body.application, limit=body.limit, consignment_id=body.consignment_id,
                        identifiers=body.identifiers)


@router.get("/triage/overview", response_model=TriageOverview, tags=["triage"])
def overview(request: Request, principal: CurrentPrincipal) -> TriageOverview:
    """Grade mix, SOH distribution and regrouped packs from the latest graded events in your scope."""
    return run(request, triage_overview, principal)


@router.post("/triage/regroup", response_model=RegroupResult, tags=["triage"])
def regroup(request: Request, principal: CurrentPrincipal, body: RegroupIn) -> RegroupResult:
    """Regroup modules from their passports; with ``record``, each group gets its successor passports."""
    return regroup_modules(engine_of(request), principal, pd.DataFrame(body.units), application=body.application,
                           units_per_group=body.units_per_group, record=body.record)


@router.post("/triage/offer", response_model=OfferResult, tags=["triage"])
def offer(request: Request, principal: CurrentPrincipal, body: OfferIn) -> OfferResult:
    """Line-by-line recycling offer, damaged-battery handling deducted, stale prices flagged."""
    return recycling_offer(engine_of(request), principal, pd.DataFrame(body.units), as_of=body.as_of,
                           max_price_age_days=body.max_price_age_days, logistics_usd_per_kg=body.logistics_usd_per_kg,
                           margin_fraction=body.margin_fraction)
