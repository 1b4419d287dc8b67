"""Vocabulary of the Battery Pass mapping, from shipped tables with a ``source`` per row.

- ``reference/batterypass/materials.csv``: the element masses of a passport as Battery Pass materials
  (name, CAS Registry Number, component, critical raw material).
- ``reference/batterypass/chemistry_names.csv``: chemistry names used in the field (NMC, Li-NMC,
  NCM811, LiFePO4 ...) -> catalogue code or family.
- ``reference/batterypass/document_types.csv``: the Battery Pass v1.2 document types.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

__all__ = ["MaterialName", "chemistry_code", "document_types", "element_materials"]


@dataclass(frozen=True)
class MaterialName:
    """One element a passport holds a mass for.

    Parameters
    ----------
    field : str
        Field of :class:`circulith.passport.model.Materials` (mass [kg]).
    name : str
        Battery Pass material name.
    cas_number : str
        CAS Registry Number.
    component : str
        Component written on export when the passport says nothing else.
    critical_raw_material : bool
        Listed in Regulation (EU) 2024/1252, Annex II.
    """

    field: str
    name: str
    cas_number: str
    component: str
    critical_raw_material: bool


def _rows(name: str) -> list[dict[str, str]]:
    with files("circulith.reference").joinpath(f"batterypass/{name}").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@cache
def element_materials() -> tuple[MaterialName, ...]:
    """The elements of ``materials.csv`` in table order."""
    return tuple(
        MaterialName(r["field"], r["name"], r["cas_number"], r["component"], r["critical_raw_material"] == "true")
        for r in _rows("materials.csv")
    )


@cache
def _chemistry_names() -> dict[str, str]:
    return {_key(r["name"]): r["code"] for r in _rows("chemistry_names.csv")}


def _key(name: str) -> str:
    return " ".join(name.replace("₄", "4").split()).casefold()


def chemistry_code(name: str) -> str | None:
    """The catalogue code (or family) for a chemistry name, None when the name is not in the table."""
    return _chemistry_names().get(_key(name))


@cache
def document_types() -> tuple[str, ...]:
    """The Battery Pass v1.2 document types."""
    return tuple(r["document_type"] for r in _rows("document_types.csv"))
