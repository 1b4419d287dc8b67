"""Orchestration of the planning engines from a scenario (shared by the CLI and the API)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from circulith.planning.cohorts import build_cohorts, sales_series
from circulith.planning.forecast import ForecastResult, forecast_flows, sample_lifetime_ensemble
from circulith.planning.metals import contained_kg_per_kwh as catalogue_contained_kg_per_kwh
from circulith.planning.reference_data import (
    load_chemistry_shares,
    load_iea_ev_sales,
    load_pack_specific_energy_wh_per_kg,
)
from circulith.planning.scenario import Scenario


def scenario_cohorts(scenario: Scenario, iea: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sales cohorts of a scenario from the shipped IEA series and chemistry shares."""
    iea = load_iea_ev_sales() if iea is None else iea
    sales = sales_series(
        iea,
        scenario.regions,
        scenario.modes,
        first_year=scenario.first_sales_year,
        last_year=scenario.last_sales_year,
        projection=scenario.sales_projection,
    )
    return build_cohorts(sales, load_chemistry_shares(), scenario.pack_kwh)


def run_forecast(
    scenario: Scenario,
    *,
    cohorts: pd.DataFrame | None = None,
    contained_kg_per_kwh: pd.DataFrame | None = None,
) -> ForecastResult:
    """Run the retirement and feedstock forecast of a scenario.

    Parameters
    ----------
    scenario : Scenario
        Parameters (see :mod:`circulith.planning.scenario`).
    cohorts : pandas.DataFrame, optional
        Own cohorts (e.g. from the registry); default: built from the shipped IEA series.
    contained_kg_per_kwh : pandas.DataFrame, optional
        Contained Li/Ni/Co/Mn [kg/kWh] by chemistry; default: derived from the recovery composition
        catalogue (:func:`circulith.planning.metals.contained_kg_per_kwh`), the fallback table only for
        chemistries the catalogue lacks.
    """
    cohorts = scenario_cohorts(scenario) if cohorts is None else cohorts
    if contained_kg_per_kwh is None:
        metals = catalogue_contained_kg_per_kwh(sorted(set(cohorts["chemistry"].astype(str))))
    else:
        metals = contained_kg_per_kwh
    prices, price_note = scenario.prices()
    members = sample_lifetime_ensemble(
        scenario.lifetimes(), scenario.ensemble_members, relative_sd=scenario.relative_sd, seed=scenario.seed
    )
    result = forecast_flows(
        cohorts,
        members,
        end_year=scenario.end_year,
        contained_kg_per_kwh=metals,
        prices_usd_per_kg=prices,
        pack_wh_per_kg=load_pack_specific_energy_wh_per_kg(),
        second_life_share=scenario.second_life_share,
        second_life_years=scenario.second_life_years,
        scrap_share_by_year=scenario.scrap_share_by_year(),
        group_by=scenario.group_by,
        interval=scenario.interval,
    )
    result.assumptions["scenario"] = scenario.name
    result.assumptions["prices_source"] = price_note
    result.assumptions["contained_metals_source"] = sorted(set(metals["source"])) if "source" in metals else []
    result.assumptions["regions"] = list(scenario.regions)
    result.assumptions["lifetime"] = {k: v.model_dump() for k, v in scenario.lifetime.items()}
    return result


def run_capacity(
    scenario: Scenario,
    capacity: pd.DataFrame | None = None,
    *,
    stage: str = "pretreatment",
    include_planned: bool = True,
    cohorts: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Capacity against forecast feedstock for a scenario (forecast grouped by region).

    Parameters
    ----------
    scenario : Scenario
        Forecast scenario (its ``group_by`` is replaced by ``["region"]``).
    capacity : pandas.DataFrame, optional
        Capacity table; default: the shipped ``recycling_capacity.csv``.
    stage, include_planned
        See :func:`circulith.planning.capacity.capacity_gap`.
    cohorts : pandas.DataFrame, optional
        Own cohorts (e.g. from the registry).

    Returns
    -------
    dict
        ``gap`` (frame from :func:`capacity_gap`), ``summary`` (per region), ``unmatched_plants``,
        ``assumptions``.
    """
    from circulith.planning.capacity import capacity_gap, gap_summary, unmatched_plants
    from circulith.planning.reference_data import load_recycling_capacity

    cap = load_recycling_capacity() if capacity is None else capacity
    sc = scenario.model_copy(update={"group_by": ["region"]})
    result = run_forecast(sc, cohorts=cohorts)
    feed = result.table("feedstock", "tonnes")[["year", "region", "median", "lower", "upper"]]
    gap = capacity_gap(feed, cap, stage=stage, include_planned=include_planned)
    return {
        "gap": gap,
        "summary": gap_summary(gap),
        "unmatched_plants": unmatched_plants(cap, sorted(set(feed["region"]))),
        "assumptions": {**result.assumptions, "stage": stage, "include_planned": include_planned,
                        "n_members": result.n_members, "interval": list(result.interval),
                        "feedstock": "end of life + production scrap, tonnes of pack",
                        "capacity_basis": "as stated per plant (packs, cells, or material infeed): see capacity_basis"},
    }  # fmt: skip


def run_backtest(
    scenario: Scenario,
    *,
    mode: str = "Cars",
    regions: list[str] | None = None,
    origins: list[int] | None = None,
    horizon: int = 3,
    lookback: int = 3,
    balance: pd.DataFrame | None = None,
) -> Any:
    """Rolling-origin backtest of the scenario's lifetime law (one mode) against observed exits.

    ``balance`` (``region, year, sales, stock, exits``) defaults to the IEA fleet balance; pass the
    registry's observed retirements instead when they exist (then the battery law is kept).
    """
    from circulith.planning.backtest import (
        backtest_scenario_law,
        fleet_balance_from_iea,
        rolling_origin_backtest,
    )

    law = backtest_scenario_law(scenario.lifetimes(), mode)
    members = sample_lifetime_ensemble({mode: law}, scenario.ensemble_members, relative_sd=scenario.relative_sd,
                                       seed=scenario.seed)[mode]  # fmt: skip
    from_iea = balance is None
    bal = fleet_balance_from_iea(load_iea_ev_sales(), mode, regions) if from_iea else balance
    result = rolling_origin_backtest(bal, members, origins=origins or list(range(2015, 2021)), horizon=horizon,
                                     lookback=lookback, interval=scenario.interval, vehicle_exits_only=from_iea)  # fmt: skip
    result.settings.update({"mode": mode, "observed": "IEA fleet balance stock(t-1)+sales(t)-stock(t)"
                            if from_iea else "given observed retirements", "scenario": scenario.name})  # fmt: skip
    return result
