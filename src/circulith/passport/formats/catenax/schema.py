"""Schema access for Catena-X ``io.catenax.battery.battery_pass`` (6.1.0 schema shipped, CC BY 4.0)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema

from circulith.errors import InvalidInput, Problem
from circulith.passport.formats.batterypass.schema import FORMAT_CHECKER, compiled_validator

__all__ = ["SCHEMA_VERSION", "SPEC_VERSION", "read_catenax_schema", "validate_catenax"]

SCHEMA_VERSION = "6.1.0"
SPEC_VERSION = f"urn:io.catenax.battery.battery_pass:{SCHEMA_VERSION}"
SOURCE = "Catena-X battery_pass document"


@cache
def read_catenax_schema() -> dict[str, Any]:
    """The shipped JSON Schema of ``io.catenax.battery.battery_pass`` 6.1.0."""
    path = files("circulith.reference").joinpath(f"catenax/battery_pass-{SCHEMA_VERSION}.schema.json")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@cache
def _validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(read_catenax_schema(), format_checker=FORMAT_CHECKER)


@cache
def _fast() -> Any:
    return compiled_validator(json.dumps(read_catenax_schema()))


def validate_catenax(doc: Any, *, limit: int = 100) -> None:
    """Validate a Catena-X battery_pass document against the 6.1.0 schema.

    Raises
    ------
    InvalidInput
        Every violation (up to ``limit``), each naming its dotted JSON path.
    """
    if _fast().is_valid(doc):
        return
    errors = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])[:limit]
    if errors:
        raise InvalidInput(
            [Problem(None, ".".join(str(p) for p in e.absolute_path) or "$",
                     e.message if len(e.message) < 300 else e.message[:300] + "...") for e in errors],
            source=SOURCE,
        )
