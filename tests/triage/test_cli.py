"""CLI: fit / estimate / grade / regroup through a local Typer app."""

from __future__ import annotations

import json

import pandas as pd
import typer
from typer.testing import CliRunner

from circulith.cli.triage_commands import app as triage_app

from .fleet import make_fleet

root = typer.Typer()
root.add_typer(triage_app, name="triage")
runner = CliRunner()


def run(*args: str):
    return runner.invoke(root, ["triage", *args])


def test_grade_bms_summary_and_inspection(tmp_path):
    fleet = make_fleet(40, seed=1)
    bms = tmp_path / "bms.csv"
    fleet.to_csv(bms, index=False)
    insp = tmp_path / "insp.csv"
    pd.DataFrame({"battery_id": [fleet.battery_id[0]], "leakage": [True], "ocv_start_v": [3.30],
                  "ocv_end_v": [3.00], "rest_days": [7.0]}).to_csv(insp, index=False)
    res = run("grade", str(bms), str(insp), "--as-of", "2026-01-01", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["units"]) == 40 and out["rules_version"] == "1.0.0"
    first = out["units"][0]
    assert first["grade"] == "quarantine" and "Q2-physical" in first["rules_fired"]
    assert "Q6-self-discharge" in first["rules_fired"]  # 300 mV over 7 days = 43 mV/day
    assert out["parents"] and all("weakest series string" in p["explanation"] for p in out["parents"])


def test_fit_estimate_grade_with_pulses(tmp_path, pulse_20ah_two_widths):
    t = pulse_20ah_two_widths
    cells = sorted(t.cell_id.unique())[:30]
    table = t[t.cell_id.isin(cells)].drop(columns="source_file")
    p = tmp_path / "pulses.csv"
    table.to_csv(p, index=False)
    model = tmp_path / "m.json"
    res = run("fit", str(p), "--out", str(model), "--folds", "3", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["training"]["n_cells"] == 30
    res = run("estimate", str(p), "--json")  # shipped default model
    assert res.exit_code == 0, res.output
    est = json.loads(res.stdout)["cells"]
    assert len(est) == 30 and all(e["soh_low_pct"] < e["soh_pct"] < e["soh_high_pct"] for e in est)
    bms = make_fleet(30, seed=2, unsafe_fraction=0.0).assign(battery_id=cells, chemistry="LFP",
                                                              has_traceability=True, calendar_expiry_date="2035-01-01")
    bp = tmp_path / "bms.csv"
    bms.to_csv(bp, index=False)
    res = run("grade", str(bp), str(p), "--json", "--as-of", "2026-01-01")
    assert res.exit_code == 0, res.output
    graded = json.loads(res.stdout)["units"]
    assert all("(pulse)" in b["explanation"] for b in graded)


def test_regroup_json(tmp_path):
    fleet = make_fleet(64, seed=4, unsafe_fraction=0.0)
    p = tmp_path / "units.csv"
    # Without a registry, the module voltage must be in the file: never a cell voltage in its place.
    fleet.to_csv(p, index=False)
    res = run("regroup", str(p), "--no-registry", "--json")
    assert res.exit_code != 0 and "nominal_voltage_v" in str(res.exception)
    fleet.assign(nominal_voltage_v=51.2).to_csv(p, index=False)
    res = run("regroup", str(p), "--units-per-group", "4", "--no-registry", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    used = [b for g in out["groups"] for b in g["battery_ids"]]
    assert len(used) + len(out["leftovers"]) == 64
    assert all(len(g["battery_ids"]) == 4 for g in out["groups"])
    assert out["usable_energy_kwh"] > 0
    g = out["groups"][0]
    assert g["nominal_voltage_v"] == 4 * 51.2
    assert g["usable_energy_kwh"] == round(g["min_capacity_ah"] * 4 * 51.2 * 0.8 / 1000, 3)  # DoD 0.8 (rules file)


def test_bad_input_is_a_circulith_error(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("foo,bar\n1,2\n")
    res = run("grade", str(p), "--json")
    assert res.exit_code != 0
    assert "InvalidInput" in type(res.exception).__name__
