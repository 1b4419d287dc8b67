"""Transfer model, domain checks, recalibration from few labels and staged testing (real retired-LFP data).

Small subsets (two pulse widths, SOC <= 50 %) keep these in seconds; the full validation is
``benchmarks/triage_transfer.py`` (figures in benchmarks/RESULTS.md, section "Triage transfer").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from circulith.errors import InvalidInput
from circulith.triage import pulse_model as pm
from circulith.triage import pulse_transfer as pt
from circulith.triage.domain import cell_ratios, fit_domain, missing_columns
from circulith.triage.domain_estimate import estimate_in_domain
from circulith.triage.recalibration import label_curve, recalibrate
from circulith.triage.rules import load_rules
from circulith.triage.staging import (
    FULL_TEST,
    TestStep,
    grade_boundaries,
    load_steps,
    next_tests,
    pulse_duration_min,
)

ORACLE_ROWS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "triage_pybamm_lfp_pulses.csv"


@pytest.fixture(scope="module")
def both_formats(pulse_dir: Path) -> pd.DataFrame:
    from circulith.triage.readers.read_pulse_tables import read_pulse_tables

    t = read_pulse_tables([pulse_dir / f"{q}Ah" / f"LFP_{q}Ah_W_{w}.xlsx" for q in (20, 35) for w in (100, 1000)])
    return t[t["SOC"] <= 50].reset_index(drop=True)


@pytest.fixture(scope="module")
def transfer(both_formats: pd.DataFrame) -> pt.TransferModel:
    return pt.fit_transfer(both_formats, candidates=("ridge", "pls2", "pls2_log", "cpls2_log"))


def test_estimator_chosen_against_the_plain_ridge_on_held_out_formats(transfer):
    rows = {r["estimator"]: r for r in transfer.metadata["selection"]["candidates"]}
    assert set(rows) == {"ridge", "pls2", "pls2_log", "cpls2_log"}
    # benchmarks/RESULTS.md (triage transfer): plain ridge on raw U held out 39.1 (20 Ah) and 5.32 (35 Ah)
    assert rows["pls2"]["baseline_lofo_rmse_20Ah"] == pytest.approx(39.1, abs=0.1)
    assert rows["pls2"]["baseline_lofo_rmse_35Ah"] == pytest.approx(5.32, abs=0.02)
    # the shipped PLS-2 lost to it on the 35 Ah cells (5.40 vs 5.32); per-condition PLS-2 on log
    # resistances is at least as good on both held-out formats, and its intervals cover
    chosen = rows[transfer.estimator]
    assert transfer.estimator == "cpls2_log" and transfer.feature_transform == "log_resistance"
    for k in ("20Ah", "35Ah"):
        assert chosen[f"lofo_rmse_{k}"] <= chosen[f"baseline_lofo_rmse_{k}"]
        assert chosen[f"cross_coverage_{k}"] >= pt.MIN_CROSS_COVERAGE
    assert rows["pls2"]["lofo_rmse_35Ah"] > rows["pls2"]["baseline_lofo_rmse_35Ah"]
    # pls2_log is more accurate on held-out formats but its interval under-covers the 35 Ah cells
    assert rows["pls2_log"]["lofo_rmse_worst"] < chosen["lofo_rmse_worst"]
    assert rows["pls2_log"]["cross_coverage_35Ah"] < pt.MIN_CROSS_COVERAGE
    assert transfer.half_width_unseen_pct > max(transfer.half_width_by_format["20Ah"], 1.0)


def test_per_condition_model_is_one_linear_model(both_formats):
    cells, x = pt.cell_matrix(both_formats, pt.present_conditions(both_formats, [(20.0, 100.0), (50.0, 1000.0)]))
    y, _ = pt._cell_labels(both_formats, cells)
    whole = pt._fit_linear(x, y, "cpls2_log").predict(x)
    nf = x.shape[1] // 2
    parts = [pt._fit_linear(x[:, j:j + nf], y, "pls2_log").predict(x[:, j:j + nf]) for j in (0, nf)]
    np.testing.assert_allclose(whole, np.mean(parts, axis=0), rtol=1e-9)


def test_choose_estimator_falls_back_when_none_beats_the_ridge():
    rows = [{"estimator": "a", "lofo_rmse_20Ah": 6.0, "baseline_lofo_rmse_20Ah": 5.0, "cross_coverage_20Ah": 0.9,
             "lofo_rmse_worst": 6.0, "lofo_rmse_mean": 6.0, "cv_rmse_worst": 1.0},
            {"estimator": "b", "lofo_rmse_20Ah": 7.0, "baseline_lofo_rmse_20Ah": 5.0, "cross_coverage_20Ah": 0.9,
             "lofo_rmse_worst": 7.0, "lofo_rmse_mean": 7.0, "cv_rmse_worst": 1.0}]
    assert pt.choose_estimator(rows) == "a"
    rows[1] |= {"lofo_rmse_20Ah": 4.9, "lofo_rmse_worst": 7.0}  # b now beats the ridge: admissible wins
    assert pt.choose_estimator(rows) == "b"
    rows[1]["cross_coverage_20Ah"] = 0.7  # ... unless its interval under-covers
    assert pt.choose_estimator(rows) == "a"


def test_transfer_model_round_trip(transfer, both_formats, tmp_path):
    path = tmp_path / "t.json"
    pt.save_transfer(transfer, path)
    back = pt.load_transfer(path)
    a = pt.predict_transfer(both_formats, transfer)
    b = pt.predict_transfer(both_formats, back)
    np.testing.assert_allclose(a["soh_pct"], b["soh_pct"])
    assert back.domain[0].n_rows == transfer.domain[0].n_rows
    with pytest.raises(InvalidInput, match="not a pulse SOH transfer model"):
        pt.transfer_from_dict({"format": "x"})


def test_domain_ratio_separates_formats_and_designs(both_formats):
    t20 = both_formats[both_formats.Qn == 20]
    t35 = both_formats[both_formats.Qn == 35]
    dom20 = fit_domain(t20)
    assert cell_ratios(t20, dom20).median() < 1.0
    assert cell_ratios(t35, dom20).median() > 1.0  # the other format lies outside the 20 Ah rows
    # a cell design with three times the pulse response (same rest voltage) is far outside
    u = [f"U{i}" for i in range(2, 18)]
    other = t20.copy()
    other[u] = other[["U1"]].to_numpy() + 3.0 * (other[u].to_numpy() - other[["U1"]].to_numpy())
    assert cell_ratios(other, dom20).min() > 3.0


def test_shipped_models_route_by_domain(pulse_20ah_two_widths):
    bank, transfer = pm.default_model(), pt.default_transfer_model()
    assert transfer.chemistries == ["LFP"] and transfer.formats_ah == [20.0, 35.0]
    t = pulse_20ah_two_widths[pulse_20ah_two_widths.SOC <= 50]
    cells = sorted(t.cell_id.unique())[:12]
    sub = t[t.cell_id.isin(cells)]
    est = estimate_in_domain(sub, bank, transfer, chemistry="LFP")
    assert {e.status for e in est} <= {"estimated", "widened"}
    assert sum(e.model == "bank" for e in est) >= 10
    # the same cells presented as an unseen 50 Ah format: transfer model, interval widened to the
    # error measured on held-out formats
    unseen = estimate_in_domain(sub.assign(Qn=50.0), bank, transfer, chemistry="LFP")
    assert all(e.status == "widened" and e.model == "transfer" for e in unseen)
    half = [(e.soh_high_pct - e.soh_low_pct) / 2 for e in unseen]
    np.testing.assert_allclose(half, transfer.half_width_unseen_pct)
    assert all("format 50Ah not in training" in e.reason for e in unseen)
    # another chemistry: refused, and told how to fit a model
    nmc = estimate_in_domain(sub, bank, transfer, chemistry="NMC")
    assert all(e.status == "refused" and "triage fit" in e.reason and "--base" in e.reason for e in nmc)


def test_missing_columns_are_named(pulse_20ah_two_widths):
    t = pulse_20ah_two_widths[pulse_20ah_two_widths.SOC <= 50]
    sub = t[t.cell_id == t.cell_id.iloc[0]].copy()
    # NMC/LMO-style table: only U1..U21 measured; the bank needs U22..U41 and says so
    short = sub.copy()
    short[[f"U{i}" for i in range(22, 42)]] = np.nan
    with pytest.raises(InvalidInput, match=r"U22\.\.U41"):
        pm.estimate(short, pm.default_model())
    # the transfer path needs only U1..U17: still estimated (via the domain check)
    est = estimate_in_domain(short, pm.default_model(), pt.default_transfer_model(), chemistry="LFP")
    assert est[0].status in {"estimated", "widened"} and est[0].model == "transfer"
    # without U5 nothing can be read: the refusal names the column
    no_u5 = sub.assign(U5=np.nan)
    assert missing_columns(no_u5) == ["U5"]
    ref = estimate_in_domain(no_u5, pm.default_model(), pt.default_transfer_model())
    assert ref[0].status == "refused" and "U5" in ref[0].reason


def test_unknown_format_message_points_to_transfer_model(pulse_20ah_two_widths):
    t = pulse_20ah_two_widths.head(5).assign(Qn=50.0)
    with pytest.raises(InvalidInput, match="format 50 Ah not in the bank.*--base"):
        pm.estimate(t, pm.default_model())


@pytest.mark.parametrize("name", ["triage_pybamm_lfp_pulses.csv", "triage_pybamm_lfp_pulses_protocol.csv"])
def test_pybamm_oracle_cells_are_refused_or_covered(name):
    """Simulated 20 Ah LFP cells (benchmarks/triage_pybamm_oracle.py; the second file with the transfer
    protocol SOC 5-50 % x 100/1000 ms): the bank alone returned ~72 % or ~95 % with 3-4 point intervals
    that never covered (RMSE 27 points, benchmarks/RESULTS.md)."""
    path = ORACLE_ROWS.parent / name
    if not path.exists():
        pytest.skip(f"oracle rows not found at {path}")
    sim = pd.read_csv(path)
    est = estimate_in_domain(sim, pm.default_model(), pt.default_transfer_model(), chemistry="LFP")
    assert len(est) == 6
    for e in est:
        covered = e.soh_low_pct is not None and e.soh_low_pct <= e.soh_true_pct <= e.soh_high_pct
        assert e.status == "refused" or covered, e
        assert e.model != "bank"


def test_recalibration_from_few_labels(both_formats):
    base = pt.fit_transfer(both_formats[both_formats.Qn == 35], candidates=("cpls2_log",))
    target = both_formats[both_formats.Qn == 20]
    cells = sorted(target.cell_id.unique())
    labelled, rest = target[target.cell_id.isin(cells[:10])], target[target.cell_id.isin(cells[10:])]
    truth = rest.groupby("cell_id")["SOH"].first() * 100

    def rmse(model: pt.TransferModel) -> float:
        p = pt.predict_transfer(rest, model).set_index("cell_id")["soh_pct"]
        return float(np.sqrt(np.mean((p - truth.loc[p.index]) ** 2)))

    new = recalibrate(base, labelled, chemistry="LFP", sources=["labelled.csv"])
    assert rmse(new) < 0.8 * rmse(base)
    step = new.metadata["provenance"][-1]
    assert step["step"] == "recalibrate" and step["n_cells"] == 10 and step["format"] == "20Ah"
    curve = step["expected_rmse_vs_labels"]
    assert [c["n_labels"] for c in curve] == [0, 1, 2, 3, 5, 8]
    assert new.formats_ah == [20.0] and "20Ah" in new.half_width_by_format
    assert base.formats_ah == [35.0]  # the base is untouched
    with pytest.raises(InvalidInput, match="one format at a time"):
        recalibrate(base, both_formats)


def test_label_curve_falls_with_labels_on_a_biased_base():
    rng = np.random.default_rng(0)
    y = rng.normal(80, 4, 60)
    p = y - 6 + rng.normal(0, 1, 60)  # base 6 points low
    curve = label_curve(p, y)
    assert curve[0].n_labels == 0 and curve[0].rmse_soh_pct > 5.5
    assert curve[-1].rmse_soh_pct < 1.5


def test_grade_boundaries_follow_preferred_applications():
    rules = load_rules()
    assert grade_boundaries(rules, "LFP") == [60.0, 80.0]  # stationary storage (60 %) comes first for LFP
    assert grade_boundaries(rules, "NMC") == [60.0, 65.0, 80.0]  # ups 65 %, then stationary 60 %
    assert grade_boundaries(rules) == [60.0, 65.0, 70.0, 80.0]
    assert grade_boundaries(rules, "LFP", "low_speed_vehicle") == [70.0, 80.0]  # an application asked for


def test_next_tests_cheapest_settling_step_and_unsafe_units():
    steps = [TestStep("second pulse", (50.0,), (100.0, 1000.0), 43.0, 2.0, "test"),
             TestStep("multi-SOC", (20.0, 50.0), (100.0, 1000.0), 56.0, 1.0, "test")]
    soh = np.array([83.0, 81.5, 80.3, 75.0, 81.0])
    lo, hi = soh - 4.0, soh + 4.0
    lo[3], hi[3] = 72.0, 78.0  # already clear of 60 and 80
    dec = next_tests(soh, lo, hi, unsafe=np.array([False, False, False, False, True]),
                     done=np.full(5, -1), steps=steps, boundaries_pct=[60.0, 80.0])
    assert dec["next_test"].tolist() == ["second pulse", "multi-SOC", FULL_TEST, "", ""]
    assert dec["settled"].tolist() == [False, False, False, True, True]
    assert "unsafe" in dec["reason"].iloc[4]
    # a step already run is not advised again
    again = next_tests(soh[:1], lo[:1], hi[:1], unsafe=np.array([False]), done=np.array([1]), steps=steps,
                       boundaries_pct=[60.0, 80.0])
    assert again["next_test"].iloc[0] == FULL_TEST


def test_shipped_ladder_and_protocol_durations():
    steps = load_steps()
    assert steps[0].soc_levels_pct == (50.0,) and steps[0].widths_ms == (1000.0,)
    assert all(s.half_width_pct > 0 and "measured" in s.source for s in steps)
    # SOC 50 % from empty: 30 min at 1C in 3-minute steps + 10 min rest + 5 rates x 32 x 1 s
    assert pulse_duration_min((50.0,), (1000.0,)) == pytest.approx(30 + 10 + 160 / 60)


def test_shipped_economics_and_full_test_cost():
    from circulith.triage.staging import load_economics

    e = load_economics()
    # 8 h of a 26000 USD, 30-module station over 21024 h, plus 0.25 h at 40 USD/h (staging_economics.csv)
    assert e.full_test_cost_usd == pytest.approx(8 * 26000 / (21024 * 30) + 0.25 * 40)
    assert e.value_reuse_usd_per_kwh > e.value_repurpose_usd_per_kwh >= e.value_recycle_usd_per_kwh


def test_value_of_information_settles_small_units_conservatively():
    from circulith.triage.staging import (
        SETTLED_MEASURED,
        SETTLED_UNSAFE,
        SETTLED_VALUE,
        StagingEconomics,
        expected_gain_usd,
    )

    e = StagingEconomics(132.0, 38.0, 0.0, 8.0, 0.05, 0.25, 40.0)  # full test 10.40 USD
    steps = [TestStep("second pulse", (50.0,), (100.0, 1000.0), 43.0, 3.9, "test")]
    soh = np.array([80.5, 80.5, 90.0, 79.0, 80.5])
    lo, hi = soh - 4.0, soh + 4.0
    energy = np.array([0.064, 5.0, 5.0, 5.0, 5.0])  # one cell, four 5 kWh modules
    dec = next_tests(soh, lo, hi, unsafe=np.array([False, False, False, False, True]), done=np.full(5, -1),
                     steps=steps, boundaries_pct=[60.0, 80.0], economics=e, energy_kwh=energy, reuse_pct=80.0)
    # the cell: P(SOH >= 80) ~ 0.6 x 94 USD/kWh x 0.064 kWh ~ 3.6 USD < 10.40 USD: settled at the lower grade
    assert dec["settled_by"].tolist() == [SETTLED_VALUE, "", SETTLED_MEASURED, "", SETTLED_UNSAFE]
    assert dec["next_test"].tolist() == ["", FULL_TEST, "", FULL_TEST, ""]
    assert "below its cost" in dec["reason"].iloc[0] and "pays" in dec["reason"].iloc[1]
    gain = expected_gain_usd(soh[:2], lo[:2], hi[:2], energy_kwh=energy[:2], boundaries_pct=[60.0, 80.0],
                             reuse_pct=80.0, economics=e)
    sigma = 4.0 / 1.6448536
    from scipy.stats import norm
    assert gain[1] == pytest.approx(norm.sf(-0.5 / sigma) * 94.0 * 5.0)
    assert gain[0] / gain[1] == pytest.approx(0.064 / 5.0)
    # without economics the old behaviour: every open unit is advised the full test
    old = next_tests(soh, lo, hi, unsafe=np.zeros(5, bool), done=np.full(5, -1), steps=steps,
                     boundaries_pct=[60.0, 80.0])
    assert (old["next_test"] == FULL_TEST).sum() == 4
