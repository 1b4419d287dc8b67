"""Fleet pricing: the vectorised call agrees with per-battery evaluation; offers decompose; reuse vs recycle."""

import numpy as np
import pandas as pd
import pytest

from circulith.errors import InvalidInput
from circulith.recovery.composition import apply_declared_metals
from circulith.recovery.pricing import price_battery, price_fleet, price_lot, value_tables
from circulith.recovery.valuation import evaluate, species_input


@pytest.fixture(scope="module")
def tables():
    return value_tables()


def small_fleet(n: int = 60, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    chems = np.array(["NMC111", "NMC532", "NMC622", "NMC811", "NCA", "LFP", "LMO"])
    forms = np.array(["cell", "module", "pack", "black_mass"])
    return pd.DataFrame({
        "battery_id": [f"B{i:03d}" for i in range(n)],
        "chemistry": rng.choice(chems, n), "form": rng.choice(forms, n), "mass_kg": rng.uniform(1, 600, n),
    })


def test_vectorised_equals_per_battery_evaluation(tables) -> None:
    fleet = small_fleet()
    out = price_fleet(fleet, tables=tables)
    for i in range(0, len(fleet), 7):
        r = fleet.iloc[i]
        nets = {route: evaluate(r.chemistry, r.form, r.mass_kg, route).net_usd for route in tables.routes}
        best = max(nets, key=nets.get)
        assert out.loc[i, "best_route"] == best
        assert out.loc[i, "offer_usd"] == pytest.approx(nets[best], rel=1e-9, abs=1e-6)
        for route, v in nets.items():
            assert out.loc[i, f"net_{route}_usd"] == pytest.approx(v, rel=1e-9, abs=1e-6)


def test_offer_decomposes_line_by_line(tables) -> None:
    out = price_fleet(small_fleet(), tables=tables, logistics_usd_per_kg=0.3, margin_fraction=0.15)
    recon = out.revenue_usd - out.processing_cost_usd - out.logistics_usd - out.margin_usd
    assert np.allclose(recon, out.offer_usd)
    assert np.allclose(out.logistics_usd, 0.3 * out.mass_kg)
    assert np.allclose(out.margin_usd, 0.15 * out.revenue_usd)


def test_declared_metals_match_scalar_override(tables) -> None:
    b = {"battery_id": "X", "chemistry": "NMC622", "form": "pack", "mass_kg": 420.0, "co_kg": 4.0, "ni_kg": 40.0}
    line = price_battery(b, tables=tables)
    x = apply_declared_metals(species_input("NMC622", "pack", 420.0), {"Co": 4.0, "Ni": 40.0})
    for route in tables.routes:
        assert line[f"net_{route}_usd"] == pytest.approx(
            evaluate("NMC622", "pack", 420.0, route, species_kg=x).net_usd, rel=1e-9)
    plain = price_battery({k: v for k, v in b.items() if k not in ("co_kg", "ni_kg")}, tables=tables)
    assert line["net_hydro_usd"] != pytest.approx(plain["net_hydro_usd"])


def test_energy_instead_of_mass(tables) -> None:
    line = price_battery({"chemistry": "NMC622", "form": "pack", "energy_kwh": 64.0}, tables=tables)
    assert line["mass_kg"] == pytest.approx(64.0 * 1000 / 160)  # pack 160 Wh/kg in chemistries.csv


def test_reuse_goes_where_worth_most(tables) -> None:
    fleet = pd.DataFrame({"battery_id": ["a", "b", "c"], "chemistry": ["LFP", "LFP", "NMC811"], "form": "pack",
                          "mass_kg": [400.0, 400.0, 400.0], "energy_kwh": [50.0, 50.0, 70.0],
                          "reuse_eligible": [True, False, True], "soh": [0.85, 0.85, 0.1]})
    out = price_fleet(fleet, tables=tables, reuse_value_usd_per_kwh=60.0)
    assert out.destination.tolist()[0] == "reuse"
    assert out.destination.tolist()[1].startswith("recycle:")
    assert out.reuse_value_usd[0] == pytest.approx(50 * 0.85 * 60)
    assert np.isnan(out.reuse_value_usd[1])
    # a badly worn NMC811 pack at 10 % SOH (70 kWh x 0.1 x 60 USD = 420 USD) is worth more recycled
    assert out.destination.tolist()[2].startswith("recycle:")


def test_lot_totals(tables) -> None:
    lot = price_lot(small_fleet(20), tables=tables)
    assert lot["totals"]["batteries"] == 20
    assert lot["totals"]["offer_usd"] == pytest.approx(lot["batteries"].offer_usd.sum())


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"chemistry": ["NMC999"], "mass_kg": [1.0]}), "unknown chemistry 'NMC999'"),
        (pd.DataFrame({"chemistry": ["LFP"], "form": ["crate"], "mass_kg": [1.0]}), "unknown form"),
        (pd.DataFrame({"chemistry": ["LFP"], "mass_kg": [-1.0]}), "non-negative mass"),
        (pd.DataFrame({"chemistry": ["LFP"]}), "non-negative mass"),
        (pd.DataFrame({"chemistry": ["NMC622"], "mass_kg": [10.0], "co_kg": [-1.0]}), "must not be negative"),
        (pd.DataFrame({"chemistry": ["NMC622"], "mass_kg": [10.0], "ni_kg": [20.0]}), "exceed"),
        (pd.DataFrame({"mass_kg": [1.0]}), "chemistry column"),
    ],
)
def test_bad_fleet(frame: pd.DataFrame, message: str, tables) -> None:
    with pytest.raises(InvalidInput, match=message):
        price_fleet(frame, tables=tables)


def test_bad_parameters(tables) -> None:
    f = small_fleet(2)
    with pytest.raises(InvalidInput):
        price_fleet(f, tables=tables, margin_fraction=1.5)
    with pytest.raises(InvalidInput):
        price_fleet(f, tables=tables, reuse_value_usd_per_kwh=-1)
