"""The shipped chemistry catalogue as the passport needs it: codes and cell voltage windows.

From the shipped catalogue (:mod:`circulith.reference.chemistries`; every row carries its ``source``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from circulith.reference.chemistries import chemistry_records


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
    """Chemistry code -> :class:`ChemistryWindow`, from the shipped catalogue."""
    return {
        code: ChemistryWindow(
            code=code,
            name=str(row["name"]),
            cell_nominal_voltage_v=float(row["cell_nominal_voltage_v"]),
            cell_min_voltage_v=float(row["cell_min_voltage_v"]),
            cell_max_voltage_v=float(row["cell_max_voltage_v"]),
            cell_specific_energy_wh_per_kg=float(row["cell_specific_energy_wh_per_kg"]),
        )
        for code, row in chemistry_records().items()
    }


def chemistry_codes() -> list[str]:
    """The chemistry codes a passport may name, in catalogue order."""
    return list(read_chemistry_windows())
