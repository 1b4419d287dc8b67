"""API routes of planning: retirement forecast, capacity gap, network plan.

Routes parse and format; :mod:`circulith.services.planning` does the work and its models are the responses.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from circulith.api.deps import CurrentPrincipal
from circulith.api.errors import ERROR_RESPONSES
from circulith.services import planning as svc

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["planning"])

Stream = Literal["eol", "eol_damaged", "feedstock", "first_life_exit", "production_scrap", "second_life_entry"]
Metric = Literal["co_t", "gwh", "li_t", "mn_t", "ni_t", "tonnes", "units", "value_musd"]
Stage = Literal["pretreatment", "refining"]


@router.get("/planning/forecast", response_model=svc.ForecastOut)
def forecast(principal: CurrentPrincipal, stream: Annotated[Stream, Query()] = "feedstock",
             metric: Annotated[Metric, Query()] = "tonnes",
             region: Annotated[str | None, Query(max_length=40)] = None) -> svc.ForecastOut:
    """Retirement and feedstock forecast of the default scenario: median and interval per region and year."""
    return svc.forecast(principal, stream=stream, metric=metric, region=region)


@router.get("/planning/capacity", response_model=svc.CapacityOut)
def capacity(principal: CurrentPrincipal, stage: Annotated[Stage, Query()] = "pretreatment",
             installed_only: Annotated[bool, Query()] = False) -> svc.CapacityOut:
    """Recycling capacity against forecast feedstock per region and year (default scenario, shipped plants)."""
    return svc.capacity(principal, stage=stage, include_planned=not installed_only)


@router.get("/planning/network", response_model=svc.NetworkOut)
def network(principal: CurrentPrincipal) -> svc.NetworkOut:
    """Collection-to-hub network plan on the shipped example sites and demand."""
    return svc.network_plan(principal)
