"""Forecast engine: conservation, second life, scrap, ensembles, bad input, shipped data."""

import numpy as np
import pandas as pd
import pytest

from circulith.errors import InvalidInput
from circulith.planning.forecast import forecast_flows, sample_lifetime_ensemble
from circulith.planning.lifetime import CompetingRisks
from circulith.planning.reference_data import (
    default_prices_usd_per_kg,
    load_contained_metals_fallback,
    load_iea_ev_sales,
    load_pack_specific_energy_wh_per_kg,
)
from circulith.planning.scenario import scenario_from_mapping
from circulith.planning.service import run_forecast, scenario_cohorts

METALS = load_contained_metals_fallback()
WHKG = load_pack_specific_energy_wh_per_kg()
PRICES = default_prices_usd_per_kg()


def one_cohort(units=1000.0, kwh=60.0, chem="NMC811", year=2020):
    return pd.DataFrame({"year": [year], "region": ["R"], "segment": ["Cars"], "chemistry": [chem],
                         "units": [units], "pack_kwh": [kwh]})


def run(cohorts, risks, **kw):
    kw.setdefault("end_year", 2120)
    kw.setdefault("second_life_share", 0.15)
    kw.setdefault("second_life_years", 7)
    return forecast_flows(cohorts, {"Cars": risks}, contained_kg_per_kwh=METALS, prices_usd_per_kg=PRICES,
                          pack_wh_per_kg=WHKG, **kw)


def test_every_unit_reaches_end_of_life_and_masses_follow():
    r = run(one_cohort(), CompetingRisks(3.0, 12.0, 4.0, 15.0, 0.01), second_life_share=0.3, second_life_years=5)
    eol = r.table("eol", "units")
    assert eol["median"].sum() == pytest.approx(1000.0, rel=1e-6)
    gwh = r.table("eol", "gwh")["median"].sum()
    assert gwh == pytest.approx(1000 * 60 / 1e6, rel=1e-6)
    tonnes = r.table("eol", "tonnes")["median"].sum()
    assert tonnes == pytest.approx(1000 * 60 / WHKG["NMC811"], rel=1e-6)  # kWh / (Wh/kg) = t
    li = r.table("eol", "li_t")["median"].sum()
    assert li == pytest.approx(1000 * 60 * METALS.loc["NMC811", "Li"] / 1000, rel=1e-6)
    value = r.table("eol", "value_musd")["median"].sum()
    expected = sum(1000 * 60 * METALS.loc["NMC811", m] * PRICES[m] for m in ("Li", "Ni", "Co", "Mn")) / 1e6
    assert value == pytest.approx(expected, rel=1e-6)


def test_second_life_delays_the_healthy_share():
    risks = CompetingRisks(3.0, 12.0, 4.0, 15.0, 0.0)
    base = run(one_cohort(), risks, second_life_share=0.0)
    sl = run(one_cohort(), risks, second_life_share=1.0, second_life_years=6)
    b = base.table("eol", "units")["median"].to_numpy()
    s = sl.table("eol", "units")["median"].to_numpy()
    np.testing.assert_allclose(s[6:], b[:-6], atol=1e-9)
    assert s[:6].sum() == pytest.approx(0.0, abs=1e-9)


def test_crash_flows_are_damaged_and_not_repurposed():
    risks = CompetingRisks(3.0, 1e12 ** 0 * 50.0, 4.0, 50.0, 0.05)
    r = run(one_cohort(), risks, second_life_share=1.0, second_life_years=10, end_year=2025)
    dmg = r.table("eol_damaged", "units")
    eol = r.table("eol", "units")
    # before any second-life return (10 years), end of life is crash only
    np.testing.assert_allclose(eol["median"].to_numpy()[:6], dmg["median"].to_numpy()[:6], rtol=1e-9)
    assert dmg["median"].iloc[0] == pytest.approx(1000 * (1 - np.exp(-0.05 * 0.5)), rel=2e-3)


def test_production_scrap_stream():
    r = run(one_cohort(year=2020), CompetingRisks(3.0, 12.0, 4.0, 15.0, 0.0), scrap_share_by_year={2020: 0.1},
            end_year=2030)
    scrap = r.table("production_scrap", "gwh")
    assert scrap.loc[scrap.year == 2020, "median"].item() == pytest.approx(0.06 * 0.1 / 0.9)


def test_ensemble_interval_brackets_median():
    members = sample_lifetime_ensemble({"Cars": CompetingRisks(3.0, 12.0, 4.0, 15.0, 0.005)}, 100, relative_sd=0.12,
                                       seed=2)
    r = forecast_flows(one_cohort(), members, end_year=2045, contained_kg_per_kwh=METALS,
                       prices_usd_per_kg=PRICES, pack_wh_per_kg=WHKG, second_life_share=0.15, second_life_years=7)
    t = r.table("eol", "gwh")
    assert r.n_members == 100
    assert (t["lower"] <= t["median"] + 1e-12).all() and (t["median"] <= t["upper"] + 1e-12).all()
    assert (t["upper"] - t["lower"]).max() > 0


def test_bad_inputs_are_named():
    gap = pd.concat([one_cohort(year=2018), one_cohort(year=2020)])
    with pytest.raises(InvalidInput, match="gaps"):
        run(gap, CompetingRisks(3.0, 12.0, 4.0, 15.0, 0.0))
    with pytest.raises(InvalidInput, match="battery_scale_years"):
        run(one_cohort(), CompetingRisks(3.0, 500.0, 4.0, 15.0, 0.0))
    neg = one_cohort(units=-5)
    with pytest.raises(InvalidInput, match="units"):
        run(neg, CompetingRisks(3.0, 12.0, 4.0, 15.0, 0.0))
    with pytest.raises(InvalidInput, match="unknown region"):
        run_forecast(scenario_from_mapping({"scenario": {"regions": ["Atlantis"], "ensemble_members": 2}}))
    with pytest.raises(InvalidInput, match="lifetime.Cars.battery_shape"):
        scenario_from_mapping({"lifetime": {"Cars": {"battery_shape": 40.0}}})


def test_shipped_iea_data_reproduces_published_2023_world_sales():
    # IEA Global EV Outlook 2024: electric car sales neared 14 million in 2023 (9.5 M BEV + 4.3 M PHEV).
    iea = load_iea_ev_sales()
    w = iea[(iea.region == "World") & (iea.category == "Historical") & (iea.parameter == "EV sales")
            & (iea["mode"] == "Cars") & (iea.year == 2023)]
    assert w["value"].sum() == pytest.approx(13.8e6, rel=0.01)


def test_china_2023_battery_demand_close_to_iea_figure():
    # IEA GEVO 2024: China EV battery demand ~415 GWh in 2023; our cohorts x pack kWh should land near it.
    sc = scenario_from_mapping({"scenario": {"regions": ["China"], "ensemble_members": 1}})
    c = scenario_cohorts(sc)
    gwh = (c[c.year == 2023].eval("units * pack_kwh")).sum() / 1e6
    assert 0.75 * 415 < gwh < 1.25 * 415


def test_scenario_run_is_fast_and_ranged():
    sc = scenario_from_mapping({"scenario": {"regions": ["China", "USA"], "ensemble_members": 50}})
    r = run_forecast(sc)
    t = r.table("feedstock", "gwh")
    assert set(t.region) == {"China", "USA"}
    assert (t["upper"] >= t["lower"]).all()
