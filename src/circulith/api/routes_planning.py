"""API routes of planning: forecast, capacity gap, network plan, scenario comparison, the national view.

Routes parse and format; :mod:`circulith.services.planning` does the work and its models are the responses.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from circulith.api.deps import CurrentPrincipal, run
from circulith.api.errors import ERROR_RESPONSES
from circulith.errors import InvalidInput, Problem
from circulith.planning.scenario import scenario_from_mapping
from circulith.services import planning as svc
from circulith.services.national import NationalViewOut, national_table, national_view
from circulith.services.planning_compare import ComparisonOut, compare_scenarios

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


class CompareIn(BaseModel):
    """Scenarios to compare: each as the mapping of a scenario TOML file (no file paths in ``inputs``)."""

    model_config = ConfigDict(extra="forbid")
    scenarios: list[dict[str, Any]] = Field(min_length=2, max_length=8)
    base: str | None = Field(None, max_length=120)
    from_year: int = Field(2025, ge=2000, le=2100)
    to_year: int = Field(2035, ge=2000, le=2100)


@router.post("/planning/compare", response_model=ComparisonOut)
def compare(principal: CurrentPrincipal, body: CompareIn) -> ComparisonOut:
    """Scenarios side by side with differences to a base (feedstock, metals, value, capacity gap, network)."""
    scs = []
    for k, data in enumerate(body.scenarios):
        if data.get("inputs"):
            raise InvalidInput(Problem(k + 1, "inputs", "file inputs are not accepted over the API; use the CLI "
                                       "or the dashboard upload"), source="scenarios")  # fmt: skip
        scs.append(scenario_from_mapping(data, source=f"scenarios[{k}]"))
    return compare_scenarios(principal, scs, base=body.base, from_year=body.from_year, to_year=body.to_year)


@router.get("/national", response_model=NationalViewOut, tags=["national"])
def national(request: Request, principal: CurrentPrincipal,
             region: Annotated[str | None, Query(max_length=40)] = None) -> NationalViewOut:
    """The national view within the caller's jurisdiction (authorities; the Commission and operator see all)."""
    return run(request, national_view, principal, request.app.state.engine, region=region)


CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The table as CSV."}}


@router.get("/national/{table}.csv", tags=["national"], response_class=Response, responses=CSV_RESPONSE)
def national_csv(request: Request, principal: CurrentPrincipal,
                 table: Literal["inventory", "flows", "retirements", "throughput", "late_reporters"],
                 region: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    """One table of the national view as CSV (same scope as the view)."""
    view = run(request, national_view, principal, request.app.state.engine, region=region,
               with_forecast=table == "retirements")
    cols, rows = national_table(view, table)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(cols)
    writer.writerows(rows)
    return Response(buf.getvalue(), media_type="text/csv")
