"""Journey 4 on the planner's own data: a sales file and price bases in the scenario, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from circulith.errors import InvalidInput
from circulith.planning.readers import read_scenario
from circulith.planning.scenario import scenario_from_mapping


def _write(tmp_path: Path, sales: pd.DataFrame, extra: str = "", parquet: bool = False) -> Path:
    name = "sales.parquet" if parquet else "sales.csv"
    if parquet:
        sales.to_parquet(tmp_path / name, index=False)
    else:
        sales.to_csv(tmp_path / name, index=False)
    path = tmp_path / "scenario.toml"
    path.write_text(f'[scenario]\nname = "own"\nend_year = 2060\n\n[inputs]\nsales = "{name}"\n{extra}')
    return path


def _sales(units: float = 1000.0) -> pd.DataFrame:
    return pd.DataFrame({"region": ["Bavaria", "Bavaria", "Saxony"], "chemistry": ["LFP", "NMC811", "LFP"],
                         "year": [2020, 2021, 2020], "units": [units, 2 * units, units / 2]})


def _total(out, region: str | None = None) -> float:
    return sum(r.median for r in out.rows if region is None or r.region == region)


def test_own_sales_file_drives_the_forecast(tmp_path: Path, cli_json) -> None:
    from circulith.cli.principal import registry_operator as _principal
    from circulith.services.planning import forecast

    sc = read_scenario(_write(tmp_path, _sales()))
    out = forecast(_principal(), scenario=sc, stream="first_life_exit", metric="units")
    assert set(out.regions) == {"Bavaria", "Saxony"}
    assert "planner's sales file" in out.cohorts_source
    # nearly every pack sold in 2020-2021 leaves first life by 2060 (battery scale 15 y, vehicle 16 y)
    assert _total(out, "Bavaria") == pytest.approx(3000.0, rel=0.05)
    assert _total(out, "Saxony") == pytest.approx(500.0, rel=0.05)
    # the forecast is linear in sales: doubling the file doubles every median
    sc2 = read_scenario(_write(tmp_path, _sales(2000.0)))
    out2 = forecast(_principal(), scenario=sc2, stream="first_life_exit", metric="units")
    for a, b in zip(out.rows, out2.rows, strict=True):
        assert b.median == pytest.approx(2 * a.median, rel=1e-9, abs=1e-9)
    # the CLI reads the same file through the scenario, Parquet too
    cli = cli_json("forecast", "run", "--scenario", str(_write(tmp_path, _sales(), parquet=True)),
                   "--stream", "first_life_exit", "--metric", "units")
    assert sum(r["median"] for r in cli["rows"]) == pytest.approx(_total(out), rel=1e-9)


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda d: d.drop(columns="units"), r"field 'units'.*missing column"),
    (lambda d: d.assign(chemistry=["LFP", "Unobtainium", "LFP"]), r"row 2.*chemistry.*unknown chemistry 'Unobtainium'"),
    (lambda d: d.assign(year=[2020, 1850, 2020]), r"row 2.*year.*whole year"),
    (lambda d: d.assign(units=[1.0, -5.0, 1.0]), r"row 2.*units.*>= 0"),
    (lambda d: d.assign(year=[2020, 2021, 2020], region=["Bavaria", "Bavaria", "Bavaria"]), r"row 3.*given twice"),
])
def test_bad_sales_file_is_refused_with_row_and_field(tmp_path: Path, mutate, match) -> None:
    from circulith.cli.principal import registry_operator as _principal
    from circulith.services.planning import forecast

    sc = read_scenario(_write(tmp_path, mutate(_sales())))
    with pytest.raises(InvalidInput, match=match):
        forecast(_principal(), scenario=sc)


def test_missing_sales_file_and_unknown_input_key(tmp_path: Path) -> None:
    from circulith.cli.principal import registry_operator as _principal
    from circulith.services.planning import forecast

    p = tmp_path / "s.toml"
    p.write_text('[inputs]\nsales = "nowhere.csv"\n')
    with pytest.raises(InvalidInput, match="file not found"):
        forecast(_principal(), scenario=read_scenario(p))
    with pytest.raises(InvalidInput, match="unknown key"):
        scenario_from_mapping({"inputs": {"sails": "x.csv"}})


def test_carbonate_price_typed_as_contained_lithium_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidInput, match=r"7.00 USD/kg of contained Li is outside the plausible range.*Li2CO3"):
        scenario_from_mapping({"prices_usd_per_kg": {"Li": 7.0}})


def test_product_basis_is_converted_by_mass_fraction() -> None:
    # Li2CO3: 2 x 6.94 / 73.89 = 0.1879 kg Li per kg; 10 USD/kg Li2CO3 = 53.2 USD/kg contained Li
    sc = scenario_from_mapping({"prices_usd_per_kg": {"Li": {"value": 10.0, "basis": "Li2CO3"}, "Ni": 16.0}})
    assert sc.prices_usd_per_kg["Li"] == pytest.approx(10.0 / 0.18785, rel=2e-3)
    assert sc.price_bases == {"Li": "Li2CO3", "Ni": "contained"}
    prices, note = sc.prices()
    assert prices["Li"] == pytest.approx(53.23, rel=2e-3) and "overrides" in note
    with pytest.raises(InvalidInput, match="basis"):
        scenario_from_mapping({"prices_usd_per_kg": {"Ni": {"value": 16.0, "basis": "Li2CO3"}}})
    with pytest.raises(InvalidInput, match="unit"):
        scenario_from_mapping({"prices_usd_per_kg": {"Ni": {"value": 16.0, "unit": "EUR/t"}}})


def test_scenario_defaults_come_from_the_shipped_file() -> None:
    from circulith.planning.reference_data import load_lifetime_defaults

    d = load_lifetime_defaults()
    sc = scenario_from_mapping({})
    assert sc.regions == d["scenario"]["regions"] and sc.end_year == d["scenario"]["end_year"]
    assert sc.relative_sd == d["ensemble"]["relative_sd"]
