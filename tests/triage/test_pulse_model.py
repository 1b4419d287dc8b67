"""Pulse-table reader and the pulse -> SOH model on the real retired-LFP data (cross-validated by cell)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from circulith.errors import InvalidInput
from circulith.triage import pulse_model as pm
from circulith.triage.pulse_features import FEATURE_NAMES, pulse_features_frame
from circulith.triage.readers.read_pulse_tables import read_pulse_table


def test_cell_ids_follow_measured_capacity_not_row_index(pulse_dir):
    table = read_pulse_table(pulse_dir / "20Ah" / "LFP_20Ah_W_1000.xlsx")
    assert table["cell_id"].nunique() == 102  # SOURCE.md: 102 cells in the 20 Ah format
    assert (table["pulse_width_ms"] == 1000).all()
    # each cell carries exactly one measured capacity across all SOC sheets
    assert (table.groupby("cell_id")["Q"].nunique() == 1).all()
    # SOC65 holds 94 of the 102 cells: its rows are NOT the first 94 cells
    soc65 = table[table.SOC == 65]
    assert len(soc65) == 94
    assert soc65["cell_id"].tolist() != sorted(table["cell_id"].unique())[:94]
    # SOH = Q / Qn (dataset definition)
    np.testing.assert_allclose(table["SOH"], table["Q"] / table["Qn"], rtol=1e-4)


def test_same_cells_across_width_files(pulse_20ah_two_widths):
    t = pulse_20ah_two_widths
    q = t.groupby(["cell_id", "pulse_width_ms"])["Q"].first().unstack()
    assert q.shape == (102, 2)
    np.testing.assert_array_equal(q.iloc[:, 0], q.iloc[:, 1])


def test_csv_pulse_table_and_bad_values(tmp_path, pulse_20ah_two_widths):
    t = pulse_20ah_two_widths.head(30).drop(columns="source_file")
    p = tmp_path / "p.csv"
    t.to_csv(p, index=False)
    back = read_pulse_table(p)
    assert len(back) == 30 and pd.api.types.is_string_dtype(back["cell_id"])
    t.assign(U5=t.U5 * 1000).to_csv(p, index=False)
    with pytest.raises(InvalidInput, match="U5.*mV given"):
        read_pulse_table(p)
    t.drop(columns=["U7"]).to_csv(p, index=False)
    with pytest.raises(InvalidInput, match="U7"):
        read_pulse_table(p)


def test_features_shape_and_physics(pulse_20ah_two_widths):
    x, ok = pulse_features_frame(pulse_20ah_two_widths)
    assert x.shape[1] == len(FEATURE_NAMES)
    assert ok.mean() > 0.95
    # instantaneous charge-pulse rise is positive for every completed pulse (ohmic drop)
    k = FEATURE_NAMES.index("ohm_chg_1C")
    assert (x[ok, k] > 0).mean() > 0.99


def test_cross_validated_by_cell_beats_loose_goal(pulse_20ah_two_widths):
    """Loose version of the benchmark: two widths only, 20 Ah, 5-fold CV by cell: RMSE < 2.0 SOH points.

    The full benchmark (all widths) reaches 0.93 on 20 Ah; the issue's goal is <= 1.5.
    """
    cv = pm.cross_validate(pulse_20ah_two_widths, n_splits=5)
    assert cv["cell_id"].is_unique and len(cv) == 102
    rmse = float(np.sqrt(np.mean((cv.soh_pct - cv.soh_true_pct) ** 2)))
    assert rmse < 2.0
    # and it is a real model: better than predicting the mean (SOH std ~ 4 points)
    assert rmse < 0.6 * cv.soh_true_pct.std()


def test_fit_save_load_estimate_roundtrip(tmp_path, pulse_20ah_two_widths):
    model = pm.fit(pulse_20ah_two_widths, n_splits=3)
    path = tmp_path / "m.json"
    pm.save_model(model, path)
    data = json.loads(path.read_text())
    assert data["format"] == pm.MODEL_FORMAT and data["training"]["n_cells"] == 102
    assert "20Ah" in data["cross_validation"]
    again = pm.load_model(path)
    a = pm.estimate(pulse_20ah_two_widths, model)
    b = pm.estimate(pulse_20ah_two_widths, again)
    assert [e.soh_pct for e in a] == pytest.approx([e.soh_pct for e in b])
    assert all(e.soh_low_pct < e.soh_pct < e.soh_high_pct for e in a)


def test_shipped_default_model(pulse_20ah_two_widths):
    model = pm.default_model()
    meta = model.metadata
    assert meta["cross_validation"]["20Ah"]["rmse_soh_pct"] <= 1.5
    assert meta["cross_validation"]["35Ah"]["rmse_soh_pct"] <= 2.0
    assert "MIT" in meta["training"]["licence"]
    est = pm.estimate(pulse_20ah_two_widths[pulse_20ah_two_widths.SOC == 50], model)
    assert len(est) == 102
    assert all(np.isfinite(e.soh_pct) for e in est)


def test_unknown_format_is_insufficient_data(pulse_20ah_two_widths):
    t = pulse_20ah_two_widths.head(5).assign(Qn=50.0)
    with pytest.raises(InvalidInput, match="insufficient data"):
        pm.estimate(t, pm.default_model())


def test_model_file_format_checked(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InvalidInput, match="not a pulse SOH model"):
        pm.load_model(p)


def test_training_needs_one_label_per_cell():
    t = pd.DataFrame({"cell_id": ["a", "a"], "Qn": 20, "SOC": 50, "pulse_width_ms": 100, "SOH": [0.8, 0.9],
                      **{f"U{i}": 3.3 for i in range(1, 42)}})
    with pytest.raises(InvalidInput, match="several SOH labels"):
        pm.fit(t, n_splits=0)
