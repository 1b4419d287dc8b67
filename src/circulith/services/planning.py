"""Planning use cases: retirement forecast, capacity gap and network plan, one typed result each.

Each function takes the acting :class:`~circulith.auth.policy.Principal` (read scope required) and returns a
pydantic model that the API serves as its response model and the CLI prints with ``--json``, so the two doors
give the same answer (tests/planning/test_parity_planning.py). Inputs are the shipped reference data unless
the caller gives its own scenario, capacity table, sites, demand or cost matrix; results on the shipped data
alone are cached.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.resources import as_file, files
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from circulith.auth.policy import Principal, Scope
from circulith.errors import InvalidInput, Problem
from circulith.planning.calibration import Calibration
from circulith.planning.forecast import ForecastResult
from circulith.planning.network_milp import NetworkOptions, NetworkPlan, plan_network
from circulith.planning.readers import read_csv_table
from circulith.planning.scenario import Scenario, scenario_from_mapping
from circulith.planning.service import run_capacity, run_forecast
from circulith.services.access_rules import require_scope

log = logging.getLogger(__name__)

NETWORK_TIME_LIMIT_S = 30.0
"""Solver time limit of the example network plan [s] (the example solves to optimality in ~12 s)."""
NETWORK_INTEGER_TRUCKS = True
"""Whole trucks in the example plan (False relaxes truck counts: ~0.4 s instead of ~12 s; tests)."""
EXAMPLE_INPUTS = "example_sites.csv, example_demand.csv (fictional sites at real city locations)"


# ---------------------------------------------------------------- result models


class ForecastRow(BaseModel):
    """Median and interval of one region and year [unit of the metric]."""

    year: int
    region: str
    chemistry: str | None = None
    median: float
    lower: float
    upper: float
    param_lower: float | None = None
    param_upper: float | None = None


class CalibrationOut(BaseModel):
    """How far to trust the band: backtest coverage before and after calibration (planning/calibration.py)."""

    status: str
    message: str
    interval: list[float]
    target_coverage: list[float]
    coverage_parameter_only: float
    coverage_calibrated: float | None = None
    n_calibrated_windows: int
    width_parameter_only: float | None = None
    width_calibrated: float | None = None
    q_lo: float
    q_hi: float
    n_windows: int
    basis: str


class ForecastOut(BaseModel):
    """Forecast of one stream and metric; ``lower``/``upper`` carry parameter and observation uncertainty."""

    scenario: str | None
    cohorts_source: str
    stream: str
    metric: str
    n_members: int
    interval: list[float]
    regions: list[str]
    calibration: CalibrationOut
    width_note: str = ""
    rows: list[ForecastRow]


class CapacityRow(BaseModel):
    """Capacity against feedstock in one region and year [t/yr]."""

    year: int
    region: str
    feedstock_t: float | None = None
    feedstock_lower_t: float | None = None
    feedstock_upper_t: float | None = None
    capacity_t: float | None = None
    utilisation: float | None = None
    gap_t: float | None = None
    position: str | None = None


class CapacitySummary(BaseModel):
    """Per region: years in surplus and deficit, first deficit year, largest deficit [t/yr]."""

    region: str
    surplus_years: list[int]
    deficit_years: list[int]
    first_deficit_year: int | None = None
    largest_deficit_t: float
    largest_deficit_year: int | None = None


class CapacityOut(BaseModel):
    """Recycling capacity gap per region and year."""

    scenario: str | None = None
    rows: list[CapacityRow]
    summary: list[CapacitySummary]
    unmatched_plants: list[str]
    stage: str
    include_planned: bool = True


class FlowOut(BaseModel):
    """One arc of the network plan: tonnes per planning period, trucks per period and per week."""

    from_id: str
    to_id: str
    tonnes: float
    damage_state: str
    mode: str
    trucks: int | float
    trucks_per_week: float
    distance_km: float
    regime: str
    cost_basis: str


class PlaceOut(BaseModel):
    """A site or source of the network, with its location [degrees]."""

    id: str
    lat: float
    lon: float
    kind: str
    name: str
    opened: bool


class UnmetOut(BaseModel):
    """Tonnes of one source and damage state that no permitted site can take."""

    source_id: str
    damage_state: str
    tonnes: float


class NetworkOut(BaseModel):
    """A network plan with its proven bound and the greedy baseline."""

    status: str
    solver_status: str
    objective_usd: float | None = None
    dual_bound_usd: float | None = None
    mip_gap: float | None = None
    lp_bound_usd: float | None = None
    heuristic_cost_usd: float | None = None
    greedy_cost_usd: float | None = None
    greedy_gap: float | None = None
    opened_sites: list[str]
    flows: list[FlowOut]
    unmet: list[UnmetOut]
    diagnosis: list[str]
    emissions_t_co2e: float
    solve_seconds: float
    period_weeks: float
    trucks_per_week: float
    limits: dict[str, float] = Field(default_factory=dict)
    screening: str
    notes: list[str]
    places: list[PlaceOut]
    inputs: str
    integer_trucks: bool


# ---------------------------------------------------------------- forecast and capacity


DEFAULT_COHORTS = "IEA Global EV Outlook 2024 sales and chemistry shares (shipped)"


@lru_cache(maxsize=4)
def _default_forecast() -> ForecastResult:
    result = run_forecast(scenario_from_mapping({}))
    result.assumptions["cohorts_source"] = DEFAULT_COHORTS
    return result


@lru_cache(maxsize=4)
def _default_capacity() -> dict[str, Any]:
    return run_capacity(scenario_from_mapping({}))


@lru_cache(maxsize=8)
def _calibration(scenario_json: str) -> Calibration:
    from circulith.planning.calibration import calibrate
    from circulith.planning.reference_data import load_lifetime_defaults
    from circulith.planning.service import run_backtest

    cfg = load_lifetime_defaults()["calibration"]
    bt = run_backtest(Scenario.model_validate_json(scenario_json))
    return calibrate(bt, target_coverage=(float(cfg["target_coverage"][0]), float(cfg["target_coverage"][1])),
                     min_windows=int(cfg["min_windows"]))  # fmt: skip


def scenario_calibration(scenario: Scenario | None = None) -> Calibration:
    """Calibration of a scenario's bands on its rolling-origin backtest (the shipped IEA fleet balance, Cars)."""
    return _calibration((scenario or scenario_from_mapping({})).model_dump_json())


def calibration_out(c: Calibration) -> CalibrationOut:
    """A :class:`Calibration` as its API model."""
    return CalibrationOut.model_validate({**c.to_dict(), "interval": list(c.interval),
                                          "target_coverage": list(c.target_coverage)})  # fmt: skip


def forecast_calibration(principal: Principal, *, scenario: Scenario | None = None) -> CalibrationOut:
    """How far a scenario's forecast bands can be trusted (coverage on the rolling-origin backtest)."""
    require_scope(principal, Scope.READ)
    return calibration_out(scenario_calibration(scenario))


def _exposed_median(result: ForecastResult, stream: str, metric: str, table: pd.DataFrame) -> Any:
    """Per row, the part of the median that is retirements (what the backtest residuals describe) [metric]."""
    import numpy as np

    if stream == "production_scrap":
        return np.zeros(len(table))
    if stream != "feedstock":
        return None
    keys = ["year", *result.group_by]
    eol = result.table("eol", metric)[[*keys, "median"]].rename(columns={"median": "eol_median"})
    return table[keys].merge(eol, on=keys, how="left")["eol_median"].fillna(0.0).to_numpy(float)


def _width_note(rows: pd.DataFrame, calibration: Calibration, result: ForecastResult) -> str:
    """What sets the width of the bands: the lifetime parameters, the backtest's noise, the end of the sales."""
    import numpy as np

    pos = rows[rows["median"] > 0]
    if pos.empty:
        return "no positive median: no band width to explain"
    param = float(np.median((pos["param_upper"] - pos["param_lower"]) / pos["median"]))
    total = float(np.median((pos["upper"] - pos["lower"]) / pos["median"]))
    note = (f"band width (median over rows): {param:.2f} x the median from the lifetime parameters alone, "
            f"{total:.1f} x with the backtest's observation noise (relative residuals {calibration.q_lo:+.1f} to "
            f"{calibration.q_hi:+.1f} of the modelled exits; the IEA fleet balance of single countries counts net "
            "trade in used EVs and stock revisions as exits), applied to the end-of-life part only")  # fmt: skip
    last = result.assumptions.get("last_sales_year")
    if isinstance(last, int) and last < int(rows["year"].max()):
        note += (f"; the sales end in {last}: later years carry only packs sold by then and no production scrap, "
                 "and the ranges are calibrated on the IEA countries, not on this sales file")  # fmt: skip
    return note


def forecast_from_result(result: ForecastResult, *, stream: str = "feedstock", metric: str = "tonnes",
                         region: str | None = None, calibration: Calibration) -> ForecastOut:  # fmt: skip
    """One stream and metric of a forecast result, bands calibrated, as a :class:`ForecastOut`.

    Only the retirement part of a stream is widened by the backtest residuals (vehicle exits): the
    feedstock's end of life, not its production scrap (see :func:`circulith.planning.calibration.calibrate_summary`).
    """
    from circulith.planning.calibration import calibrate_summary

    table = result.table(stream, metric)
    rows = calibrate_summary(table, calibration, _exposed_median(result, stream, metric, table))
    if rows.empty:
        raise InvalidInput(Problem(None, "stream", f"no forecast rows for stream '{stream}' and metric '{metric}'"))
    if region:
        rows = rows[rows["region"] == region]
        if rows.empty:
            raise InvalidInput(Problem(None, "region", f"unknown region '{region}'"))
    out = [ForecastRow(year=int(r["year"]), region=str(r["region"]),
                       chemistry=str(r["chemistry"]) if "chemistry" in r else None, median=float(r["median"]),
                       lower=float(r["lower"]), upper=float(r["upper"]),
                       param_lower=float(r["param_lower"]) if "param_lower" in r else None,
                       param_upper=float(r["param_upper"]) if "param_upper" in r else None)
           for r in rows.to_dict(orient="records")]  # fmt: skip
    return ForecastOut(scenario=result.assumptions.get("scenario"), stream=stream, metric=metric,
                       cohorts_source=str(result.assumptions.get("cohorts_source", DEFAULT_COHORTS)),
                       calibration=calibration_out(calibration), width_note=_width_note(rows, calibration, result),
                       n_members=int(result.n_members), interval=[float(x) for x in result.interval],
                       regions=sorted(set(result.summary["region"])), rows=out)  # fmt: skip


def scenario_cohorts_input(scenario: Scenario, engine: Engine | None = None) -> tuple[pd.DataFrame | None, str]:
    """The forecast cohorts a scenario asks for, and a note of their origin.

    ``[inputs] sales``: the planner's sales file; ``[inputs] registry_fleet``: the registry's own cohorts (by
    production year, region and chemistry, read with Ibis over the store's engine); neither: None (the
    shipped IEA series and chemistry shares).
    """
    from circulith.planning.reference_data import load_pack_specific_energy_wh_per_kg
    from circulith.planning.sales_input import sales_cohorts

    if scenario.sales_file and scenario.registry_fleet:
        raise InvalidInput(Problem(None, "inputs", "give either sales or registry_fleet, not both"))
    if scenario.sales_file:
        from circulith.planning.readers import read_sales_table

        table = read_sales_table(scenario.sales_file)
        cohorts = sales_cohorts(table, segments=scenario.lifetime, chemistries=load_pack_specific_energy_wh_per_kg().index,
                                pack_kwh=scenario.pack_kwh, source=scenario.sales_file)  # fmt: skip
        return cohorts, f"planner's sales file {scenario.sales_file} ({len(cohorts)} rows)"
    if scenario.registry_fleet:
        if engine is None:
            raise InvalidInput(Problem(None, "inputs.registry_fleet", "needs the registry database (--db)"))
        from circulith.analytics.connect import connect
        from circulith.analytics.fleet import forecast_cohorts

        cohorts = forecast_cohorts(connect(engine))
        if cohorts.empty:
            raise InvalidInput(Problem(None, "inputs.registry_fleet", "the registry has no packs with a region"))
        return cohorts, f"registry fleet cohorts ({int(cohorts['units'].sum())} packs)"
    return None, DEFAULT_COHORTS


def run_scenario_forecast(scenario: Scenario, engine: Engine | None = None) -> ForecastResult:
    """Run a scenario's forecast on the cohorts it names (see :func:`scenario_cohorts_input`)."""
    cohorts, origin = scenario_cohorts_input(scenario, engine)
    result = run_forecast(scenario, cohorts=cohorts)
    result.assumptions["cohorts_source"] = origin
    if cohorts is not None and not cohorts.empty:
        result.assumptions["last_sales_year"] = int(cohorts["year"].max())
    return result


def forecast(principal: Principal, *, scenario: Scenario | None = None, stream: str = "feedstock",
             metric: str = "tonnes", region: str | None = None, engine: Engine | None = None) -> ForecastOut:  # fmt: skip
    """Forecast (median and interval) of one stream and metric; the shipped default scenario when none given.

    ``engine`` is the registry's database, needed when the scenario asks for the registry's own fleet.
    """
    require_scope(principal, Scope.READ)
    result = _default_forecast() if scenario is None else run_scenario_forecast(scenario, engine)
    return forecast_from_result(result, stream=stream, metric=metric, region=region,
                                calibration=scenario_calibration(scenario))


def _none_if_nan(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and v != v) else v


def capacity(principal: Principal, *, scenario: Scenario | None = None, capacity_table: pd.DataFrame | None = None,
             stage: str = "pretreatment", include_planned: bool = True,
             engine: Engine | None = None) -> CapacityOut:  # fmt: skip
    """Recycling capacity against forecast feedstock per region and year (shipped plants and scenario by default)."""
    require_scope(principal, Scope.READ)
    default = scenario is None and capacity_table is None and stage == "pretreatment" and include_planned
    sc = scenario or scenario_from_mapping({})
    if default:
        out = _default_capacity()
    else:
        cohorts, _origin = scenario_cohorts_input(sc, engine)
        out = run_capacity(sc, capacity_table, stage=stage, include_planned=include_planned, cohorts=cohorts)
    gap = out["gap"]
    rows = [CapacityRow(year=int(r["year"]), region=str(r["region"]),
                        **{k: _none_if_nan(r.get(k)) for k in CapacityRow.model_fields if k not in ("year", "region")})
            for r in gap.to_dict(orient="records")]  # fmt: skip
    return CapacityOut(scenario=sc.name, rows=rows, summary=[CapacitySummary.model_validate(s) for s in out["summary"]],
                       unmatched_plants=list(out["unmatched_plants"]), stage=stage,
                       include_planned=include_planned)  # fmt: skip


# ---------------------------------------------------------------- network


def _places(sites: pd.DataFrame, demand: pd.DataFrame, opened: list[str]) -> list[PlaceOut]:
    def name(r: Any, key: str) -> str:
        return str(getattr(r, "name", getattr(r, key)))

    coords = {str(r.site_id): (float(r.lat), float(r.lon), str(r.kind), name(r, "site_id")) for r in sites.itertuples()}
    coords |= {str(r.source_id): (float(r.lat), float(r.lon), "source", name(r, "source_id"))
               for r in demand.itertuples()}  # fmt: skip
    return [PlaceOut(id=k, lat=v[0], lon=v[1], kind=v[2], name=v[3], opened=k in opened)
            for k, v in sorted(coords.items())]  # fmt: skip


def network_out(plan: NetworkPlan, sites: pd.DataFrame, demand: pd.DataFrame, *, inputs: str,
                integer_trucks: bool) -> NetworkOut:  # fmt: skip
    """A :class:`NetworkPlan` with the places of its sites and sources as a :class:`NetworkOut`."""
    d = plan.to_dict()
    for k in ("n_variables", "n_integer", "n_constraints", "greedy_unmet_t"):
        d.pop(k)
    return NetworkOut.model_validate({**d, "places": _places(sites, demand, plan.opened_sites), "inputs": inputs,
                                      "integer_trucks": integer_trucks})  # fmt: skip


def _example_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = files("circulith.reference") / "data"
    with as_file(data / "example_sites.csv") as sites, as_file(data / "example_demand.csv") as demand:
        return read_csv_table(sites), read_csv_table(demand)


@lru_cache(maxsize=4)
def _example_network(time_limit_s: float, integer_trucks: bool) -> NetworkOut:
    sites, demand = _example_tables()
    opts = NetworkOptions(time_limit_s=time_limit_s, integer_trucks=integer_trucks)
    return network_out(plan_network(sites, demand, options=opts), sites, demand, inputs=EXAMPLE_INPUTS,
                       integer_trucks=integer_trucks)  # fmt: skip


def network_plan(principal: Principal, *, sites: pd.DataFrame | None = None, demand: pd.DataFrame | None = None,
                 costs: pd.DataFrame | None = None, options: NetworkOptions | None = None,
                 inputs: str = "planner's files") -> NetworkOut:  # fmt: skip
    """The cheapest rule-compliant network plan with its proven gap and the greedy baseline.

    Without ``sites`` and ``demand``: the shipped example (cached). Either both or neither must be given;
    ``costs`` is the planner's cost or distance matrix (see :mod:`circulith.planning.network_costs`).
    """
    require_scope(principal, Scope.READ)
    if (sites is None) != (demand is None):
        raise InvalidInput(Problem(None, "sites" if sites is None else "demand", "give both sites and demand"))
    if sites is None or demand is None:
        if costs is None and options is None:
            return _example_network(NETWORK_TIME_LIMIT_S, NETWORK_INTEGER_TRUCKS)
        sites, demand = _example_tables()
        inputs = EXAMPLE_INPUTS
    opts = options or NetworkOptions()
    plan = plan_network(sites, demand, options=opts, costs=costs)
    return network_out(plan, sites, demand, inputs=inputs, integer_trucks=opts.integer_trucks)


def forecast_network_demand(result: ForecastResult, year: int) -> tuple[pd.DataFrame, str]:
    """Network demand from a forecast: its median feedstock of ``year`` over the shipped example collection points.

    Returns the demand rows [t per period of a year] and a note of what they are (see
    :mod:`circulith.planning.forecast_demand`).
    """
    from circulith.planning.forecast_demand import demand_from_forecast
    from circulith.planning.network import validate_demand
    from circulith.planning.reference_data import load_region_states

    _sites, points = _example_tables()
    built = demand_from_forecast(result.table("feedstock", "tonnes"), validate_demand(points, source="example_demand.csv"),
                                 year=year, region_states=load_region_states())  # fmt: skip
    if built.demand.empty:
        raise InvalidInput(Problem(None, "network_demand", f"the forecast has no feedstock in {year} at the example "
                                   "collection points"))  # fmt: skip
    return built.demand, built.note("example_demand.csv")


def scenario_network(principal: Principal, scenario: Scenario, *, year: int, result: ForecastResult | None = None,
                     options: NetworkOptions | None = None, engine: Engine | None = None) -> tuple[NetworkOut, str]:  # fmt: skip
    """The network plan of a scenario's own sites, its demand following its forecast; and a note of that demand.

    Sites: ``[inputs] network_sites`` (required). Demand: ``[inputs] network_demand`` when given (the planner's
    file overrides the forecast), else the scenario's median feedstock of ``year`` by region and chemistry over
    the example collection points (:func:`forecast_network_demand`). ``result`` is the scenario's forecast
    grouped by region and chemistry when already run.
    """
    require_scope(principal, Scope.READ)
    if scenario.network_sites is None:
        raise InvalidInput(Problem(None, "inputs.network_sites", f"scenario {scenario.name!r}: a network plan on the "
                                   "forecast needs the scenario's own sites (network_sites or --sites)"))  # fmt: skip
    sites = read_csv_table(scenario.network_sites)
    costs = read_csv_table(scenario.network_costs) if scenario.network_costs else None
    if scenario.network_demand is not None:
        note = f"planner's demand file {scenario.network_demand} (overrides the forecast)"
        demand = read_csv_table(scenario.network_demand)
    else:
        if result is None:
            grouped = scenario.model_copy(update={"group_by": ["region", "chemistry"]})
            result = run_scenario_forecast(grouped, engine)
        demand, note = forecast_network_demand(result, year)
    plan = network_plan(principal, sites=sites, demand=demand, costs=costs, options=options or NetworkOptions(),
                        inputs=f"{scenario.network_sites}; {note}")  # fmt: skip
    return plan, note


def warm_planning_caches() -> None:
    """Compute the cached forecast, capacity gap and example network plan (at server start, in a thread)."""
    try:
        _default_forecast()
        scenario_calibration()
        _default_capacity()
        _example_network(NETWORK_TIME_LIMIT_S, NETWORK_INTEGER_TRUCKS)
    except Exception:
        log.exception("warming the planning caches failed")
