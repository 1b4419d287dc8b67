"""Stoichiometry of cathode compounds and products.

Reference values are hand calculations with IUPAC 2021 standard atomic weights (Li 6.94, Ni 58.693,
Mn 54.938, Co 58.933, O 15.999, Fe 55.845, P 30.974, Al 26.982): e.g. LiNi0.6Mn0.2Co0.2O2 has
M = 96.93 g/mol and Li = 6.94/96.93 = 7.16 wt%, Ni = 35.22/96.93 = 36.3 wt%. The lithium carbonate
equivalent factor 5.323 kg LCE/kg Li is the conversion used by USGS Mineral Commodity Summaries.
"""

import pytest

from circulith.errors import InvalidInput
from circulith.recovery.species import (
    ELEMENT_CONTENT,
    mass_fractions,
    molar_mass_g_per_mol,
    parse_formula,
    product_mass_per_element_kg,
)


@pytest.mark.parametrize(
    ("formula", "element", "wt_pct"),
    [
        ("LiNi0.6Mn0.2Co0.2O2", "Li", 7.16),
        ("LiNi0.6Mn0.2Co0.2O2", "Ni", 36.33),
        ("LiNi0.6Mn0.2Co0.2O2", "Co", 12.16),
        ("LiNi0.6Mn0.2Co0.2O2", "Mn", 11.34),
        ("LiNi0.8Mn0.1Co0.1O2", "Ni", 48.27),
        ("LiNi0.33Mn0.33Co0.33O2", "Co", 20.27),
        ("LiFePO4", "Li", 4.40),
        ("LiFePO4", "Fe", 35.40),
        ("LiFePO4", "P", 19.63),
        ("LiMn2O4", "Mn", 60.77),
        ("LiCoO2", "Co", 60.21),
        ("LiNi0.8Co0.15Al0.05O2", "Al", 1.40),
    ],
)
def test_cathode_element_fractions_match_molar_masses(formula: str, element: str, wt_pct: float) -> None:
    assert mass_fractions(formula)[element] * 100 == pytest.approx(wt_pct, abs=0.02)


def test_fractions_of_a_compound_sum_to_one() -> None:
    assert sum(mass_fractions("NaNi1/3Fe1/3Mn1/3O2").values()) == pytest.approx(1.0)
    assert parse_formula("NaNi1/3Fe1/3Mn1/3O2")["Ni"] == pytest.approx(1 / 3)


def test_product_factors() -> None:
    assert product_mass_per_element_kg("Li2CO3", "Li") == pytest.approx(5.323, abs=0.001)  # USGS LCE factor
    assert product_mass_per_element_kg("LiOH.H2O", "Li") == pytest.approx(41.96 / 6.94, rel=1e-3)
    assert molar_mass_g_per_mol("NiSO4.6H2O") == pytest.approx(262.85, abs=0.05)
    assert molar_mass_g_per_mol("CoSO4.7H2O") == pytest.approx(281.10, abs=0.05)
    assert molar_mass_g_per_mol("MnSO4.H2O") == pytest.approx(169.02, abs=0.05)


def test_element_content_rows_sum_to_one() -> None:
    assert ELEMENT_CONTENT.sum(axis=1) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", ["LiXx2", "Li2CO3)", "li2co3"])
def test_bad_formula(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_formula(bad)
