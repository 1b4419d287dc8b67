"""Rolling-origin backtest: fleet balance, a synthetic world where the model is right, baseline, CLI."""

import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from circulith.cli.planning_commands import forecast_app
from circulith.errors import InvalidInput
from circulith.planning.backtest import fleet_balance_from_iea, rolling_origin_backtest
from circulith.planning.forecast import sample_lifetime_ensemble
from circulith.planning.lifetime import CompetingRisks, retirement_kernel
from circulith.planning.reference_data import load_iea_ev_sales

LAW = CompetingRisks(15.0, 1.0e6, 3.0, 8.0, 0.01)  # vehicle law only (battery switched off)


def synthetic_balance(law=LAW, years=range(2000, 2024)):
    years = np.array(list(years))
    sales = 1000.0 * 1.2 ** (years - years[0])
    b, v, c = retirement_kernel(law, years.size)
    k = (b + v + c)[0]
    exits = np.array([sum(sales[t - a] * k[a] for a in range(t + 1)) for t in range(years.size)])
    stock = np.cumsum(sales - exits)
    return pd.DataFrame({"region": "R", "year": years, "sales": sales, "stock": stock,
                         "exits": np.r_[np.nan, exits[1:]]})


def test_fleet_balance_is_stock_flow_identity():
    bal = fleet_balance_from_iea(load_iea_ev_sales(), "Cars", ["Norway"]).set_index("year")
    # IEA GEVO 2024: Norway cars stock 2022 790,000, sales 2023 110,000, stock 2023 900,000 -> 0 exits
    assert bal.loc[2023, "exits"] == pytest.approx(790_000 + 110_000 - 900_000)
    with pytest.raises(InvalidInput, match="no IEA history"):
        fleet_balance_from_iea(load_iea_ev_sales(), "Cars", ["Atlantis"])


def test_model_is_exact_when_the_world_follows_its_law():
    r = rolling_origin_backtest(synthetic_balance(), LAW, origins=range(2005, 2020), horizon=3, vehicle_exits_only=False)
    assert r.scores["model"]["mape"] == pytest.approx(0.0, abs=1e-9)
    assert r.scores["baseline"]["mape"] > 0.01  # the constant share misses the ageing of the fleet
    assert r.scores["n_windows"] == 15


def test_ensemble_interval_covers_the_truth_and_the_wrong_law_scores_worse():
    members = sample_lifetime_ensemble({"Cars": LAW}, 100, relative_sd=0.1, seed=1)["Cars"]
    r = rolling_origin_backtest(synthetic_balance(), members, origins=range(2005, 2020), vehicle_exits_only=False)
    assert r.scores["model"]["coverage"] == 1.0
    wrong = CompetingRisks(15.0, 1.0e6, 3.0, 16.0, 0.01)
    w = rolling_origin_backtest(synthetic_balance(), wrong, origins=range(2005, 2020), vehicle_exits_only=False)
    assert w.scores["model"]["mape"] > 0.3


def test_no_window_is_an_error():
    with pytest.raises(InvalidInput, match="no backtest window"):
        rolling_origin_backtest(synthetic_balance(), LAW, origins=[2030])


def test_cli_backtest_json():
    app = typer.Typer()
    app.add_typer(forecast_app, name="forecast")
    res = CliRunner().invoke(app, ["forecast", "backtest", "--region", "Europe", "--region", "USA", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["scores"]["n_windows"] == 12
    assert {"mape", "wape", "coverage"} <= set(out["scores"]["model"])
