"""Schema access for the Battery Pass data model v1.2: the shipped JSON Schemas and validation.

The schemas are the Battery Pass consortium's (CC BY 4.0), shipped unchanged in
``circulith/reference/batterypass/`` (see its ``NOTICE.md``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
import jsonschema_rs

from circulith.errors import InvalidInput, Problem

__all__ = ["ASPECTS", "FORMATS", "FORMAT_CHECKER", "compiled_validator", "read_batterypass_schema", "validate_aspect", "validate_batterypass"]

ASPECTS: tuple[str, ...] = (
    "GeneralProductInformation",
    "CarbonFootprintForBatteries",
    "SupplyChainDueDiligence",
    "MaterialComposition",
    "Circularity",
    "Labeling",
    "PerformanceAndDurability",
)


@cache
def read_batterypass_schema(aspect: str) -> dict[str, Any]:
    """The shipped JSON Schema of one Battery Pass v1.2 aspect.

    Parameters
    ----------
    aspect : str
        One of :data:`ASPECTS`.

    Raises
    ------
    InvalidInput
        Unknown aspect.
    """
    if aspect not in ASPECTS:
        raise InvalidInput(
            Problem(None, "aspect", f"unknown Battery Pass aspect {aspect!r}; known: {', '.join(ASPECTS)}")
        )
    path = files("circulith.reference").joinpath(f"batterypass/{aspect}.schema.json")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


@FORMAT_CHECKER.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


@cache
def _validator(aspect: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(read_batterypass_schema(aspect), format_checker=FORMAT_CHECKER)


def _never_raises(check: Callable[[object], bool]) -> Callable[[object], bool]:
    def safe(value: object) -> bool:
        try:
            return check(value)
        except ValueError:
            return False
    return safe


#: The format checks of :data:`FORMAT_CHECKER`, for the compiled validators.
FORMATS: dict[str, Callable[[object], bool]] = {"uri": _is_uri, "date-time": _never_raises(_is_date_time)}


@cache
def compiled_validator(schema_json: str) -> jsonschema_rs.Draft4Validator:
    """A compiled (Rust) Draft 4 validator of a schema, with the same format checks.

    Used as a fast path only: a document it accepts is valid; for one it refuses, the reference
    validator (:mod:`jsonschema`) gives the errors, so both must agree before anything is refused.
    """
    return jsonschema_rs.Draft4Validator(json.loads(schema_json), formats=FORMATS, validate_formats=True)


@cache
def _fast(aspect: str) -> jsonschema_rs.Draft4Validator:
    return compiled_validator(json.dumps(read_batterypass_schema(aspect)))


def validate_aspect(aspect: str, payload: Any) -> list[Problem]:
    """Problems of one aspect payload against its schema (empty when valid).

    Parameters
    ----------
    aspect : str
        One of :data:`ASPECTS`.
    payload : Any
        The aspect's payload, as parsed from JSON.

    Returns
    -------
    list of Problem
        One per violation; ``field`` is the dotted path ``aspect.property.index...``.
    """
    if _fast(aspect).is_valid(payload):
        return []
    errors = sorted(_validator(aspect).iter_errors(payload), key=lambda e: [str(p) for p in e.absolute_path])
    out = []
    for e in errors:
        where = ".".join([aspect, *(str(p) for p in e.absolute_path)])
        out.append(Problem(None, where, e.message if len(e.message) < 300 else e.message[:300] + "..."))
    return out


def validate_batterypass(doc: dict[str, Any], *, aspects: tuple[str, ...] | None = None) -> None:
    """Validate a Battery Pass document aspect by aspect.

    Parameters
    ----------
    doc : dict
        Aspect name -> payload (other keys, such as the ``circulith`` entry, are ignored).
    aspects : tuple of str or None
        Aspects that must be present and valid; all seven when None.

    Raises
    ------
    InvalidInput
        Every schema violation, and every missing aspect.
    """
    problems: list[Problem] = []
    for aspect in aspects or ASPECTS:
        if aspect not in doc:
            problems.append(Problem(None, aspect, "aspect missing"))
            continue
        problems += validate_aspect(aspect, doc[aspect])
    if problems:
        raise InvalidInput(problems, source="Battery Pass document")
