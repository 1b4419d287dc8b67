"""API routes of the operations: forecast, capacity, network (triage: :mod:`circulith.api.routes_triage`;
recovery and compliance: :mod:`circulith.api.routes_recovery`; jobs: :mod:`circulith.api.routes_jobs`).

Routes parse and format; :mod:`circulith.services.platform` decides who may do what.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from circulith.api import schemas as s
from circulith.api.deps import CurrentPrincipal
from circulith.api.errors import ERROR_RESPONSES
from circulith.services import platform as svc

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

Stream = Literal["eol", "eol_damaged", "feedstock", "first_life_exit", "production_scrap", "second_life_entry"]
Metric = Literal["co_t", "gwh", "li_t", "mn_t", "ni_t", "tonnes", "units", "value_musd"]


# ---------------------------------------------------------------- planning


@router.get("/planning/forecast", response_model=s.ForecastOut, tags=["planning"])
def forecast(principal: CurrentPrincipal, stream: Annotated[Stream, Query()] = "feedstock",
             metric: Annotated[Metric, Query()] = "tonnes",
             region: Annotated[str | None, Query(max_length=40)] = None) -> dict:
    """Retirement and feedstock forecast of the default scenario: median and interval per region and year."""
    return svc.forecast(principal, stream=stream, metric=metric, region=region)


@router.get("/planning/capacity", response_model=s.CapacityOut, tags=["planning"])
def capacity(principal: CurrentPrincipal) -> dict:
    """Recycling capacity against forecast feedstock per region and year (default scenario)."""
    return svc.capacity(principal)


@router.get("/planning/network", response_model=s.NetworkOut, tags=["planning"])
def network(principal: CurrentPrincipal) -> dict:
    """Collection-to-hub network plan on the shipped example sites and demand."""
    return svc.network_plan(principal)
