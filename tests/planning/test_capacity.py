"""Capacity against feedstock: operating years, region matching, utilisation, gap, shipped table, CLI."""

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from circulith.cli.planning_commands import forecast_app
from circulith.errors import InvalidInput
from circulith.planning.capacity import capacity_by_year, capacity_gap, gap_summary, unmatched_plants
from circulith.planning.reference_data import load_recycling_capacity


def plants():
    return pd.DataFrame({
        "plant_id": ["A", "B", "C", "D", "E", "F"],
        "country": ["Germany", "Sweden", "USA", "Sweden", "Japan", "Germany"],
        "region": ["Europe", "Europe", "USA", "Europe", "Rest of the world", "Europe"],
        "stage": ["pretreatment", "pretreatment", "pretreatment", "pretreatment", "pretreatment", "refining"],
        "status": ["installed", "planned", "installed", "closed", "installed", "installed"],
        "start_year": [2020, 2026, 2022, 2021, 2020, 2020], "end_year": [None, None, None, 2024, None, None],
        "capacity_t_per_year": [100.0, 50.0, 80.0, 30.0, 10.0, 999.0],
    })  # fmt: skip


def test_operating_years_status_and_stage():
    c = capacity_by_year(plants(), range(2019, 2028), ["Europe", "USA"]).set_index(["region", "year"])
    eu = c.loc["Europe"]
    assert eu.loc[2019, "installed_t"] == 0
    assert eu.loc[2021, "installed_t"] == 130  # A + D (refining F never counted)
    assert eu.loc[2024, "installed_t"] == 100  # D closed in 2024
    assert eu.loc[2026, "installed_t"] == 100 and eu.loc[2026, "with_planned_t"] == 150
    assert c.loc[("USA", 2021), "installed_t"] == 0 and c.loc[("USA", 2022), "installed_t"] == 80
    # a country-level forecast region takes precedence over the group
    g = capacity_by_year(plants(), [2022], ["Germany", "Europe"]).set_index("region")
    assert g.loc["Germany", "installed_t"] == 100 and g.loc["Europe", "installed_t"] == 30
    assert unmatched_plants(plants(), ["Europe", "USA"]) == ["E"]


def test_gap_utilisation_and_positions():
    feed = pd.DataFrame({"year": [2022, 2022, 2023], "region": ["Europe", "USA", "USA"],
                         "median": [100.0, 160.0, 79.5], "lower": [90.0, 150.0, 70.0], "upper": [110.0, 170.0, 90.0]})
    g = capacity_gap(feed, plants()).set_index(["region", "year"])
    eu = g.loc[("Europe", 2022)]
    assert eu["capacity_t"] == 130 and eu["gap_t"] == pytest.approx(-30)
    assert eu["utilisation"] == pytest.approx(100 / 130) and eu["position"] == "surplus"
    assert eu["utilisation_lower"] == pytest.approx(90 / 130)
    us = g.loc[("USA", 2022)]
    assert us["position"] == "deficit" and us["gap_t"] == pytest.approx(80)
    assert g.loc[("USA", 2023), "position"] == "balanced"  # within 1 %
    s = {r["region"]: r for r in gap_summary(g.reset_index())}
    assert s["USA"]["first_deficit_year"] == 2022 and s["Europe"]["surplus_years"] == [2022]


def test_bad_capacity_rows_are_named():
    bad = plants().assign(capacity_t_per_year=[0, 1, 1, 1, 1, 1], status=["installed", "dreamt", "installed",
                          "closed", "installed", "installed"])  # fmt: skip
    bad.loc[3, "end_year"] = None
    with pytest.raises(InvalidInput) as e:
        capacity_by_year(bad, [2022], ["Europe"])
    fields = {(p.field, p.record_id) for p in e.value.problems}
    assert {("capacity_t_per_year", "A"), ("status", "B"), ("end_year", "D")} <= fields


def test_shipped_table_is_cited_and_valid():
    cap = load_recycling_capacity()
    assert cap["source"].str.len().min() > 20
    assert set(cap["certainty"]) <= {"confirmed", "uncertain"}
    c = capacity_by_year(cap, [2023], ["China", "Europe", "USA", "Rest of the world"]).set_index("region")
    # Hydrovolt 12,000 + Umicore 7,000 + Stena 10,000 + SungEel 57,000 + Li-Cycle Magdeburg 20,000 (2023)
    assert c.loc["Europe", "installed_t"] == pytest.approx(106_000)


def test_cli_capacity_json():
    app = typer.Typer()
    app.add_typer(forecast_app, name="forecast")
    res = CliRunner().invoke(app, ["forecast", "capacity", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {r["region"] for r in out["summary"]} == {"China", "Europe", "USA", "Rest of the world"}
    assert all(r["position"] in ("deficit", "surplus", "balanced") for r in out["rows"])
