"""The recovery CLI, mounted on a local Typer app as the root app will do."""

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from circulith.cli.recovery_commands import app
from circulith.errors import InvalidInput

from .conftest import YEAR, plant_lots

root = typer.Typer()
root.add_typer(app, name="recovery")
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(root, ["recovery", *args])


def test_run_json() -> None:
    r = invoke("run", "--chemistry", "NMC622", "--form", "cell", "--mass-kg", "1000", "--route", "hydro",
               "--prices", "2023-06-30", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["price_date"] == "2023-06-30"
    for key in ("products", "element_recovery", "black_mass_kg", "revenue_usd", "cost_usd", "net_usd", "energy_mj",
                "ghg_kg_co2e", "water_m3", "eu_material_recovery"):
        assert key in d
    assert {p["commodity"] for p in d["products"]} >= {"Li2CO3", "NiSO4.6H2O", "CoSO4.7H2O", "MnSO4.H2O"}
    assert d["mass_balance_error_kg"] < 1e-9


def test_run_text_and_compare() -> None:
    r = invoke("run", "--chemistry", "LFP", "--form", "pack", "--mass-kg", "300", "--route", "pyro")
    assert r.exit_code == 0 and "alloy" in r.output
    r = invoke("compare", "--chemistry", "NMC811", "--json")
    d = json.loads(r.output)
    assert set(d["routes"]) == {"pyro", "hydro", "direct", "black_mass"}
    assert d["theoretical_metal_value_usd_per_t"]["total"] > 0


def test_price_files(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps({"battery_id": "X1", "chemistry": "NMC622", "form": "pack",
                                                 "mass_kg": 420, "co_kg": 5.1}))
    r = invoke("price", str(tmp_path / "b.json"), "--logistics-usd-per-kg", "0.4", "--margin", "0.1", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["batteries"][0]["battery_id"] == "X1" and d["totals"]["logistics_usd"] == pytest.approx(168.0)
    (tmp_path / "lot.csv").write_text("battery_id,chemistry,form,mass_kg,energy_kwh,reuse_eligible,soh\n"
                                      "a,LFP,pack,400,50,true,0.9\nb,NMC622,module,30,,false,\n")
    r = invoke("price", str(tmp_path / "lot.csv"), "--reuse-value-usd-per-kwh", "60", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["batteries"]
    assert rows[0]["destination"] == "reuse" and rows[1]["reuse_value_usd"] is None
    assert invoke("price", str(tmp_path / "lot.csv")).exit_code == 0


def test_price_file_scenario(tmp_path: Path) -> None:
    f = tmp_path / "prices.csv"
    f.write_text("commodity,price,unit,basis,date,source\nLi2CO3,80000,CNY/t,product,2024-09-30,SMM spot\n")
    r = invoke("run", "--chemistry", "LFP", "--route", "hydro", "--prices", str(f), "--json")
    assert json.loads(r.output)["price_date"] == "2024-09-30"
    bad = tmp_path / "bad.csv"
    bad.write_text("commodity,price,unit,basis,date,source\nLi2CO3,80000,CNY/t,product,2019-09-30,x\n")
    r = invoke("run", "--chemistry", "LFP", "--route", "hydro", "--prices", str(bad))
    assert isinstance(r.exception, InvalidInput) and "no exchange rate for CNY in 2019" in str(r.exception)


def test_compliance_command(tmp_path: Path) -> None:
    f = tmp_path / "lots.jsonl"
    f.write_text("\n".join(json.dumps(lot.to_payload()) for lot in plant_lots()))
    r = invoke("compliance", "--lots", str(f), "--plant", "P1", "--year", str(YEAR), "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["recycling_efficiency_pct"] > 60 and d["checks"]
    r = invoke("compliance", "--lots", str(f), "--plant", "P1", "--year", str(YEAR), "--exclude-element", "C")
    assert r.exit_code == 0 and "recycling efficiency" in r.output


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--chemistry", "NMC999", "--route", "hydro"),
        ("run", "--chemistry", "NMC622", "--route", "alchemy"),
        ("run", "--chemistry", "NMC622", "--route", "hydro", "--mass-kg", "-5"),
        ("run", "--chemistry", "NMC622", "--route", "hydro", "--form", "crate"),
        ("price", "/nonexistent/file.csv"),
    ],
)
def test_bad_input_raises_circulith_errors(args: tuple[str, ...]) -> None:
    r = invoke(*args)
    assert isinstance(r.exception, InvalidInput), r.output
