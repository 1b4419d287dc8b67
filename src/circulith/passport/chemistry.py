"""The shipped chemistry catalogue as the passport needs it: codes and cell voltage windows.

From the shipped catalogue (:mod:`circulith.reference.chemistries`; every row carries its ``source``),
plus the chemistry families a passport may name without a ratio
(``reference/batterypass/chemistry_families.csv``, with its source): a family's window is the
envelope of its members' windows (lowest cut-off, highest full-charge voltage, mean nominal voltage,
highest specific energy), so plausibility checks on a family are never stricter than on a member.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

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
    """Chemistry code (catalogue code or family) -> :class:`ChemistryWindow`."""
    windows = _catalogue_windows()
    with files("circulith.reference").joinpath("batterypass/chemistry_families.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            members = [windows[m] for m in row["members"].split()]
            windows[row["family"]] = ChemistryWindow(
                code=row["family"],
                name=row["name"],
                cell_nominal_voltage_v=sum(m.cell_nominal_voltage_v for m in members) / len(members),
                cell_min_voltage_v=min(m.cell_min_voltage_v for m in members),
                cell_max_voltage_v=max(m.cell_max_voltage_v for m in members),
                cell_specific_energy_wh_per_kg=max(m.cell_specific_energy_wh_per_kg for m in members),
            )
    return windows


def _catalogue_windows() -> dict[str, ChemistryWindow]:
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
    """The chemistry codes a passport may name: catalogue codes in catalogue order, then families."""
    return list(read_chemistry_windows())
