"""Passport attributes as data: field path -> longlist number, regulation reference, access, unit.

Loads ``circulith/reference/data/passport_attributes.csv``. Each row maps one passport field path
(``mass_kg``, ``materials.cobalt_kg``, ``dynamic.soh_pct``) to the Battery Pass data attribute
longlist v1.2 (attribute number and name, regulation reference, ACCESS RIGHT, unit), with our own
unit, static/dynamic, and a ``source`` per row. Rows without a longlist number are our own
attributes, justified in ``source``.

Licence note: the longlist workbook is published by the Battery Pass consortium (the repository is
CC BY 4.0; the workbook itself is marked CC BY-NC 4.0). The CSV ships only facts (attribute
numbers, names, regulation references, access rights and units), credited to the Battery Pass
consortium per row; none of the workbook's descriptive text is copied.

:func:`view` returns the part of a passport an audience may see (see :mod:`circulith.passport.access`).
"""

from __future__ import annotations

import csv
import io
import types
import typing
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

from pydantic import BaseModel

from circulith.passport.access import AccessPoint, Audience, entitled, parse_audience
from circulith.passport.model import (
    CarbonFootprint,
    Dismantling,
    DynamicCondition,
    EndOfLifeInfo,
    Materials,
    Passport,
    RecycledContent,
)

__all__ = ["Attribute", "field_paths", "read_passport_attributes", "view", "withheld"]

#: Sub-models whose fields get their own attribute rows (other sub-models are one attribute each).
NESTED_MODELS: tuple[type[BaseModel], ...] = (
    Materials,
    CarbonFootprint,
    RecycledContent,
    Dismantling,
    EndOfLifeInfo,
    DynamicCondition,
)


@dataclass(frozen=True)
class Attribute:
    """One passport attribute.

    Parameters
    ----------
    field : str
        Dotted field path in :class:`~circulith.passport.model.Passport`.
    longlist_no : int or None
        Battery Pass longlist v1.2 attribute number; None for our own attributes.
    attribute : str
        Longlist attribute name (or our description).
    regulation_reference : str
        Article/Annex of Regulation (EU) 2023/1542.
    access : AccessPoint
        Annex XIII access right.
    unit : str
        Unit of our field.
    longlist_unit : str
        Unit the longlist states.
    kind : {"static", "dynamic"}
        Static or dynamic data.
    source : str
        Where the row comes from.
    """

    field: str
    longlist_no: int | None
    attribute: str
    regulation_reference: str
    access: AccessPoint
    unit: str
    longlist_unit: str
    kind: str
    source: str


@lru_cache(maxsize=1)
def read_passport_attributes() -> dict[str, Attribute]:
    """Field path -> :class:`Attribute`, from the shipped ``passport_attributes.csv``."""
    path = files("circulith.reference").joinpath("data/passport_attributes.csv")
    out: dict[str, Attribute] = {}
    with io.StringIO(path.read_text(encoding="utf-8"), newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["field"]] = Attribute(
                field=row["field"],
                longlist_no=int(row["longlist_no"]) if row["longlist_no"] else None,
                attribute=row["attribute"],
                regulation_reference=row["regulation_reference"],
                access=AccessPoint(row["access"]),
                unit=row["unit"],
                longlist_unit=row["longlist_unit"],
                kind=row["kind"],
                source=row["source"],
            )
    return out


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for a in args:
        if isinstance(a, type) and a in NESTED_MODELS:
            return a
    return None


def field_paths(model: type[BaseModel] = Passport, prefix: str = "") -> list[str]:
    """Every attribute path of the passport model, in model order (leaves of :data:`NESTED_MODELS`)."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        sub = _nested_model(info.annotation)
        if sub is not None:
            out += field_paths(sub, f"{prefix}{name}.")
        else:
            out.append(f"{prefix}{name}")
    return out


def view(passport: Passport, audience: str | Audience) -> dict[str, Any]:
    """The passport as ``audience`` may see it: a nested dict of the permitted fields only.

    Values are JSON-ready (``model_dump(mode="json")``). A permitted field under an absent
    sub-model (e.g. ``carbon_footprint`` is None) appears as that sub-model set to None. The
    identity keys (passport and battery identifiers, level, parent) are public and always present.

    Parameters
    ----------
    passport : Passport
        The full passport.
    audience : str or Audience
        ``public``, ``legitimate``, ``commission`` or ``authority``.
    """
    return project(passport.model_dump(mode="json"), view_paths(parse_audience(audience)))


@cache
def view_paths(audience: Audience) -> tuple[tuple[str, ...], ...]:
    """The attribute paths (split at dots) ``audience`` may see, in model order."""
    points = entitled(audience)
    attrs = read_passport_attributes()
    return tuple(tuple(p.split(".")) for p in field_paths() if attrs[p].access in points)


def project(data: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    """The fields of a dumped passport at ``paths`` (see :func:`view_paths`), nested as in the passport.

    A permitted field under an absent sub-model appears as that sub-model set to None.
    """
    out: dict[str, Any] = {}
    for keys in paths:
        src: Any = data
        dst = out
        for k in keys[:-1]:
            src = src[k]
            if src is None:
                dst[k] = None
                break
            dst = dst.setdefault(k, {})
        else:
            dst[keys[-1]] = src[keys[-1]]
    return out


def withheld(audience: str | Audience) -> list[str]:
    """Field paths ``audience`` may not see."""
    points = entitled(audience)
    attrs = read_passport_attributes()
    return [p for p in field_paths() if attrs[p].access not in points]
