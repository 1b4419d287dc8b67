"""The network plan follows the forecast: feedstock by region and year becomes the collection volumes."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

import pandas as pd
import pytest

from circulith.auth.policy import Principal, Scope
from circulith.errors import InvalidInput
from circulith.planning.forecast_demand import demand_from_forecast
from circulith.planning.network import validate_demand
from circulith.planning.readers import read_scenario
from circulith.planning.reference_data import load_region_states
from circulith.services.planning_compare import compare_scenarios

READER = Principal(org_id="T", scopes=frozenset({Scope.READ}), via="test")


def _points() -> pd.DataFrame:
    return validate_demand(pd.DataFrame({
        "source_id": ["BER", "MUC", "PAR", "AMS"], "lat": [52.5, 48.1, 48.9, 52.4], "lon": [13.4, 11.6, 2.4, 4.9],
        "tonnes": [300.0, 100.0, 50.0, 80.0], "damaged_share": [0.1, 0.0, 0.2, 0.1], "chemistry": ["LFP"] * 4,
        "state": ["DE", "DE", "FR", "NL"],
    }))  # fmt: skip


def test_feedstock_is_spread_over_the_points_of_its_region_in_proportion() -> None:
    feed = pd.DataFrame({"year": [2030, 2030, 2030, 2031], "region": ["Germany", "Germany", "USA", "Germany"],
                         "chemistry": ["NMC811", "LFP", "LFP", "LFP"], "median": [800.0, 400.0, 90.0, 1.0]})  # fmt: skip
    built = demand_from_forecast(feed, _points(), year=2030, region_states=load_region_states())
    d = built.demand.set_index("source_id")
    # Berlin carries 3/4 of Germany's tonnes (300 of 400 template tonnes), Munich 1/4, per chemistry
    assert d.loc["BER/NMC811", "tonnes"] == pytest.approx(600.0) and d.loc["MUC/LFP", "tonnes"] == pytest.approx(100.0)
    assert d.loc["BER/NMC811", "chemistry"] == "NMC811" and d.loc["BER/NMC811", "damaged_share"] == 0.1
    assert built.total_t == pytest.approx(1200.0)
    # France has no forecast here and the Netherlands neither: their points are left out and named
    assert built.points_without_region == ["AMS", "PAR"]
    # the USA has feedstock but no point: named with its tonnes, never silently dropped
    assert built.regions_without_points == ["USA"] and built.unplaced_t == pytest.approx(90.0)
    assert "median feedstock of 2030, 1,200 t" in built.note("p.csv") and "90 t of USA not placed" in built.note("p.csv")


def test_a_group_region_takes_every_point_in_its_countries() -> None:
    feed = pd.DataFrame({"year": [2030], "region": ["Europe"], "median": [1060.0]})
    built = demand_from_forecast(feed, _points(), year=2030, region_states=load_region_states())
    assert built.points_without_region == []
    # shares follow the template tonnes over all four points (530 t in all)
    assert built.demand.set_index("source_id").loc["BER", "tonnes"] == pytest.approx(600.0)
    # a region may be named in any case, or by its state code
    lower = demand_from_forecast(feed.assign(region="germany"), _points(), year=2030, region_states=load_region_states())
    code = demand_from_forecast(feed.assign(region="FR"), _points(), year=2030, region_states=load_region_states())
    assert set(lower.demand["source_id"]) == {"BER", "MUC"} and set(code.demand["source_id"]) == {"PAR"}
    with pytest.raises(InvalidInput, match="no forecast for 2050"):
        demand_from_forecast(feed, _points(), year=2050, region_states=load_region_states())
    with pytest.raises(InvalidInput, match="no collection point lies in the forecast regions"):
        demand_from_forecast(feed.assign(region="China"), _points(), year=2030, region_states=load_region_states())


def _scenario(tmp_path: Path, name: str, factor: float, *, demand: str | None = None) -> Path:
    rows = [{"region": region, "chemistry": "NMC811", "year": y, "units": round(factor * 400 * 1.3 ** (y - 2012)),
             "segment": "Cars", "pack_kwh": 60} for region in ("Germany", "France") for y in range(2012, 2027)]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / f"{name}.csv", index=False)
    with as_file(files("circulith.reference") / "data" / "example_sites.csv") as sites:
        text = (f'[scenario]\nname = "{name}"\nensemble_members = 20\nend_year = 2032\n[inputs]\n'
                f'sales = "{name}.csv"\nnetwork_sites = "{sites}"\n')  # fmt: skip
    if demand:
        text += f'network_demand = "{demand}"\n'
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_compare_network_follows_each_scenarios_feedstock_unless_a_demand_file_is_given(
        tmp_path: Path, relaxed_example_network: None) -> None:  # fmt: skip
    base = read_scenario(_scenario(tmp_path, "base", 1.0))
    more = read_scenario(_scenario(tmp_path, "more", 1.25))
    out = compare_scenarios(READER, [base, more], from_year=2026, to_year=2030)
    fig = {(r.figure, r.region, r.chemistry): r for r in out.rows}
    assert fig[("feedstock", "Germany", "NMC811")].relative_difference["more"] == pytest.approx(0.25, rel=1e-3)
    for s in out.scenarios:
        assert s.network_demand.startswith("demand from the forecast: median feedstock of 2030")
        assert s.network_status == "optimal"
    # the collection volumes are the forecast's: 25 % more feedstock, 25 % more tonnes collected
    t = [float(s.network_demand.split("2030, ")[1].split(" t")[0].replace(",", "")) for s in out.scenarios]
    assert t[1] / t[0] == pytest.approx(1.25, rel=2e-3)
    for figure in ("network cost", "network CO2e", "trucks"):
        assert fig[(figure, None, None)].relative_difference["more"] > 0.01, figure
    # the planner's own demand file overrides the forecast: the same network in both scenarios
    with as_file(files("circulith.reference") / "data" / "example_demand.csv") as demand:
        fixed = [read_scenario(_scenario(tmp_path, n, f, demand=str(demand))) for n, f in (("a", 1.0), ("b", 1.25))]
        out = compare_scenarios(READER, fixed, from_year=2026, to_year=2030)
    assert all("overrides the forecast" in s.network_demand for s in out.scenarios)
    cost = next(r for r in out.rows if r.figure == "network cost")
    assert cost.difference["b"] == pytest.approx(0.0, abs=1e-6)


def test_network_plan_of_a_scenario_collects_its_forecast(tmp_path: Path, cli_json) -> None:
    path = _scenario(tmp_path, "mine", 1.0)
    plan = cli_json("network", "plan", "--scenario", str(path), "--year", "2030", "--continuous-trucks")
    assert "demand from the forecast: median feedstock of 2030" in plan["inputs"]
    total = float(plan["inputs"].split("2030, ")[1].split(" t")[0].replace(",", ""))
    # every forecast tonne leaves a collection point (one source per point and chemistry), nothing unmet
    collected = sum(f["tonnes"] for f in plan["flows"] if "/" in f["from_id"])
    assert collected == pytest.approx(total, rel=1e-3) and plan["unmet"] == []
    # the planner's own demand file overrides the forecast
    with as_file(files("circulith.reference") / "data" / "example_demand.csv") as demand:
        own = cli_json("network", "plan", "--scenario", str(path), "--demand", str(demand), "--continuous-trucks")
    assert "overrides the forecast" in own["inputs"]
