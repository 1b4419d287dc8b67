"""The dashboard's "Recovery and prices" page: route values, prices in effect, compliance per plant.

Every figure comes from the same services as the CLI and the API (:mod:`circulith.services.recovery_runs`,
:mod:`circulith.services.compliance`). A plant whose report cannot be computed is shown with the reason,
never as a raw error.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request

from circulith.api.deps import engine_of, run
from circulith.auth.policy import Principal
from circulith.errors import CirculithError, InvalidInput
from circulith.services import compliance as comp
from circulith.services.lot_reports import lot_report
from circulith.services.recovery_runs import price_dates, value_matrix
from circulith.services.traceability import TRACEABILITY_READERS, late_report

__all__ = ["price_dates", "recovery_charts", "scenario_params"]

#: Input lots compared with their plan on the page (each comparison runs the route model on the lot's feed).
PLAN_LOTS = 10


def _table_chart(chart_id: str, title: str, kind: str, columns: list[str], rows: list[list[Any]],
                 **spec: Any) -> dict[str, Any]:
    return {"id": chart_id, "title": title, "kind": kind, "columns": columns, "rows": rows, **spec}


def _num(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(float(x), digits)


def scenario_params(params: dict[str, str]) -> tuple[str | None, float]:
    """The price date and metal-price multiplier of the page's query (``price_date``, ``multiplier``)."""
    date = params.get("price_date") or None
    try:
        mult = float(params.get("multiplier") or 1.0)
    except ValueError:
        raise InvalidInput(f"multiplier '{params.get('multiplier')}' is not a number") from None
    return date, mult


def recovery_charts(request: Request, principal: Principal, params: dict[str, str]) -> list[dict[str, Any]]:
    """Charts and tables of the page: net value per route, prices, each plant-year against each target."""
    date, mult = scenario_params(params)
    vm = value_matrix(principal, form="pack", price_date=date, metal_price_multiplier=mult)
    routes = vm.routes
    cols = ["chemistry", *[f"{r}_usd_per_t" for r in routes]]
    rows = [[r[c] for c in cols] for r in vm.rows]
    series = [{"name": r, "values": [row[i + 1] for row in rows]} for i, r in enumerate(routes)]
    prices = [[c, b, round(v, 3)] for c, by in sorted(vm.prices_usd_per_kg.items()) for b, v in sorted(by.items())]
    charts = [
        _table_chart("route_values", f"Net value per tonne of pack by route [USD/t], prices as of {vm.price_date}"
                     f" × {mult:g}", "grouped", cols, rows, labels=[r[0] for r in rows], series=series),
        _table_chart("prices", "Prices in effect [USD/kg]", "bar", ["commodity", "basis", "usd_per_kg"], prices,
                     labels=[f"{p[0]} ({p[1]})" for p in prices], values=[p[2] for p in prices]),
    ]
    checks: list[list[Any]] = []
    evidence: list[list[Any]] = []
    for plant in run(request, comp.compliance_plants, principal):
        for year in plant.years:
            try:
                rep = run(request, comp.compliance, principal, plant.plant_id, year)
            except CirculithError as e:  # a plant-year that cannot be rated is shown with its reason
                checks.append([plant.plant_id, year, "-", "-", "-", None, None, f"n/a: {e}"])
                continue
            download = f"/api/v1/compliance/{plant.plant_id}/evidence.csv?year={year}"
            evidence.extend([plant.plant_id, year, e.lot_id, e.lot_type, e.recorded_by, round(e.mass_kg, 3),
                             round(e.counted_share, 4), e.batteries, download] for e in rep.evidence)
            eff = rep.recycling_efficiency_pct
            checks.extend([plant.plant_id, year, c.regime, c.metric, c.material, _num(c.value_pct), c.threshold_pct,
                           "n/a" if c.passed is None else ("pass" if c.passed else "FAIL")] for c in rep.checks)
            if eff is None and not rep.checks:
                checks.append([plant.plant_id, year, "-", "-", "-", None, None, "; ".join(rep.notes[:1])])
    charts.append(_table_chart("compliance", "Compliance per plant against each target (same computation as the "
                               "CLI and the API)", "table",
                               ["plant_id", "year", "regime", "metric", "material", "value_pct", "target_pct",
                                "result"], checks))
    charts.append(_table_chart("evidence", "Evidence: the lots behind each plant-year's figures (download per "
                               "plant-year as CSV)", "table",
                               ["plant_id", "year", "lot_id", "lot_type", "recorded_by", "mass_kg", "counted_share",
                                "batteries", "download"], evidence))
    charts.append(_table_chart("plan", f"Input lots against the plan (first {PLAN_LOTS}): yields, energy, water, "
                               "GHG and reagents, actual and planned", "table",
                               ["lot_id", "route", "figure", "actual", "plan"], _plan_rows(request, principal, evidence)))
    if principal.role in TRACEABILITY_READERS:
        year = _traceability_year(params)
        rec = run(request, late_report, principal, year)
        charts.append(_table_chart("traceability_record", f"China traceability record {year}: events due, reported "
                                   "on time or late, overdue (from recorded submissions)", "table",
                                   ["org_id", "events_due", "submitted_on_time", "submitted_late", "overdue"],
                                   [[r.org_id, r.events_due, r.submitted_on_time, r.submitted_late, r.overdue]
                                    for r in rec.operators]))
    return charts


def _plan_rows(request: Request, principal: Principal, evidence: list[list[Any]]) -> list[list[Any]]:
    """Actual against plan for the first input lots of the evidence (one service call per lot)."""
    inputs = list(dict.fromkeys(row[2] for row in evidence if row[3] == "input"))[:PLAN_LOTS]
    rows: list[list[Any]] = []
    engine = engine_of(request)
    for lot_id in inputs:
        plan = lot_report(engine, principal, lot_id).plan
        if plan is None:
            continue
        lines = [(f"yield {el}", ln.actual, ln.plan) for el, ln in plan.element_yield.items()]
        lines += [("energy_mj", plan.energy_mj.actual, plan.energy_mj.plan),
                  ("water_m3", plan.water_m3.actual, plan.water_m3.plan),
                  ("ghg_kg_co2e", plan.ghg_kg_co2e.actual, plan.ghg_kg_co2e.plan)]
        lines += [(f"reagent {rg} kg", ln.actual, ln.plan) for rg, ln in plan.reagents_kg.items()]
        rows.extend([lot_id, plan.route, name, round(a, 4), round(p, 4)] for name, a, p in lines)
    return rows


def _traceability_year(params: dict[str, str]) -> int:
    text = params.get("year") or ""
    if not text:
        return dt.date.today().year
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"year '{text}' is not a number") from None
