"""Honest ranges: calibrated bands reach the target coverage on the shipped backtest, and say when they do not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from circulith.planning.backtest import BacktestResult
from circulith.planning.calibration import calibrate, calibrate_summary, widen
from circulith.planning.scenario import scenario_from_mapping
from circulith.planning.service import run_backtest


def test_widen_adds_the_residual_quantiles_in_quadrature() -> None:
    lo, hi = widen(np.array([100.0]), np.array([90.0]), np.array([115.0]), -0.3, 0.2)
    assert lo[0] == pytest.approx(100 - np.hypot(10, 30))
    assert hi[0] == pytest.approx(100 + np.hypot(15, 20))
    # a residual quantile on the far side never narrows the band
    lo, hi = widen(np.array([100.0]), np.array([90.0]), np.array([115.0]), 0.1, -0.1)
    assert (lo[0], hi[0]) == (90.0, 115.0)


def test_shipped_backtest_reaches_the_target_coverage() -> None:
    """Issue 12: the parameter-only 90 % band covers 7 % of observed fleet exits; calibrated 80-95 %."""
    bt = run_backtest(scenario_from_mapping({}))
    c = calibrate(bt, target_coverage=(0.80, 0.95), min_windows=20)
    assert c.coverage_parameter_only == pytest.approx(0.072, abs=0.005)
    assert c.coverage_calibrated is not None and 0.80 <= c.coverage_calibrated <= 0.95
    assert c.status == "ok" and "covered" in c.message
    assert c.width_calibrated > c.width_parameter_only
    assert c.n_calibrated_windows >= 20


def _synthetic(noise: float, seed: int = 0) -> BacktestResult:
    rng = np.random.default_rng(seed)
    rows = []
    for origin in range(2010, 2021):
        for r in range(40):
            med = 1000.0
            rows.append({"region": f"R{r}", "origin": origin, "first_year": origin + 1, "last_year": origin + 3,
                         "observed": med * (1 + noise * rng.standard_normal()), "model_median": med,
                         "model_lower": 990.0, "model_upper": 1010.0, "baseline": med})
    return BacktestResult(pd.DataFrame(rows), {}, {"interval": [0.05, 0.95], "origins": list(range(2010, 2021)),
                                                   "horizon": 3, "observed": "synthetic", "mode": "Cars"})


def test_calibration_recovers_known_noise_and_flags_a_poor_target() -> None:
    c = calibrate(_synthetic(0.2), target_coverage=(0.80, 0.95), min_windows=20)
    # normal noise with sd 0.2: the 5 % / 95 % quantiles are near -/+ 1.645 * 0.2
    assert c.q_lo == pytest.approx(-0.329, abs=0.06) and c.q_hi == pytest.approx(0.329, abs=0.06)
    assert 0.80 <= c.coverage_calibrated <= 0.97
    # an impossible target is reported plainly, never hidden
    strict = calibrate(_synthetic(0.2), target_coverage=(0.99, 1.0), min_windows=20)
    assert strict.status == "poor" and strict.message.startswith("calibration poor")
    few = calibrate(_synthetic(0.2), target_coverage=(0.80, 0.95), min_windows=10_000)
    assert few.status == "poor" and few.coverage_calibrated is None


def test_calibrated_summary_keeps_the_parameter_band_and_is_never_negative() -> None:
    c = calibrate(_synthetic(2.0), target_coverage=(0.80, 0.95), min_windows=20)
    s = pd.DataFrame({"median": [10.0], "lower": [9.0], "upper": [11.0]})
    out = calibrate_summary(s, c)
    assert out["param_lower"][0] == 9.0 and out["param_upper"][0] == 11.0
    assert out["lower"][0] >= 0.0 and out["upper"][0] > 11.0


def test_api_and_cli_report_the_calibration(planning_api, cli_json) -> None:
    api = planning_api.get("/api/v1/planning/forecast").json()
    assert api["calibration"]["status"] in ("ok", "poor") and api["calibration"]["message"]
    assert 0.80 <= api["calibration"]["coverage_calibrated"] <= 0.95
    assert all(r["lower"] <= r["param_lower"] + 1e-9 and r["upper"] >= r["param_upper"] - 1e-9 for r in api["rows"])
    assert cli_json("forecast", "run")["calibration"] == api["calibration"]


def test_only_the_retirement_part_is_widened() -> None:
    """The residuals are of vehicle exits: production scrap (set by the sales) is not widened by them."""
    c = calibrate(_synthetic(2.0), target_coverage=(0.80, 0.95), min_windows=20)
    s = pd.DataFrame({"median": [10.0, 10.0, 10.0], "lower": [9.0, 9.0, 9.0], "upper": [11.0, 11.0, 11.0]})
    out = calibrate_summary(s, c, np.array([10.0, 4.0, 0.0]))
    full, part, none = out["upper"].to_numpy()
    assert full > part > none and none == pytest.approx(11.0)
    # quadrature: upper = median + sqrt((upper0 - median)^2 + (exposed * q_hi)^2)
    assert part == pytest.approx(10.0 + np.hypot(1.0, 4.0 * c.q_hi))


def test_forecast_on_a_short_sales_file_says_what_sets_the_width(tmp_path) -> None:
    from circulith.auth.policy import Principal, Scope
    from circulith.planning.readers import read_scenario
    from circulith.services.planning import forecast

    rows = [{"region": "Germany", "chemistry": "NMC811", "year": y, "units": 1000 * 1.25 ** (y - 2015),
             "segment": "Cars", "pack_kwh": 65} for y in range(2015, 2027)]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "sales.csv", index=False)
    (tmp_path / "s.toml").write_text('[scenario]\nname = "s"\nensemble_members = 30\nend_year = 2035\n'
                                     '[inputs]\nsales = "sales.csv"\n')  # fmt: skip
    sc = read_scenario(tmp_path / "s.toml")
    who = Principal(org_id="T", scopes=frozenset({Scope.READ}), via="test")
    feed = {r.year: r for r in forecast(who, scenario=sc).rows}
    eol = {r.year: r for r in forecast(who, scenario=sc, stream="eol").rows}
    scrap = forecast(who, scenario=sc, stream="production_scrap")
    assert all(r.upper == pytest.approx(r.param_upper) for r in scrap.rows)  # scrap: its own (zero) band only
    # in 2020 most feedstock is production scrap: its band is far narrower, relative to the median, than the
    # end of life's alone; after the sales end (2026) feedstock is all end of life and both bands agree
    assert feed[2020].upper / feed[2020].median < 0.5 * eol[2020].upper / eol[2020].median
    assert feed[2032].upper == pytest.approx(eol[2032].upper)
    note = forecast(who, scenario=sc).width_note
    assert "from the lifetime parameters alone" in note and "the sales end in 2026" in note
