"""Scenario comparison: N forecast scenarios side by side, with each figure's difference to a base.

Per scenario, over a window of years: recycling feedstock by region and chemistry [t], contained Li, Ni, Co,
Mn [t] and their value [MUSD], the capacity deficit per region (feedstock above pretreatment capacity) [t],
and the network plan's cost [USD per period], CO2e [t per period] and trucks per week, on the scenario's own
network inputs or the shipped example. A scenario that names its sites but no demand file gets the demand of its
own forecast (feedstock of the window's last year over the example collection points), so its network follows
its feedstock; a demand file overrides the forecast, and each scenario says which demand it used. Every figure is a row with one value per scenario and its difference to
the base scenario (absolute and relative).
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
from pydantic import BaseModel
from sqlalchemy import Engine

from circulith.auth.policy import Principal, Scope
from circulith.errors import InvalidInput, Problem
from circulith.planning.forecast import ForecastResult
from circulith.planning.network_milp import NetworkOptions
from circulith.planning.scenario import Scenario
from circulith.planning.service import run_capacity
from circulith.services import planning as planning_svc
from circulith.services.access_rules import require_scope
from circulith.services.planning import (
    EXAMPLE_INPUTS,
    CalibrationOut,
    NetworkOut,
    calibration_out,
    network_plan,
    run_scenario_forecast,
    scenario_calibration,
    scenario_cohorts_input,
    scenario_network,
)

MAX_SCENARIOS = 8
METALS = (("li_t", "Li"), ("ni_t", "Ni"), ("co_t", "Co"), ("mn_t", "Mn"))


class FigureRow(BaseModel):
    """One figure of the comparison: a value per scenario and the difference to the base."""

    figure: str
    unit: str
    region: str | None = None
    chemistry: str | None = None
    values: dict[str, float | None]
    difference: dict[str, float | None]
    relative_difference: dict[str, float | None]


class ScenarioSummary(BaseModel):
    """What each scenario is and how far its ranges can be trusted."""

    name: str
    cohorts_source: str
    prices_source: str
    network_inputs: str
    network_demand: str = ""
    network_status: str
    network_gap: float | None = None
    calibration: CalibrationOut


class ComparisonOut(BaseModel):
    """Scenarios side by side over a window of years."""

    base: str
    from_year: int
    to_year: int
    scenarios: list[ScenarioSummary]
    rows: list[FigureRow]


def _window(df: pd.DataFrame, y0: int, y1: int) -> pd.DataFrame:
    return df[(df["year"] >= y0) & (df["year"] <= y1)]


def _network(principal: Principal, sc: Scenario, time_limit_s: float, result: ForecastResult,
             year: int) -> tuple[NetworkOut, str]:  # fmt: skip
    """The scenario's network plan and a note of the demand it used.

    The planner's demand file when the scenario names one; else, with the scenario's own sites, the forecast
    feedstock of ``year`` over the shipped example collection points (:mod:`circulith.planning.forecast_demand`);
    with neither, the shipped example network as it is (its demand does not follow the forecast).
    """
    if sc.network_costs is not None and sc.network_sites is None:
        raise InvalidInput(Problem(None, "inputs.network_costs", "needs network_sites"))
    if sc.network_sites is None:
        if sc.network_demand is not None:
            raise InvalidInput(Problem(None, "inputs.network_sites", f"scenario {sc.name!r}: network_demand needs "
                                       "network_sites"))  # fmt: skip
        return network_plan(principal), (f"shipped example demand ({EXAMPLE_INPUTS}); it does not follow the "
                                         "forecast: give network_sites for a plan on the forecast")  # fmt: skip
    opts = NetworkOptions(time_limit_s=time_limit_s, integer_trucks=planning_svc.NETWORK_INTEGER_TRUCKS)
    return scenario_network(principal, sc, year=year, result=result, options=opts)


def compare_scenarios(principal: Principal, scenarios: list[Scenario], *, base: str | None = None,
                      from_year: int, to_year: int, engine: Engine | None = None,
                      network_time_limit_s: float = 60.0) -> ComparisonOut:  # fmt: skip
    """Run each scenario's forecast, capacity gap and network plan; tabulate them against the base.

    Parameters
    ----------
    principal : Principal
        The caller (read scope).
    scenarios : list of Scenario
        Two to eight scenarios with distinct names.
    base : str, optional
        Name of the base scenario (default: the first).
    from_year, to_year : int
        Window of forecast years summed [year].
    engine : sqlalchemy.Engine, optional
        The registry, for scenarios that read the registry's fleet.
    network_time_limit_s : float
        Solver time limit per scenario network [s].
    """
    require_scope(principal, Scope.READ)
    names = [s.name for s in scenarios]
    if not 2 <= len(scenarios) <= MAX_SCENARIOS:
        raise InvalidInput(Problem(None, "scenario", f"give 2 to {MAX_SCENARIOS} scenarios, got {len(scenarios)}"))
    if len(set(names)) != len(names):
        raise InvalidInput(Problem(None, "scenario.name", f"scenario names must differ, got {names}"))
    base = base or names[0]
    if base not in names:
        raise InvalidInput(Problem(None, "base", f"no scenario named {base!r}; have {names}"))
    if from_year > to_year:
        raise InvalidInput(Problem(None, "from_year", f"from_year {from_year} is after to_year {to_year}"))
    figures: dict[tuple[str, str, str | None, str | None], dict[str, float | None]] = {}
    summaries: list[ScenarioSummary] = []

    def put(figure: str, unit: str, region: str | None, chem: str | None, name: str, v: float | None) -> None:
        figures.setdefault((figure, unit, region, chem), {})[name] = v

    for sc in scenarios:
        grouped = sc.model_copy(update={"group_by": ["region", "chemistry"]})
        result = run_scenario_forecast(grouped, engine)
        feed = _window(result.table("feedstock", "tonnes"), from_year, to_year)
        for (region, chem), g in feed.groupby(["region", "chemistry"], sort=True):
            put("feedstock", "t", str(region), str(chem), sc.name, float(g["median"].sum()))
        for metric, metal in METALS:
            put(f"contained {metal}", "t", None, None, sc.name,
                float(_window(result.table("feedstock", metric), from_year, to_year)["median"].sum()))
        put("contained metal value", "MUSD", None, None, sc.name,
            float(_window(result.table("feedstock", "value_musd"), from_year, to_year)["median"].sum()))
        cohorts, _origin = scenario_cohorts_input(sc, engine)
        gap = _window(run_capacity(sc, cohorts=cohorts)["gap"], from_year, to_year)
        for region, g in gap.groupby("region", sort=True):
            put("capacity deficit", "t", str(region), None, sc.name, float(g["gap_t"].clip(lower=0).sum()))
        net, demand_note = _network(principal, sc, network_time_limit_s, result, to_year)
        put("network cost", "USD per period", None, None, sc.name, net.objective_usd)
        put("network CO2e", "t per period", None, None, sc.name, net.emissions_t_co2e)
        put("trucks", "per week", None, None, sc.name, net.trucks_per_week)
        summaries.append(ScenarioSummary(
            name=sc.name, cohorts_source=str(result.assumptions.get("cohorts_source", "")),
            prices_source=str(result.assumptions.get("prices_source", "")), network_inputs=net.inputs,
            network_demand=demand_note,
            network_status=net.status, network_gap=net.mip_gap, calibration=calibration_out(scenario_calibration(sc)),
        ))  # fmt: skip
    rows = []
    for (figure, unit, region, chem), values in figures.items():
        vals = {n: values.get(n) for n in names}
        b = vals[base]
        diff = {n: (None if v is None or b is None else v - b) for n, v in vals.items()}
        rel = {n: (None if d is None or not b else d / abs(b)) for n, d in diff.items()}
        rows.append(FigureRow(figure=figure, unit=unit, region=region, chemistry=chem, values=vals, difference=diff,
                              relative_difference=rel))  # fmt: skip
    return ComparisonOut(base=base, from_year=from_year, to_year=to_year, scenarios=summaries, rows=rows)


EXAMPLE_SCENARIOS = ("base.toml", "metal_price_drop.toml", "longer_first_life.toml", "new_spoke.toml")
"""The shipped example scenarios (reference/data/scenarios): base, a metal-price drop, a longer first life, a new
spoke."""


def example_scenarios() -> list[Scenario]:
    """The shipped example scenarios, read from the package."""
    from importlib.resources import as_file, files

    from circulith.planning.readers import read_scenario

    out = []
    for name in EXAMPLE_SCENARIOS:
        with as_file(files("circulith.reference") / "data" / "scenarios" / name) as path:
            out.append(read_scenario(path))
    return out


@lru_cache(maxsize=8)
def _examples(from_year: int, to_year: int, integer_trucks: bool) -> ComparisonOut:
    reader = Principal(org_id="planning-examples", scopes=frozenset({Scope.READ}), via="cache")
    return compare_scenarios(reader, example_scenarios(), from_year=from_year, to_year=to_year)


def compare_example_scenarios(principal: Principal, *, from_year: int, to_year: int) -> ComparisonOut:
    """:func:`compare_scenarios` on the shipped example scenarios (base first; cached: shipped inputs only)."""
    require_scope(principal, Scope.READ)
    return _examples(from_year, to_year, planning_svc.NETWORK_INTEGER_TRUCKS)
