"""Read a Battery Pass v1.2 document into a passport by walking :data:`.mapping.TABLE`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from circulith.errors import InvalidInput, Problem
from circulith.passport.formats.batterypass.codecs import tolerated_bp_id
from circulith.passport.formats.batterypass.mapping import EXTENSION, PRESENCE, TABLE
from circulith.passport.formats.batterypass.schema import validate_batterypass
from circulith.passport.formats.report import Finding, FormatImport, kept_findings
from circulith.passport.formats.table import doc_path_of, dump, load, unheld
from circulith.passport.model import Passport, validation_problems

__all__ = ["FORMAT", "VERSION", "import_batterypass", "passport_data", "passport_json", "read_batterypass",
           "validate_passport"]

FORMAT = "batterypass"
VERSION = "1.2"
SOURCE = "Battery Pass document"


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
                           source=SOURCE)
    data = load(TABLE, doc)
    ext = doc.get(EXTENSION)
    if isinstance(ext, dict):
        for name in PRESENCE:
            if ext.get(f"{name}_present") is False:
                data[name] = None
    return data


def _problems_at_doc_paths(exc: ValidationError, record_id: str | None) -> list[Problem]:
    out = []
    for p in validation_problems(exc, record_id=record_id):
        named = p.field or p.reason.partition(": ")[0]  # model-level reasons start with the field
        where = doc_path_of(TABLE, named) if named and " " not in named else None
        field = where or p.field or "$"
        reason = p.reason if where is None or not p.field else f"{p.reason} (passport field {p.field})"
        out.append(Problem(None, field, reason, record_id))
    return out


def validate_passport(data: dict[str, Any], warnings: list[str] | None = None) -> Passport:
    """A passport from what :func:`passport_data` read; problems name the document's places.

    Parameters
    ----------
    data : dict
        Passport fields.
    warnings : list of str or None
        When given, plausibility findings are appended here instead of refusing the passport.

    Raises
    ------
    InvalidInput
        Values that make an invalid passport.
    """
    record_id = data.get("battery_id")
    try:
        context = {"plausibility": warnings} if warnings is not None else None
        return Passport.model_validate(data, context=context)
    except ValidationError as exc:
        raise InvalidInput(
            _problems_at_doc_paths(exc, str(record_id) if record_id is not None else None), source=SOURCE
        ) from None


def read_batterypass(doc: dict[str, Any], *, validate: bool = True) -> FormatImport:
    """Read a Battery Pass document: the passport, and every value it could not hold.

    Values the passport does not hold exactly (a timestamp where the passport holds year and month,
    a second entry of one material, a web address) are reported as ``kept`` findings and the
    document is kept in :attr:`Passport.received`, so that :func:`export_batterypass` writes them
    back unchanged. Plausibility limits (engineering assumptions) give warnings, not refusals.

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
    doc = tolerated(doc)
    if validate:
        validate_batterypass(doc)
    data = passport_data(doc)
    own = validate_passport(data) if _is_own_export(doc) else None
    if own is not None:
        then, _ = dump(TABLE, own.model_dump(mode="json"))
        if not unheld(doc, then):
            return FormatImport(format=FORMAT, version=VERSION, passport=own)
    warnings: list[str] = []
    passport = validate_passport({**data, "received": _received(doc)}, warnings)
    then, _ = dump(TABLE, passport_json(passport))
    kept = kept_findings(unheld(doc, then))
    findings = [Finding(kind="plausibility", path=w.partition(":")[0], reason=w) for w in warnings]
    return FormatImport(format=FORMAT, version=VERSION, passport=passport, findings=[*kept, *findings])


def tolerated(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with what only a defect of the published model refuses written as the export writes it.

    A hyphenated ``urn:uuid`` passport identifier is read as its 32-digit form
    (:func:`.codecs.tolerated_bp_id`); the document is otherwise unchanged (a copy when changed).
    """
    general = doc.get("GeneralProductInformation") if isinstance(doc, dict) else None
    if not isinstance(general, dict):
        return doc
    bp_id = general.get("batteryPassportIdentifier")
    fixed = tolerated_bp_id(bp_id)
    if fixed == bp_id:
        return doc
    return {**doc, "GeneralProductInformation": {**general, "batteryPassportIdentifier": fixed}}


def _is_own_export(doc: dict[str, Any]) -> bool:
    ext = doc.get(EXTENSION)
    return isinstance(ext, dict) and str(ext.get("format", "")).startswith("circulith passport extension")


def passport_json(passport: Passport) -> dict[str, Any]:
    """The passport's JSON form without the received document (what the mapping table reads)."""
    data = passport.model_dump(mode="json")
    data.pop("received", None)
    return data


def _received(doc: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "document": doc}


def import_batterypass(doc: dict[str, Any], *, validate: bool = True) -> Passport:
    """Build a :class:`Passport` from a Battery Pass v1.2 document (inverse of ``export_batterypass``).

    Strict: plausibility findings refuse the passport. :func:`read_batterypass` reports them as
    warnings and says what the passport could not hold.

    Raises
    ------
    InvalidInput
        Schema violations (``validate``), or values that make an invalid passport.
    """
    doc = tolerated(doc)
    if validate:
        validate_batterypass(doc)
    data = passport_data(doc)
    passport = validate_passport(data)
    then, _ = dump(TABLE, passport.model_dump(mode="json"))
    if unheld(doc, then):
        return validate_passport({**data, "received": _received(doc)})
    return passport
