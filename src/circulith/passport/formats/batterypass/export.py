"""Write a passport as a Battery Pass v1.2 document by walking :data:`.mapping.TABLE`."""

from __future__ import annotations

from typing import Any

from circulith.errors import InvalidInput, Problem
from circulith.passport.formats.batterypass.importing import (
    FORMAT,
    passport_data,
    passport_json,
    validate_passport,
)
from circulith.passport.formats.batterypass.mapping import EXTENSION, TABLE
from circulith.passport.formats.batterypass.schema import validate_batterypass
from circulith.passport.formats.table import dump, overlay
from circulith.passport.model import Passport

__all__ = ["export_batterypass"]


def export_batterypass(passport: Passport, *, strict: bool = True, validate: bool = True) -> dict[str, Any]:
    """The passport as a Battery Pass v1.2 document (seven aspects plus a ``circulith`` entry).

    A passport read from a Battery Pass document (it keeps the document in ``received``) is written
    as that document, with the values the passport has changed since written anew: no value the
    passport did not change is altered.

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
    now, missing = dump(TABLE, passport_json(passport))
    received = passport.received
    if received is not None and received.format == FORMAT:
        then_passport = validate_passport({**passport_data(received.document), "received": received.model_dump()})
        then, _ = dump(TABLE, passport_json(then_passport))
        doc = overlay(TABLE, received.document, now, then, own_entry=EXTENSION)
    else:
        doc = now
        if strict and missing:
            raise InvalidInput(
                [Problem(None, f, "required by the Battery Pass v1.2 schema but empty", passport.battery_id)
                 for f in missing],
                source="Battery Pass export",
            )
    if validate:
        validate_batterypass(doc)
    return doc
