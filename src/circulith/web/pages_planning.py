"""Dashboard pages of planning that take the planner's own files: the network plan on uploaded sites and demand.

The page parses the uploads, calls :func:`circulith.services.planning.network_plan` and renders the same map,
flows table (trucks per period and per week) and sites table as the example network page.
"""

from __future__ import annotations

import io

import pandas as pd
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from circulith.api.deps import current_principal
from circulith.auth.policy import Principal
from circulith.errors import InvalidInput, Problem
from circulith.planning.network_milp import NetworkOptions
from circulith.services import planning as planning_svc
from circulith.web.routes import _chart_table, _ctx, network_plan_charts, templates

router = APIRouter(include_in_schema=False)
MAX_UPLOAD_BYTES = 5_000_000
"""Largest accepted CSV upload [bytes]."""


async def _csv(upload: UploadFile | None, what: str) -> pd.DataFrame | None:
    if upload is None or not upload.filename:
        return None
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(Problem(None, what, f"file larger than {MAX_UPLOAD_BYTES // 1_000_000} MB"), source=what)
    try:
        return pd.read_csv(io.BytesIO(data), skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInput(Problem(None, "", f"not a readable CSV file: {exc}"), source=upload.filename) from exc


def _int_or_none(v: str, field: str) -> int | None:
    if not v.strip():
        return None
    if not v.strip().isdigit():
        raise InvalidInput(Problem(None, field, f"must be a whole number, got {v!r}"))
    return int(v)


@router.post("/dashboard/network/upload", response_class=HTMLResponse)
async def network_upload(request: Request, principal: Principal = Depends(current_principal),
                         sites: UploadFile = File(...), demand: UploadFile = File(...),
                         costs: UploadFile | None = File(None),
                         max_spokes: str = Form("", max_length=6), budget_usd: str = Form("", max_length=20),
                         ) -> Response:  # fmt: skip
    """The network plan on the planner's own sites, demand and (optional) cost matrix."""
    s_df, d_df, c_df = await _csv(sites, "sites"), await _csv(demand, "demand"), await _csv(costs, "costs")
    if s_df is None or d_df is None:
        raise InvalidInput(Problem(None, "sites", "upload both a sites and a demand CSV"))
    try:
        budget = float(budget_usd) if budget_usd.strip() else None
    except ValueError:
        raise InvalidInput(Problem(None, "budget_usd", f"must be a number, got {budget_usd!r}")) from None
    opts = NetworkOptions(time_limit_s=planning_svc.NETWORK_TIME_LIMIT_S,
                          integer_trucks=planning_svc.NETWORK_INTEGER_TRUCKS,
                          max_open_spokes=_int_or_none(max_spokes, "max_spokes"), budget_usd=budget)  # fmt: skip
    plan = planning_svc.network_plan(principal, sites=s_df, demand=d_df, costs=c_df, options=opts,
                                     inputs=f"uploaded {sites.filename}, {demand.filename}"
                                            + (f", {costs.filename}" if costs is not None and c_df is not None
                                               else ""))  # fmt: skip
    charts = network_plan_charts(plan)
    tables = {c["id"]: _chart_table(c) for c in charts}
    return templates.TemplateResponse(request, "network.html",
                                      _ctx(request, principal, page="network", fleet=None, charts=charts, tables=tables,
                                           uploaded=plan.inputs, plan=plan))  # fmt: skip
