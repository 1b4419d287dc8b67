"""Species tracked by the mass balance, their element content, and formula arithmetic.

The engine follows *species* (materials that processes separate: the elements of the cathode active
material, foils, electrolyte salt, pack hardware...) rather than bare elements, because two kilograms of
aluminium behave differently when one is foil inside a cell and the other a pack tray. Every species has
a fixed element content (``ELEMENT_CONTENT``), so conserving species conserves elements.

Standard atomic weights: IUPAC Commission on Isotopic Abundances and Atomic Weights, "Standard atomic
weights of the elements 2021" (Pure Appl. Chem. 2022), abridged to 4-5 significant figures.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from circulith.errors import InvalidInput

#: Standard atomic weights [g/mol] (IUPAC 2021, abridged).
ATOMIC_MASS_G_PER_MOL: dict[str, float] = {
    "H": 1.008, "Li": 6.94, "C": 12.011, "O": 15.999, "F": 18.998, "Na": 22.990, "Al": 26.982,
    "Si": 28.085, "P": 30.974, "S": 32.06, "Ca": 40.078, "Ti": 47.867, "Mn": 54.938, "Fe": 55.845,
    "Co": 58.933, "Ni": 58.693, "Cu": 63.546,
}

#: Elements reported by the mass balance ("other" = organic matter, electronics and the like).
ELEMENTS: tuple[str, ...] = ("Li", "Ni", "Co", "Mn", "Al", "Fe", "P", "Ti", "Na", "Cu", "C", "O", "F", "other")

#: Species, in the column order used by every array in :mod:`circulith.recovery`.
SPECIES: tuple[str, ...] = (
    # elements of electrode active materials (cathode, and LTO anode)
    "Li", "Ni", "Co", "Mn", "Al", "Fe", "P", "Na", "Ti", "O",
    # carbon: graphite, hard carbon, conductive carbon black
    "C",
    # cell inactive materials
    "Al_foil", "Cu_foil", "LiPF6", "NaPF6", "electrolyte_solvent", "binder", "plastics",
    # module hardware
    "md_Al", "md_Cu", "md_plastics",
    # pack hardware
    "pk_Al", "pk_steel", "pk_Cu", "pk_electronics", "pk_plastics", "pk_coolant",
)
SPECIES_INDEX: dict[str, int] = {s: i for i, s in enumerate(SPECIES)}
N_SPECIES = len(SPECIES)

#: Carbon mass fraction of organic species [kg C/kg], from their formulae: EC C3H4O3 0.409, DMC C3H6O3
#: 0.400 (solvent taken as 0.42 with EMC); PVDF (C2H2F2)n 0.375; PP/PE (CH2)n 0.857 (separator, pouch
#: polymer 0.85); glass-fibre reinforced PP (30 % glass) 0.60; ethylene glycol C2H6O2 0.387 at 50 % in
#: water 0.19; PCB laminate (epoxy/glass, assumption) 0.20. Used for the CO2 of combustion.
CARBON_FRACTION: dict[str, float] = {
    "C": 1.0, "electrolyte_solvent": 0.42, "binder": 0.375, "plastics": 0.85, "md_plastics": 0.60,
    "pk_plastics": 0.60, "pk_coolant": 0.19, "pk_electronics": 0.20,
}

#: kg CO2 per kg C burnt (44.009 / 12.011).
CO2_PER_C = (12.011 + 2 * 15.999) / 12.011


def parse_formula(formula: str) -> dict[str, float]:
    """Parse a chemical formula with decimal or fractional subscripts and hydrate dots.

    Parameters
    ----------
    formula : str
        E.g. ``"LiNi0.6Mn0.2Co0.2O2"``, ``"NaNi1/3Fe1/3Mn1/3O2"``, ``"NiSO4.6H2O"``, ``"Li2CO3"``.

    Returns
    -------
    dict
        Moles of each element per mole of formula unit.
    """
    counts: dict[str, float] = {}
    # a hydrate dot ("NiSO4.6H2O", "LiOH·H2O") is told apart from a decimal point ("Ni0.6") by what follows
    for part_index, part in enumerate(re.split(r"·|\.(?=\d*H2O$)", formula)):
        mult = 1.0
        m = re.match(r"^(\d+)(?=[A-Z])", part)
        if m and part_index > 0:
            mult = float(m.group(1))
            part = part[m.end():]
        pos = 0
        for tok in re.finditer(r"([A-Z][a-z]?)(\d+(?:\.\d+)?(?:/\d+)?)?", part):
            if tok.start() != pos:
                raise InvalidInput(f"cannot parse chemical formula '{formula}'")
            pos = tok.end()
            el, num = tok.group(1), tok.group(2)
            if el not in ATOMIC_MASS_G_PER_MOL:
                raise InvalidInput(f"unknown element '{el}' in formula '{formula}'")
            if num is None:
                n = 1.0
            elif "/" in num:
                a, b = num.split("/")
                n = float(a) / float(b)
            else:
                n = float(num)
            counts[el] = counts.get(el, 0.0) + n * mult
        if pos != len(part):
            raise InvalidInput(f"cannot parse chemical formula '{formula}'")
    return counts


@cache
def molar_mass_g_per_mol(formula: str) -> float:
    """Molar mass of a formula [g/mol]."""
    return sum(ATOMIC_MASS_G_PER_MOL[el] * n for el, n in parse_formula(formula).items())


@cache
def mass_fractions(formula: str) -> dict[str, float]:
    """Element mass fractions of a formula [kg element/kg compound]."""
    mm = molar_mass_g_per_mol(formula)
    return {el: ATOMIC_MASS_G_PER_MOL[el] * n / mm for el, n in parse_formula(formula).items()}


def product_mass_per_element_kg(product_formula: str, element: str) -> float:
    """Mass of a product carrying one kg of ``element`` [kg product/kg element].

    E.g. ``product_mass_per_element_kg("Li2CO3", "Li")`` is 5.323, the lithium carbonate equivalent
    (LCE) factor used by USGS Mineral Commodity Summaries.
    """
    frac = mass_fractions(product_formula).get(element)
    if not frac:
        raise InvalidInput(f"product '{product_formula}' contains no {element}")
    return 1.0 / frac


def _element_content() -> np.ndarray:
    m = np.zeros((N_SPECIES, len(ELEMENTS)))
    e = {el: i for i, el in enumerate(ELEMENTS)}
    single = {"Li": "Li", "Ni": "Ni", "Co": "Co", "Mn": "Mn", "Al": "Al", "Fe": "Fe", "P": "P", "Na": "Na",
              "Ti": "Ti", "O": "O", "C": "C", "Al_foil": "Al", "Cu_foil": "Cu", "md_Al": "Al", "md_Cu": "Cu",
              "pk_Al": "Al", "pk_Cu": "Cu", "pk_steel": "Fe"}
    for sp, el in single.items():
        m[SPECIES_INDEX[sp], e[el]] = 1.0
    for salt in ("LiPF6", "NaPF6"):
        for el, f in mass_fractions(salt).items():
            m[SPECIES_INDEX[salt], e[el]] = f
    for sp in ("electrolyte_solvent", "binder", "plastics", "md_plastics", "pk_electronics", "pk_plastics",
               "pk_coolant"):
        m[SPECIES_INDEX[sp], e["other"]] = 1.0
    return m


#: ``ELEMENT_CONTENT[i, j]`` = kg of element j per kg of species i (steel taken as iron).
ELEMENT_CONTENT: np.ndarray = _element_content()

#: Species made of a single element and its molar mass, for stoichiometric reagent demand.
SPECIES_MOLAR_MASS: dict[str, float] = {
    sp: ATOMIC_MASS_G_PER_MOL[ELEMENTS[int(np.argmax(ELEMENT_CONTENT[i]))]]
    for i, sp in enumerate(SPECIES)
    if np.isclose(ELEMENT_CONTENT[i].max(), 1.0) and ELEMENTS[int(np.argmax(ELEMENT_CONTENT[i]))] != "other"
}


def species_to_elements(species_kg: np.ndarray) -> np.ndarray:
    """Element masses [kg] from species masses [kg] (last axis = species)."""
    return species_kg @ ELEMENT_CONTENT
