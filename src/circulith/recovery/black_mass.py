"""Black-mass composition: what the default pretreatment (discharge, dismantling, shredding, sieving) leaves.

Black mass is not a battery form of the catalogue: its species fractions are those of the cells run
through the ``black_mass`` route of ``recovery_routes.toml`` (the ``black_mass_sold`` stream), so this
module sits above both :mod:`circulith.recovery.composition` (the catalogue) and
:mod:`circulith.recovery.routes` (the unit operations), and neither imports it.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from circulith.recovery.composition import (
    check_chemistry,
    check_form,
    composition,
    composition_table,
    species_vector,
)
from circulith.recovery.routes import compile_route
from circulith.recovery.species import ELEMENT_CONTENT, ELEMENTS, N_SPECIES, SPECIES


@cache
def _black_mass_table() -> np.ndarray:
    table, codes = composition_table()
    cr = compile_route("black_mass", "cell")
    i = cr.stream_index("black_mass_sold")
    out = np.zeros((len(codes), N_SPECIES))
    for c in range(len(codes)):
        bm = table[c, 0] * cr.stream_coef[i]
        out[c] = bm / bm.sum()
    return out


def black_mass_fractions(chemistry: str) -> np.ndarray:
    """Species fractions [kg/kg] of the black mass made from a chemistry's cells by the default pretreatment."""
    check_chemistry(chemistry)
    _, codes = composition_table()
    return _black_mass_table()[codes.index(chemistry)].copy()


def black_mass_composition(chemistry: str) -> dict[str, float]:
    """Black-mass species fractions [kg/kg] as a dict (see :func:`black_mass_fractions`)."""
    v = black_mass_fractions(chemistry)
    return {s: float(x) for s, x in zip(SPECIES, v, strict=True) if x > 0}


def form_composition_table() -> tuple[np.ndarray, tuple[str, ...]]:
    """Species fractions [kg/kg], shape (n_chemistries, 4 forms, n_species), black mass as the fourth form."""
    table, codes = composition_table()
    full = np.concatenate([table, _black_mass_table()[:, None, :]], axis=1)
    return full, codes


def composition_in_form(chemistry: str, form: str = "cell") -> dict[str, float]:
    """Species mass fractions [kg/kg] of a chemistry in any form (cell, module, pack or black_mass)."""
    check_form(form)
    return black_mass_composition(chemistry) if form == "black_mass" else composition(chemistry, form)


def element_fractions_in_form(chemistry: str, form: str = "cell") -> dict[str, float]:
    """Element mass fractions [kg/kg] of a chemistry in any form (cell, module, pack or black_mass)."""
    v = species_vector(composition_in_form(chemistry, form))
    return {e: float(x) for e, x in zip(ELEMENTS, v @ ELEMENT_CONTENT, strict=True) if x > 0}
