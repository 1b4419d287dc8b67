"""The shipped chemistry catalogue as the passport needs it: codes and cell voltage windows.

Reads ``circulith/reference/data/chemistries.csv`` (shipped with the package; every row carries its
``source``). Cached: the table is read once per process.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files


@dataclass(frozen=True)
class ChemistryWindow:
    """Cell-level electrical window of one chemistry.

    Parameters
    ----------
    code : str
        Catalogue code (e.g. ``NMC622``).
    name : str
        Clear name of the chemistry.
    cell_nominal_voltage_v, cell_min_voltage_v, cell_max_voltage_v : float
        Cell voltages [V].
    cell_specific_energy_wh_per_kg : float
        Typical cell specific energy [Wh/kg].
    """

    code: str
    name: str
    cell_nominal_voltage_v: float
    cell_min_voltage_v: float
    cell_max_voltage_v: float
    cell_specific_energy_wh_per_kg: float


@lru_cache(maxsize=1)
def read_chemistry_windows() -> dict[str, ChemistryWindow]:
    """Chemistry code -> :class:`ChemistryWindow`, from the shipped ``chemistries.csv``."""
    path = files("circulith.reference").joinpath("data/chemistries.csv")
    out: dict[str, ChemistryWindow] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["code"]] = ChemistryWindow(
                code=row["code"],
                name=row["name"],
                cell_nominal_voltage_v=float(row["cell_nominal_voltage_v"]),
                cell_min_voltage_v=float(row["cell_min_voltage_v"]),
                cell_max_voltage_v=float(row["cell_max_voltage_v"]),
                cell_specific_energy_wh_per_kg=float(row["cell_specific_energy_wh_per_kg"]),
            )
    return out


def chemistry_codes() -> list[str]:
    """The chemistry codes a passport may name, in catalogue order."""
    return list(read_chemistry_windows())
