"""Which format a passport document is in, and reading its bytes as text (UTF-8 or UTF-16).

Formats: ``circulith`` (circulith's own passport records), ``batterypass`` (Battery Pass data model
v1.0-v1.2.x: an object keyed by aspect names), ``catenax`` (Catena-X
``io.catenax.battery.battery_pass`` 3.x-6.x: an object with ``metadata``, ``identification`` and
``performance``), ``aas`` (an AAS v3 environment with ``submodels``, as JSON or AASX).
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from circulith.errors import InvalidInput, Problem

__all__ = ["FOREIGN_FORMATS", "FORMATS", "decode_text", "detect_format", "parse_json"]

FORMATS: tuple[str, ...] = ("circulith", "batterypass", "catenax", "aas")
FOREIGN_FORMATS: tuple[str, ...] = ("batterypass", "catenax", "aas")
_BATTERYPASS_KEYS = frozenset({
    "GeneralProductInformation", "CarbonFootprintForBatteries", "SupplyChainDueDiligence", "MaterialComposition",
    "Circularity", "Labeling", "PerformanceAndDurability",
})
_CATENAX_KEYS = frozenset({"metadata", "identification", "performance", "characteristics", "materials", "safety",
                           "sustainability", "commercial", "operation", "handling", "sources"})
#: Top-level properties of the Catena-X battery_pass 3.x layout (before the 4.0.0 SAMM redesign).
_CATENAX_3_KEYS = frozenset({"electrochemicalProperties", "batteryIdentification", "cellChemistry",
                             "stateOfBattery", "batteryCycleLife", "temperatureRangeIdleState"})


def decode_text(data: bytes, *, source: str) -> str:
    """The text of a document in UTF-8 or UTF-16 (with or without byte-order mark).

    Raises
    ------
    InvalidInput
        Neither UTF-8 nor UTF-16 text.
    """
    if data.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    elif len(data) >= 2 and data[0] == 0 and data[1] != 0:
        encodings = ["utf-16-be"]
    elif len(data) >= 2 and data[0] != 0 and data[1] == 0:
        encodings = ["utf-16-le"]
    else:
        encodings = ["utf-8"]
    for enc in encodings:
        try:
            return data.decode(enc)
        except UnicodeDecodeError as exc:
            raise InvalidInput(Problem(None, "$", f"not {enc.upper()} text: byte {exc.start} cannot be decoded"),
                               source=source) from None
    raise AssertionError("unreachable")


def parse_json(text: str, *, source: str) -> Any:
    """Parse JSON, naming line and column of a syntax error.

    ``NaN``/``Infinity``, integers beyond the parser's digit limit and nesting deeper than it follows are
    refused as malformed (RFC 8259 has no such numbers; nothing reads them back as the writer meant).
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(Problem(None, "$", f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"),
                           source=source) from None
    except ValueError as exc:  # NaN/Infinity, or an integer of thousands of digits
        raise InvalidInput(Problem(None, "$", f"malformed JSON: {exc}"), source=source) from None
    except RecursionError:
        raise InvalidInput(Problem(None, "$", "malformed JSON: nested too deeply"), source=source) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (RFC 8259)")


def detect_format(doc: Any, *, source: str) -> str:
    """The format of a parsed JSON document.

    Raises
    ------
    InvalidInput
        A document in none of :data:`FORMATS`.
    """
    if isinstance(doc, list):
        first = doc[0] if doc else None
        return (_foreign(first) if isinstance(first, dict) else None) or "circulith"
    if isinstance(doc, dict):
        found = _foreign(doc)
        if found:
            return found
        if len([v for v in doc.values() if isinstance(v, list)]) == 1 or "passport_id" in doc:
            return "circulith"
    aspect = _bare_aspect(doc) if isinstance(doc, dict) else None
    if aspect is not None:
        raise InvalidInput(
            Problem(None, "$", f"this is one Battery Pass aspect payload ({aspect}); a passport needs the seven "
                    f"aspects in one object keyed by aspect name ({{\"{aspect}\": {{...}}, ...}})"),
            source=source,
        )
    kind = type(doc).__name__ if not isinstance(doc, dict) else f"an object with keys {', '.join(sorted(doc)[:6])}"
    raise InvalidInput(
        Problem(None, "$", f"not a passport document of a known format ({', '.join(FORMATS)}): got {kind}"),
        source=source,
    )


def _foreign(doc: dict[str, Any]) -> str | None:
    keys = set(doc)
    if keys & _BATTERYPASS_KEYS:
        return "batterypass"
    if "submodels" in keys or "assetAdministrationShells" in keys or doc.get("modelType") == "Submodel":
        return "aas"
    if {"metadata", "identification"} <= keys or len(keys & _CATENAX_KEYS) >= 3 or len(keys & _CATENAX_3_KEYS) >= 2:
        return "catenax"
    return None


def _bare_aspect(doc: dict[str, Any]) -> str | None:
    """The Battery Pass aspect whose schema holds every top-level key of ``doc`` (at least two), or None."""
    from circulith.passport.formats.batterypass.schema import ASPECTS, read_batterypass_schema

    keys = set(doc)
    for aspect in ASPECTS:
        props = set(read_batterypass_schema(aspect).get("properties") or {})
        if len(keys) >= 2 and keys <= props:
            return aspect
    return None
