"""API routes of the operations: triage, recovery and prices, compliance, jobs (planning: routes_planning).

Routes parse and format; :mod:`circulith.services.platform` decides who may do what.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request

from circulith.api import schemas as s
from circulith.api.deps import CurrentPrincipal, engine_of, run
from circulith.api.errors import ERROR_RESPONSES
from circulith.services import platform as svc

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

Multiplier = Annotated[float, Query(gt=0, le=10, description="Scales Al, Co, Cu, Li2CO3, Mn, Ni prices.")]
PriceDate = Annotated[date | None, Query(description="Prices in effect on this date (default: latest).")]


# ---------------------------------------------------------------- triage


@router.post("/triage/grade", response_model=s.TriageGradeOut, tags=["triage"])
def triage_grade(request: Request, principal: CurrentPrincipal, body: s.TriageGradeIn) -> dict:
    """Grade packs awaiting evaluation (operator: all; dismantlers and recyclers: their custody).

    Records ``tested`` and ``graded`` events unless ``preview``; regroups modules fit for second life.
    """
    return svc.triage_grade(engine_of(request), principal, record=not body.preview, chemistry=body.chemistry,
                            application=body.application, limit=body.limit)


@router.get("/triage/overview", response_model=s.TriageOverviewOut, tags=["triage"])
def triage_overview(request: Request, principal: CurrentPrincipal) -> dict:
    """Grade mix, SOH distribution and regrouped packs from the latest graded events in your scope."""
    return run(request, svc.triage_overview, principal)


# ---------------------------------------------------------------- recovery and prices


@router.post("/recovery/run", response_model=s.RecoveryRunOut, tags=["recovery"])
def recovery_run(principal: CurrentPrincipal, body: s.RecoveryRunIn) -> dict:
    """Run a lot through one route: products, recoveries, money, energy, emissions, EU recovery check."""
    return svc.recovery_run(principal, chemistry=body.chemistry, form=body.form, mass_kg=body.mass_kg,
                            route=body.route, price_date=body.price_date,
                            metal_price_multiplier=body.metal_price_multiplier)


@router.post("/recovery/compare", response_model=s.RecoveryCompareOut, tags=["recovery"])
def recovery_compare(principal: CurrentPrincipal, body: s.RecoveryCompareIn) -> dict:
    """Every route side by side for one chemistry, form and mass."""
    return svc.recovery_compare(principal, chemistry=body.chemistry, form=body.form, mass_kg=body.mass_kg,
                                price_date=body.price_date, metal_price_multiplier=body.metal_price_multiplier)


@router.get("/recovery/values", response_model=s.ValueMatrixOut, tags=["recovery"])
def recovery_values(principal: CurrentPrincipal, form: Annotated[s.Form, Query()] = "pack",
                    price_date: PriceDate = None, metal_price_multiplier: Multiplier = 1.0) -> dict:
    """Net value of every route per chemistry [USD/t] under a price scenario."""
    return svc.value_matrix(principal, form=form, price_date=price_date,
                            metal_price_multiplier=metal_price_multiplier)


@router.get("/passports/{identifier:path}/price", response_model=s.PriceOut, tags=["recovery"])
def price_passport(
    request: Request, principal: CurrentPrincipal, identifier: str, price_date: PriceDate = None,
    metal_price_multiplier: Multiplier = 1.0,
    logistics_usd_per_kg: Annotated[float, Query(ge=0, le=1000, description="Collection and transport [USD/kg].")] = 0.0,
    margin: Annotated[float, Query(ge=0, lt=1, description="Recycler margin, fraction of revenue.")] = 0.0,
) -> dict:
    """Price a battery you may see beyond the public view (custody, maker, grant, authorities)."""
    return run(request, svc.price_passport, principal, identifier, price_date=price_date,
               metal_price_multiplier=metal_price_multiplier, logistics_usd_per_kg=logistics_usd_per_kg,
               margin_fraction=margin)


# ---------------------------------------------------------------- compliance


@router.get("/compliance/plants", response_model=list[s.PlantOut], tags=["compliance"])
def compliance_plants(request: Request, principal: CurrentPrincipal) -> list[dict]:
    """Plants with lot records you may report on (authorities and the Commission: all; others: their own)."""
    return run(request, svc.compliance_plants, principal)


@router.get("/compliance/{plant_id}", response_model=s.ComplianceOut, tags=["compliance"])
def compliance(request: Request, principal: CurrentPrincipal, plant_id: str,
               year: Annotated[int, Query(ge=2000, le=2100)]) -> dict:
    """A plant's compliance report for a year (authorities, the Commission, the plant's own organisation)."""
    return run(request, svc.compliance, principal, plant_id[:120], year)


# ---------------------------------------------------------------- jobs


@router.post("/jobs/grade", response_model=s.JobOut, status_code=202, tags=["jobs"])
def grade_job(request: Request, principal: CurrentPrincipal, body: s.GradeJobIn) -> dict:
    """Grade the registry in the background; poll ``/jobs/{job_id}`` for progress."""
    work = svc.triage_grade_work(engine_of(request), principal, chemistry=body.chemistry,
                                 application=body.application)
    return svc.submit_job(request.app.state.jobs, principal, "grade", work, "Grade the registry")


@router.get("/jobs", response_model=list[s.JobOut], tags=["jobs"])
def jobs(request: Request, principal: CurrentPrincipal) -> list[dict]:
    """Your organisation's background jobs, newest first."""
    return svc.list_jobs(request.app.state.jobs, principal)


@router.get("/jobs/{job_id}", response_model=s.JobOut, tags=["jobs"])
def job(request: Request, principal: CurrentPrincipal, job_id: str) -> dict:
    """One background job and its progress."""
    return svc.job_status(request.app.state.jobs, principal, job_id[:64])
