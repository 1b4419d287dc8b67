"""Read a Battery Pass v1.2 document into a passport by walking :data:`.mapping.TABLE`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from circulith.errors import InvalidInput, Problem
from circulith.passport.formats.batterypass.mapping import EXTENSION, PRESENCE, TABLE
from circulith.passport.formats.batterypass.schema import validate_batterypass
from circulith.passport.formats.table import load
from circulith.passport.model import Passport, validation_problems

__all__ = ["import_batterypass", "passport_data"]


def passport_data(doc: dict[str, Any]) -> dict[str, Any]:
    """The passport fields a Battery Pass document holds (untrusted: validate them next).

    Parameters
    ----------
    doc : dict
        Aspect name -> payload, and optionally the ``circulith`` entry.

    Raises
    ------
    InvalidInput
        The document is not a JSON object.
    """
    if not isinstance(doc, dict):
        raise InvalidInput(Problem(None, "$", f"a Battery Pass document is a JSON object, got {type(doc).__name__}"),
                           source="Battery Pass document")
    data = load(TABLE, doc)
    ext = doc.get(EXTENSION)
    if isinstance(ext, dict):
        for name in PRESENCE:
            if ext.get(f"{name}_present") is False:
                data[name] = None
    return data


def import_batterypass(doc: dict[str, Any], *, validate: bool = True) -> Passport:
    """Build a :class:`Passport` from a Battery Pass v1.2 document (inverse of ``export_batterypass``).

    Fields the Battery Pass model cannot hold are read from the ``circulith`` entry when present.
    Derived values (fades, self-discharge evolution, power-to-energy ratio) are not read back.

    Parameters
    ----------
    doc : dict
        The document.
    validate : bool
        Validate every aspect against its schema first.

    Raises
    ------
    InvalidInput
        Schema violations (``validate``), or values that make an invalid passport.
    """
    if validate:
        validate_batterypass(doc)
    data = passport_data(doc)
    try:
        return Passport.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(
            validation_problems(exc, record_id=str(data.get("battery_id"))), source="Battery Pass import"
        ) from None
