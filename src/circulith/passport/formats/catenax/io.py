"""Read and write Catena-X battery_pass documents by walking :data:`.mapping.TABLE`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from circulith.errors import InvalidInput, Problem
from circulith.passport.formats.catenax.mapping import TABLE
from circulith.passport.formats.catenax.schema import SCHEMA_VERSION, SOURCE, validate_catenax
from circulith.passport.formats.report import Finding, FormatImport, kept_findings
from circulith.passport.formats.table import doc_path_of, dump, load, overlay, unheld
from circulith.passport.model import Passport, validation_problems

__all__ = ["FORMAT", "export_catenax", "read_catenax"]

FORMAT = "catenax"


def _version(doc: dict[str, Any]) -> str:
    spec = str(doc.get("specVersion") or "")
    return spec.rpartition(":")[2] if spec.startswith("urn:io.catenax.battery.battery_pass:") else "6.0 or earlier"


def _older_layout(doc: dict[str, Any]) -> str | None:
    """``"3.x"`` or ``"4.x"`` for documents in the layouts before 5.0.0 (release notes of the model), else None."""
    if {"electrochemicalProperties", "batteryIdentification"} & set(doc):
        return "3.x"
    if {"generalInformation", "physicalDimension", "chemicalMaterial"} & set(doc) or "left" in str(
            doc.get("metadata", {}).get("passportIdentifier", "")):
        return "4.x"
    return None


def _passport(data: dict[str, Any], warnings: list[str] | None) -> Passport:
    record_id = data.get("battery_id")
    try:
        return Passport.model_validate(data, context={"plausibility": warnings} if warnings is not None else None)
    except ValidationError as exc:
        problems = []
        for p in validation_problems(exc, record_id=str(record_id) if record_id is not None else None):
            named = p.field or p.reason.partition(": ")[0]
            where = doc_path_of(TABLE, named) if named and " " not in named else None
            problems.append(Problem(None, where or p.field or "$",
                                    f"{p.reason} (passport field {p.field})" if where and p.field else p.reason,
                                    p.record_id))
        raise InvalidInput(problems, source=SOURCE) from None


def _json(passport: Passport) -> dict[str, Any]:
    data = passport.model_dump(mode="json")
    data.pop("received", None)
    return data


def read_catenax(doc: dict[str, Any], *, validate: bool = True) -> FormatImport:
    """Read a Catena-X battery_pass document: the passport, and every value it could not hold.

    Parameters
    ----------
    doc : dict
        The document.
    validate : bool
        Validate against the 6.1.0 schema first.

    Raises
    ------
    InvalidInput
        Schema violations (``validate``), or values that make an invalid passport (each naming
        the document's JSON path).
    """
    if not isinstance(doc, dict):
        raise InvalidInput(Problem(None, "$", f"a Catena-X battery_pass document is a JSON object, got "
                                   f"{type(doc).__name__}"), source=SOURCE)
    older = _older_layout(doc)
    if older:
        raise InvalidInput(Problem(None, "$", f"this is the Catena-X battery_pass {older} layout; circulith reads "
                                   "5.x and 6.x (convert the document to 6.x first)"), source=SOURCE)
    if validate:
        validate_catenax(doc)
    version = _version(doc)
    warnings: list[str] = []
    data = load(TABLE, doc)
    passport = _passport({**data, "received": {"format": FORMAT, "version": version, "document": doc}}, warnings)
    then, _ = dump(TABLE, _json(passport))
    findings = [*kept_findings(unheld(doc, then)),
                *(Finding(kind="plausibility", path=w.partition(":")[0], reason=w) for w in warnings)]
    return FormatImport(format=FORMAT, version=version, passport=passport, findings=findings)


def export_catenax(passport: Passport, *, strict: bool = True, validate: bool = True) -> dict[str, Any]:
    """The passport as a Catena-X battery_pass 6.1.0 document.

    A passport read from a Catena-X document is written as that document with the values the
    passport changed since written anew. Any other passport is written from the table; the
    properties the schema requires that circulith holds no value for are refused by name.

    Raises
    ------
    InvalidInput
        Missing required values (strict) or schema violations (validate).
    """
    now, missing = dump(TABLE, _json(passport))
    received = passport.received
    if received is not None and received.format == FORMAT:
        then_data = load(TABLE, received.document)
        then_passport = _passport({**then_data, "received": received.model_dump()}, [])
        then, _ = dump(TABLE, _json(then_passport))
        doc = overlay(TABLE, received.document, now, then)
    else:
        doc = now
        if strict and missing:
            raise InvalidInput(
                [Problem(None, f, f"required by Catena-X battery_pass {SCHEMA_VERSION} but empty", passport.battery_id)
                 for f in missing],
                source="Catena-X battery_pass export",
            )
    if validate:
        try:
            validate_catenax(doc)
        except InvalidInput as exc:
            raise InvalidInput(
                [Problem(None, p.field, f"{p.reason} (circulith holds no value for it)", passport.battery_id)
                 for p in exc.problems],
                source="Catena-X battery_pass export",
            ) from None
    return doc
