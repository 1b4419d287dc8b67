"""CLI: domain-checked estimates, staged-test advice, recalibration with ``triage fit --base``."""

from __future__ import annotations

import json

import numpy as np
import typer
from typer.testing import CliRunner

from circulith.cli.triage_commands import app as triage_app
from circulith.triage.pulse_transfer import choose_estimator

root = typer.Typer()
root.add_typer(triage_app, name="triage")
runner = CliRunner()


def run(*args: str):
    return runner.invoke(root, ["triage", *args])


def _csv(tmp_path, frame, name="p.csv"):
    p = tmp_path / name
    frame.drop(columns=[c for c in ["source_file"] if c in frame]).to_csv(p, index=False)
    return p


def test_estimate_checks_domain_and_stages(tmp_path, pulse_20ah_two_widths):
    t = pulse_20ah_two_widths
    cells = sorted(t.cell_id.unique())[:8]
    p = _csv(tmp_path, t[t.cell_id.isin(cells) & (t.SOC <= 50)])
    res = run("estimate", str(p), "--chemistry", "LFP", "--stage", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["cells"]
    assert len(rows) == 8
    assert all(r["status"] in {"estimated", "widened"} and r["soh_low_pct"] < r["soh_high_pct"] for r in rows)
    assert all("next_test" in r and "next_test_reason" in r for r in rows)
    # an unseen format goes to the transfer model with the wider interval
    p50 = _csv(tmp_path, t[t.cell_id.isin(cells) & (t.SOC <= 50)].assign(Qn=50.0), "p50.csv")
    res = run("estimate", str(p50), "--json")
    assert res.exit_code == 0, res.output
    assert {r["status"] for r in json.loads(res.stdout)["cells"]} == {"widened"}


def test_estimate_refusing_every_cell_is_invalid_input(tmp_path, pulse_20ah_two_widths):
    """Every cell refused: an InvalidInput (exit code 2 and one line from the circulith entry point)."""
    t = pulse_20ah_two_widths
    p = _csv(tmp_path, t[t.cell_id == t.cell_id.iloc[0]])
    res = run("estimate", str(p), "--chemistry", "NMC")
    assert res.exit_code != 0 and type(res.exception).__name__ == "InvalidInput"
    msg = str(res.exception)
    assert "chemistry NMC outside the model's domain" in msg and "--base" in msg


def test_fit_base_recalibrates_and_reports_label_curve(tmp_path, pulse_20ah_two_widths):
    t = pulse_20ah_two_widths
    cells = sorted(t.cell_id.unique())[:12]
    lab = t[t.cell_id.isin(cells) & (t.SOC <= 50)].assign(Qn=50.0)  # a "new format" with 12 full tests
    p = _csv(tmp_path, lab)
    out = tmp_path / "recal.json"
    res = run("fit", str(p), "--base", "shipped", "--out", str(out), "--chemistry", "LFP", "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["format"] == "50Ah" and summary["n_cells"] == 12
    curve = summary["expected_rmse_vs_labels"]
    assert curve[0]["n_labels"] == 0 and all(np.isfinite(c["rmse_soh_pct"]) for c in curve)
    saved = json.loads(out.read_text())
    assert saved["metadata"]["provenance"][-1]["step"] == "recalibrate"
    # the recalibrated model now estimates that format in domain
    res = run("estimate", str(p), "--transfer-model", str(out), "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["cells"]
    assert sum(r["status"] == "estimated" for r in rows) >= 10


def test_fit_transfer_model_from_two_formats(tmp_path, pulse_dir):
    from circulith.triage.readers.read_pulse_tables import read_pulse_tables

    t = read_pulse_tables([pulse_dir / f"{q}Ah" / f"LFP_{q}Ah_W_1000.xlsx" for q in (20, 35)])
    p = _csv(tmp_path, t[t.SOC <= 50])
    out = tmp_path / "transfer.json"
    res = run("fit", str(p), "--transfer", "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["kind"] == "transfer" and summary["half_width_unseen_pct"] > 0
    chosen = summary["selection"]["chosen"]
    rows = summary["selection"]["candidates"]
    # the rule of pulse_transfer.choose_estimator: held-out formats against the plain ridge, then worst held-out RMSE
    assert chosen == choose_estimator(rows)
    assert all("baseline_lofo_rmse_20Ah" in r and "cross_coverage_35Ah" in r for r in rows)
    # fitted on the 1000 ms rows only: its protocol is those conditions, so it applies to such tables
    saved = json.loads(out.read_text())
    assert {w for _, w in saved["conditions"]} == {1000.0}
    res = run("estimate", str(p), "--transfer-model", str(out), "--json")
    assert res.exit_code == 0, res.output


def test_new_chemistry_is_guided_to_a_recalibrated_model(tmp_path, pulse_20ah_two_widths):
    """Refused as another chemistry -> the command in the message -> estimated with the new model."""
    t = pulse_20ah_two_widths
    cells = sorted(t.cell_id.unique())[:12]
    p = _csv(tmp_path, t[t.cell_id.isin(cells) & (t.SOC <= 50)].assign(Qn=30.0))
    res = run("estimate", str(p), "--chemistry", "NMC")
    assert type(res.exception).__name__ == "InvalidInput"
    assert "--base shipped --chemistry" in str(res.exception)
    out = tmp_path / "nmc.json"
    assert run("fit", str(p), "--base", "shipped", "--chemistry", "NMC", "--out", str(out)).exit_code == 0
    res = run("estimate", str(p), "--chemistry", "NMC", "--transfer-model", str(out), "--json")
    assert res.exit_code == 0, res.output
    assert {r["status"] for r in json.loads(res.stdout)["cells"]} <= {"estimated", "widened"}


def test_nmc_lmo_tables_with_fewer_columns_get_the_right_message(tmp_path, pulse_20ah_two_widths):
    """NMC / LMO cells measured with the same protocol but only U1..U21: the message names the real cause
    (chemistry), what the input has, what each model needs, and the command that fits one."""
    t = pulse_20ah_two_widths
    cell = t[(t.cell_id == t.cell_id.iloc[0]) & (t.SOC <= 50)].copy()
    cell[[f"U{i}" for i in range(22, 42)]] = np.nan
    for chem in ("NMC", "LMO"):
        p = _csv(tmp_path, cell.assign(Qn=2.4), f"{chem}.csv")
        res = run("estimate", str(p), "--chemistry", chem)
        assert res.exit_code != 0 and type(res.exception).__name__ == "InvalidInput"
        msg = str(res.exception)
        assert f"chemistry {chem} outside the model's domain (LFP)" in msg
        assert "input has U1..U21" in msg and "needs U22..U41" in msg and "U1..U17 only (present)" in msg
        assert f"triage fit LABELLED.csv --base shipped --chemistry {chem}" in msg
    # the bank alone (--no-domain) blames the missing columns and points to the transfer model
    res = run("estimate", str(_csv(tmp_path, cell, "bank.csv")), "--no-domain")
    msg = str(res.exception)
    assert "U22..U41" in msg and "U1..U17" in msg and "--base shipped --chemistry" in msg
    assert "format" not in msg.split("U22..U41")[0]  # not blamed on the format
