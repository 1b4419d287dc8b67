"""One import/export layer over every passport format: detection, reading many documents, writing one.

:func:`read_documents` turns the bytes of a file (UTF-8 or UTF-16; one document, or a JSON array of
documents) into :class:`~circulith.passport.formats.report.FormatImport` results; :func:`write_document`
writes a passport in a format. Every refusal is one :class:`~circulith.errors.InvalidInput` whose
message names the format, the JSON path and the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from circulith.errors import InvalidInput, Problem
from circulith.passport.formats.aas import export_aas, read_aas, read_aasx
from circulith.passport.formats.batterypass import export_batterypass
from circulith.passport.formats.batterypass.importing import read_batterypass
from circulith.passport.formats.catenax import export_catenax, read_catenax
from circulith.passport.formats.detect import FOREIGN_FORMATS, decode_text, detect_format, parse_json
from circulith.passport.formats.report import FormatImport
from circulith.passport.formats.table import Rule, unwritten
from circulith.passport.model import Passport

__all__ = ["EXPORTERS", "FORMAT_NAMES", "READERS", "TABLES", "not_written", "read_documents", "sniff",
           "write_document"]

Reader = Callable[..., FormatImport]
Writer = Callable[..., dict[str, Any]]

#: Format -> how its documents are named in messages.
FORMAT_NAMES: dict[str, str] = {
    "circulith": "circulith passport records",
    "batterypass": "Battery Pass document",
    "catenax": "Catena-X battery_pass document",
    "aas": "AAS environment (IDTA 02035)",
}
READERS: dict[str, Reader] = {"batterypass": read_batterypass, "catenax": read_catenax, "aas": read_aas}
EXPORTERS: dict[str, Writer] = {"batterypass": export_batterypass, "catenax": export_catenax, "aas": export_aas}


def sniff(data: bytes, *, source: str) -> tuple[str, Any]:
    """The format of a file's content and its parsed JSON (None for a non-JSON file such as AASX).

    Raises
    ------
    InvalidInput
        Not UTF-8/UTF-16 JSON, or JSON of no known format.
    """
    if data[:2] == b"PK":
        return "aas", None  # an AASX package is a ZIP (OPC) file
    text = decode_text(data, source=source)
    stripped = text.lstrip()
    if stripped[:1] == "{" or stripped[:1] == "[":
        doc = parse_json(text, source=source)
        return detect_format(doc, source=source), doc
    return "circulith", None  # CSV or JSON Lines records


def read_documents(data: bytes, *, fmt: str = "auto", source: str, validate: bool = True) -> list[FormatImport]:
    """Read every foreign passport document of a file.

    Parameters
    ----------
    data : bytes
        The file's content.
    fmt : str
        ``auto`` or one of :data:`FOREIGN_FORMATS`.
    source : str
        Name of the input, for messages.
    validate : bool
        Validate against the format's schema first.

    Raises
    ------
    InvalidInput
        An unknown or mismatching format, or a refused document (naming the format, path and reason).
    """
    found, doc = sniff(data, source=source)
    kind = found if fmt == "auto" else fmt
    if kind not in FOREIGN_FORMATS:
        raise InvalidInput(Problem(None, "$", f"format '{kind}' is not a foreign passport format "
                                   f"(use {', '.join(FOREIGN_FORMATS)})"), source=source)
    if fmt != "auto" and found != fmt:
        raise InvalidInput(Problem(None, "$", f"--format {fmt} given, but the document looks like {FORMAT_NAMES[found]}"),
                           source=source)
    reader = READERS.get(kind)
    if reader is None:
        raise InvalidInput(Problem(None, "$", f"reading {FORMAT_NAMES[kind]} is not supported by this version"),
                           source=source)
    if kind == "aas" and doc is None:
        try:
            docs: list[Any] = read_aasx(data)
        except InvalidInput as exc:
            raise InvalidInput(exc.problems, source=f"{source}: {FORMAT_NAMES[kind]}") from None
    else:
        docs = doc if isinstance(doc, list) else [doc]
    out = []
    for n, one in enumerate(docs, start=1):
        try:
            out.append(reader(one, validate=validate))
        except InvalidInput as exc:
            where = f"{source}, document {n}" if len(docs) > 1 else source
            raise InvalidInput(exc.problems, source=f"{where}: {FORMAT_NAMES[kind]}") from None
    return out


def _tables() -> dict[str, tuple[Rule, ...]]:
    from circulith.passport.formats.aas.mapping import TABLE as AAS
    from circulith.passport.formats.batterypass.mapping import TABLE as BATTERYPASS
    from circulith.passport.formats.catenax.mapping import TABLE as CATENAX

    return {"batterypass": BATTERYPASS, "catenax": CATENAX, "aas": AAS}


TABLES: dict[str, tuple[Rule, ...]] = _tables()


def not_written(passport: Passport, fmt: str) -> list[str]:
    """Passport fields with a value that the format has no place for (an export of ``fmt`` leaves them out)."""
    data = passport.model_dump(mode="json")
    data.pop("received", None)
    return unwritten(TABLES[fmt], data)


def write_document(passport: Passport, fmt: str) -> dict[str, Any]:
    """The passport as a document of ``fmt`` (validated against the format's schema).

    Raises
    ------
    InvalidInput
        An unknown format, or values the format requires but the passport lacks.
    """
    writer = EXPORTERS.get(fmt)
    if writer is None:
        raise InvalidInput(Problem(None, "format", f"unknown export format '{fmt}' (use {', '.join(EXPORTERS)})"))
    return writer(passport)
