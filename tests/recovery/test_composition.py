"""Composition catalogue: sums, cross-check with chemistries.csv, passport override, bad input."""

import csv
import re
from importlib import resources

import numpy as np
import pytest

from circulith.errors import InvalidInput
from circulith.recovery.black_mass import composition_in_form, element_fractions_in_form
from circulith.recovery.composition import (
    apply_declared_metals,
    chemistries,
    chemistry_codes,
    composition,
    custom_composition,
    element_fractions,
)
from circulith.recovery.species import SPECIES_INDEX, species_to_elements

LITHIUM_ION = ("NMC111", "NMC532", "NMC622", "NMC811", "NCA", "LFP", "LMO")


def test_catalogue_covers_required_chemistries() -> None:
    assert set(LITHIUM_ION) <= set(chemistry_codes())


@pytest.mark.parametrize("chem", chemistry_codes())
@pytest.mark.parametrize("form", ["cell", "module", "pack", "black_mass"])
def test_fractions_sum_to_one(chem: str, form: str) -> None:
    assert sum(composition_in_form(chem, form).values()) == pytest.approx(1.0, abs=1e-9)
    assert sum(element_fractions_in_form(chem, form).values()) == pytest.approx(1.0, abs=1e-9)


def test_every_row_has_a_source() -> None:
    text = (resources.files("circulith.reference") / "data" / "compositions.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert rows and all(r["source"].strip() for r in rows)


def test_nmc622_design_reproduces_batpac_specific_energy() -> None:
    """The BatPaC-method NMC622 cell design implies ~232 Wh/kg; chemistries.csv (BatPaC 5.0 NMC622-G) says 230."""
    text = (resources.files("circulith.reference") / "data" / "compositions.csv").read_text()
    src = next(r["source"] for r in csv.DictReader(text.splitlines()) if r["chemistry"] == "NMC622")
    implied = float(re.search(r"implied (\d+) Wh/kg", src).group(1))
    assert implied == pytest.approx(chemistries()["NMC622"].cell_specific_energy_wh_per_kg, rel=0.05)


def test_nmc622_cell_metal_content_is_plausible() -> None:
    """Ni ≈ 0.54 kg/kWh and Co ≈ 0.18 kg/kWh at cell level for NMC622 (order of BatPaC/GREET material intensities)."""
    ef = element_fractions("NMC622", "cell")
    kwh_per_kg = chemistries()["NMC622"].cell_specific_energy_wh_per_kg / 1000
    assert ef["Ni"] / kwh_per_kg == pytest.approx(0.54, rel=0.15)
    assert ef["Co"] / kwh_per_kg == pytest.approx(0.18, rel=0.15)
    # stoichiometry inside the cathode is preserved: Ni:Co molar ratio 3:1
    assert (ef["Ni"] / 58.693) / (ef["Co"] / 58.933) == pytest.approx(3.0, rel=1e-6)


def test_pack_contains_hardware_and_less_active_material() -> None:
    cell, pack = composition("NMC622", "cell"), composition("NMC622", "pack")
    assert pack["Ni"] < cell["Ni"]
    assert pack["pk_steel"] > 0 and "pk_steel" not in cell
    # cell share of a pack = pack / cell specific energy (160 / 230)
    assert pack["Ni"] / cell["Ni"] == pytest.approx(160 / 230, rel=1e-9)


def test_black_mass_is_enriched() -> None:
    assert element_fractions_in_form("NMC622", "black_mass")["Ni"] > 1.4 * element_fractions("NMC622", "cell")["Ni"]
    assert "Fe" in element_fractions_in_form("LFP", "black_mass")


def test_passport_metals_override_catalogue() -> None:
    x = np.array([composition("NMC622", "pack").get(s, 0.0) for s in SPECIES_INDEX]) * 400.0
    y = apply_declared_metals(x, {"Co": 5.0, "Ni": 30.0})
    assert y[SPECIES_INDEX["Co"]] == 5.0 and y[SPECIES_INDEX["Ni"]] == 30.0
    assert y.sum() == pytest.approx(400.0)
    assert species_to_elements(y)[2] == pytest.approx(5.0)  # Co column


@pytest.mark.parametrize(
    ("declared", "message"),
    [({"Co": -1.0}, "non-negative"), ({"Pb": 1.0}, "may declare"), ({"Ni": 500.0}, "exceed")],
)
def test_bad_passport_metals(declared: dict, message: str) -> None:
    x = np.ones(len(SPECIES_INDEX))
    with pytest.raises(InvalidInput, match=message):
        apply_declared_metals(x * 10, declared)


def test_custom_composition_validation() -> None:
    assert custom_composition({"Li": 0.5, "C": 0.5}).sum() == pytest.approx(1.0)
    with pytest.raises(InvalidInput, match="sum to 0.9"):
        custom_composition({"Li": 0.4, "C": 0.5})
    with pytest.raises(InvalidInput, match="negative"):
        custom_composition({"Li": -0.1, "C": 1.1})
    with pytest.raises(InvalidInput, match="unknown species"):
        custom_composition({"Unobtainium": 1.0})


def test_unknown_chemistry() -> None:
    with pytest.raises(InvalidInput, match="unknown chemistry 'NMC999'"):
        composition("NMC999", "cell")
    with pytest.raises(InvalidInput, match="unknown form"):
        composition("NMC622", "crate")
