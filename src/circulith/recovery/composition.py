"""Composition catalogue: species mass fractions per kg of cell, module and pack, per chemistry.

Cell compositions come from ``compositions.csv`` (component mass fractions, derived with the BatPaC
cell-design method; see that file's ``source`` column), cathode and anode formulae and specific
energies from the shared ``chemistries.csv``; module and pack hardware from ``pack_hardware.csv`` and
``module_share.csv``. The cell share of a pack is the ratio of pack to cell specific energy
(``pack_specific_energy_wh_per_kg / cell_specific_energy_wh_per_kg``). A battery passport's declared
masses of Co, Li, Ni and Mn override the catalogue (:func:`apply_declared_metals`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from circulith.errors import InvalidInput, Problem
from circulith.recovery.reference_data import load_csv
from circulith.recovery.species import (
    ELEMENT_CONTENT,
    ELEMENTS,
    N_SPECIES,
    SPECIES,
    SPECIES_INDEX,
    mass_fractions,
)

#: Physical forms a battery can arrive in (black mass handled by the route engine).
FORMS: tuple[str, ...] = ("cell", "module", "pack", "black_mass")
FORM_INDEX = {f: i for i, f in enumerate(FORMS)}

#: Tolerance on compositions summing to one [kg/kg].
SUM_TOLERANCE = 0.02

_ANODES = {"graphite": "C", "hard carbon": "C", "Li4Ti5O12": "LTO"}
_COMPONENT_SPECIES = {
    "carbon_black": "C", "binder": "binder", "al_foil_tabs": "Al_foil", "cu_foil_tabs": "Cu_foil",
    "separator": "plastics", "electrolyte_solvent": "electrolyte_solvent", "casing_al": "Al_foil",
    "casing_polymer": "plastics",
}
_HARDWARE_SPECIES = {
    ("module", "aluminium"): "md_Al", ("module", "copper"): "md_Cu", ("module", "plastics"): "md_plastics",
    ("pack", "aluminium"): "pk_Al", ("pack", "steel"): "pk_steel", ("pack", "copper"): "pk_Cu",
    ("pack", "electronics"): "pk_electronics", ("pack", "plastics"): "pk_plastics",
    ("pack", "coolant"): "pk_coolant",
}


@dataclass(frozen=True)
class Chemistry:
    """One row of ``chemistries.csv`` that the recovery engine needs."""

    code: str
    cathode: str
    anode: str
    cell_specific_energy_wh_per_kg: float
    pack_specific_energy_wh_per_kg: float


@cache
def chemistries() -> dict[str, Chemistry]:
    """The shared chemistry catalogue, by code."""
    return {
        r["code"]: Chemistry(r["code"], r["cathode"], r["anode"], float(r["cell_specific_energy_wh_per_kg"]),
                             float(r["pack_specific_energy_wh_per_kg"]))
        for r in load_csv("chemistries.csv")
    }


def chemistry_codes() -> tuple[str, ...]:
    """Chemistry codes with a composition in the catalogue, in a fixed order."""
    comp = {r["chemistry"] for r in load_csv("compositions.csv")}
    return tuple(c for c in chemistries() if c in comp)


def check_chemistry(code: str, *, row: int | None = None, record_id: str | None = None) -> str:
    """Return ``code`` if the catalogue knows it, else raise :class:`InvalidInput`."""
    if code not in chemistry_codes():
        raise InvalidInput(Problem(row, "chemistry", f"unknown chemistry '{code}'; known: "
                                   f"{', '.join(chemistry_codes())}", record_id))
    return code


def check_form(form: str, *, row: int | None = None, record_id: str | None = None) -> str:
    """Return ``form`` if it is one of :data:`FORMS`, else raise :class:`InvalidInput`."""
    if form not in FORMS:
        raise InvalidInput(Problem(row, "form", f"unknown form '{form}'; use one of {', '.join(FORMS)}", record_id))
    return form


def _component_vector(components: Mapping[str, float], chem: Chemistry) -> np.ndarray:
    v = np.zeros(N_SPECIES)
    for comp, frac in components.items():
        if comp == "cathode_active":
            for el, f in mass_fractions(chem.cathode).items():
                v[SPECIES_INDEX[el]] += frac * f
        elif comp == "anode_active":
            kind = _ANODES.get(chem.anode)
            if kind is None:
                raise InvalidInput(f"chemistry {chem.code}: unsupported anode '{chem.anode}'")
            if kind == "C":
                v[SPECIES_INDEX["C"]] += frac
            else:
                for el, f in mass_fractions("Li4Ti5O12").items():
                    v[SPECIES_INDEX[el]] += frac * f
        elif comp == "electrolyte_salt":
            salt = "NaPF6" if chem.cathode.startswith("Na") else "LiPF6"
            v[SPECIES_INDEX[salt]] += frac
        else:
            v[SPECIES_INDEX[_COMPONENT_SPECIES[comp]]] += frac
    return v


@cache
def _tables() -> tuple[np.ndarray, tuple[str, ...]]:
    codes = chemistry_codes()
    chems = chemistries()
    cell_rows: dict[str, dict[str, float]] = {}
    for r in load_csv("compositions.csv"):
        cell_rows.setdefault(r["chemistry"], {})[r["component"]] = float(r["mass_fraction"])
    hw: dict[str, np.ndarray] = {"module": np.zeros(N_SPECIES), "pack": np.zeros(N_SPECIES)}
    for r in load_csv("pack_hardware.csv"):
        hw[r["level"]][SPECIES_INDEX[_HARDWARE_SPECIES[(r["level"], r["material"])]]] += float(
            r["share_of_level_hardware"])
    module_share = float(next(r["value"] for r in load_csv("module_share.csv")
                              if r["quantity"] == "module_hardware_share_of_non_cell_mass"))
    out = np.zeros((len(codes), 3, N_SPECIES))
    for i, code in enumerate(codes):
        chem = chems[code]
        cell = _component_vector(cell_rows[code], chem)
        validate_fractions(cell, source=f"compositions.csv ({code})")
        cell = cell / cell.sum()  # the table is rounded to 5 decimals
        cell_share = chem.pack_specific_energy_wh_per_kg / chem.cell_specific_energy_wh_per_kg
        non_cell = 1.0 - cell_share
        md = module_share * non_cell
        pk = non_cell - md
        module = (cell_share * cell + md * hw["module"]) / (cell_share + md)
        pack = cell_share * cell + md * hw["module"] + pk * hw["pack"]
        out[i] = np.stack([cell, module, pack])
    return out, codes


def composition_table() -> tuple[np.ndarray, tuple[str, ...]]:
    """Species fractions for every chemistry and form (cell, module, pack).

    Returns
    -------
    table : numpy.ndarray
        Shape (n_chemistries, 3, n_species) [kg species/kg battery]; axis 1 is cell, module, pack.
    codes : tuple of str
        Chemistry code of each row.
    """
    return _tables()


def composition(chemistry: str, form: str = "cell") -> dict[str, float]:
    """Species mass fractions [kg/kg] of a chemistry in a battery form (cell, module or pack).

    Black mass depends on the pretreatment route: see
    :func:`circulith.recovery.black_mass.composition_in_form`.
    """
    check_chemistry(chemistry)
    check_form(form)
    if form == "black_mass":
        raise InvalidInput(Problem(None, "form", "black-mass composition depends on the pretreatment route: use "
                                   "circulith.recovery.black_mass.composition_in_form"))
    table, codes = _tables()
    v = table[codes.index(chemistry), FORM_INDEX[form]]
    return {s: float(x) for s, x in zip(SPECIES, v, strict=True) if x > 0}


def element_fractions(chemistry: str, form: str = "cell") -> dict[str, float]:
    """Element mass fractions [kg/kg] of a chemistry in a battery form (cell, module or pack)."""
    v = species_vector(composition(chemistry, form))
    return {e: float(x) for e, x in zip(ELEMENTS, v @ ELEMENT_CONTENT, strict=True) if x > 0}


def species_vector(fractions: Mapping[str, float], *, source: str | None = None) -> np.ndarray:
    """A species dict as an array in :data:`SPECIES` order; unknown species raise :class:`InvalidInput`."""
    v = np.zeros(N_SPECIES)
    problems = []
    for k, x in fractions.items():
        if k not in SPECIES_INDEX:
            problems.append(Problem(None, k, f"unknown species '{k}'; known: {', '.join(SPECIES)}"))
            continue
        v[SPECIES_INDEX[k]] = float(x)
    if problems:
        raise InvalidInput(problems, source=source)
    return v


def validate_fractions(v: np.ndarray, *, source: str | None = None, tolerance: float = SUM_TOLERANCE) -> None:
    """Raise :class:`InvalidInput` unless the fractions are non-negative and sum to 1 ± ``tolerance``."""
    problems = [Problem(None, SPECIES[i], f"negative mass fraction {v[i]:g}") for i in np.flatnonzero(v < 0)]
    total = float(v.sum())
    if abs(total - 1.0) > tolerance:
        problems.append(Problem(None, "", f"mass fractions sum to {total:.4f}, not 1 ± {tolerance}"))
    if problems:
        raise InvalidInput(problems, source=source)


def custom_composition(fractions: Mapping[str, float], *, source: str | None = None) -> np.ndarray:
    """Validate a user composition (species → kg/kg) and return it normalised to sum exactly to one."""
    v = species_vector(fractions, source=source)
    validate_fractions(v, source=source)
    return v / v.sum()


#: Passport fields that override the catalogue [kg of element in the battery].
DECLARED_METALS = ("Li", "Ni", "Co", "Mn")


def apply_declared_metals(species_kg: np.ndarray, declared_kg: Mapping[str, float | None], *,
                          record_id: str | None = None) -> np.ndarray:
    """Replace catalogue masses of Li, Ni, Co, Mn with a passport's declared masses.

    The declared kilograms replace the active-material species of those elements; the other species are
    scaled so that the battery's total mass is unchanged.

    Parameters
    ----------
    species_kg : numpy.ndarray
        Species masses of one battery [kg], shape (n_species,).
    declared_kg : mapping
        Element → declared mass [kg]; ``None`` entries are ignored.
    """
    v = np.asarray(species_kg, dtype=float).copy()
    total = v.sum()
    problems = []
    idx = []
    for el, kg in declared_kg.items():
        if kg is None:
            continue
        if el not in DECLARED_METALS:
            problems.append(Problem(None, el, f"passport composition may declare {', '.join(DECLARED_METALS)} only",
                                    record_id))
            continue
        if not np.isfinite(kg) or kg < 0:
            problems.append(Problem(None, el, f"declared mass must be a non-negative number of kg, got {kg}",
                                    record_id))
            continue
        idx.append((SPECIES_INDEX[el], float(kg)))
    declared_total = sum(kg for _, kg in idx)
    if declared_total > total:
        problems.append(Problem(None, "", f"declared metals ({declared_total:g} kg) exceed the battery mass "
                                f"({total:g} kg)", record_id))
    if problems:
        raise InvalidInput(problems)
    if not idx:
        return v
    mask = np.ones(N_SPECIES, dtype=bool)
    for i, _ in idx:
        mask[i] = False
    rest = v[mask].sum()
    if rest > 0:
        v[mask] *= (total - declared_total) / rest
    for i, kg in idx:
        v[i] = kg
    return v
