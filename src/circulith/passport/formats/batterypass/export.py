"""Write a passport as a Battery Pass v1.2 document by walking :data:`.mapping.TABLE`."""

from __future__ import annotations

from typing import Any

from circulith.errors import InvalidInput, Problem
from circulith.passport.formats.batterypass.mapping import TABLE
from circulith.passport.formats.batterypass.schema import validate_batterypass
from circulith.passport.formats.table import dump
from circulith.passport.model import Passport

__all__ = ["export_batterypass"]


def export_batterypass(passport: Passport, *, strict: bool = True, validate: bool = True) -> dict[str, Any]:
    """The passport as a Battery Pass v1.2 document (seven aspects plus a ``circulith`` entry).

    Parameters
    ----------
    passport : Passport
        The passport.
    strict : bool
        Refuse (``InvalidInput``) when a property the Battery Pass schema requires has no value in
        the passport. When False, such properties get placeholders (0, "", epoch) -- the document is
        then schema-valid but those values are not data; use only for previews.
    validate : bool
        Validate every aspect against its schema before returning.

    Raises
    ------
    InvalidInput
        Missing required values (strict), or schema violations (validate).
    """
    doc, missing = dump(TABLE, passport.model_dump(mode="json"))
    if strict and missing:
        raise InvalidInput(
            [Problem(None, f, "required by the Battery Pass v1.2 schema but empty", passport.battery_id) for f in missing],
            source="Battery Pass export",
        )
    if validate:
        validate_batterypass(doc)
    return doc
