"""Passport formats on the command line: import foreign documents, export a passport in a format.

``circulith import passports FILE --format auto|circulith|batterypass|catenax|aas`` and
``circulith passport export ID --format batterypass|...`` call :func:`import_documents` and
:func:`export_document`; the logic is in :mod:`circulith.services.passport_formats`.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from circulith.cli.common import console, emit_json, err_console
from circulith.errors import InvalidInput, Problem
from circulith.passport.formats.detect import FOREIGN_FORMATS

__all__ = ["CIRCULITH_RECORD_FORMATS", "export_document", "foreign_format_of", "import_documents",
           "refuse_record_options"]

#: ``--format`` values that mean circulith's own records (the record encoding, or circulith itself).
CIRCULITH_RECORD_FORMATS: tuple[str, ...] = ("circulith", "csv", "json", "jsonl")
def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(Problem(None, "", "file not found"), source=str(file)) from None
    except OSError as exc:
        raise InvalidInput(Problem(None, "", f"cannot read the file: {exc.strerror}"), source=str(file)) from None


def foreign_format_of(file: Path, fmt: str | None) -> str | None:
    """The foreign format to import ``file`` as, or None for circulith's own records.

    Raises
    ------
    InvalidInput
        An unknown ``--format``.
    """
    if fmt in FOREIGN_FORMATS:
        return fmt
    if fmt in CIRCULITH_RECORD_FORMATS:
        return None
    if fmt not in (None, "auto"):
        known = ", ".join(("auto", *CIRCULITH_RECORD_FORMATS, *FOREIGN_FORMATS))
        raise InvalidInput(Problem(None, "--format", f"unknown format '{fmt}' (use {known})"))
    if file.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
        return None
    if file.suffix.lower() == ".aasx":
        return "aas"
    from circulith.services.passport_formats import detect_file_format

    found = detect_file_format(_read(file), source=str(file))
    return None if found == "circulith" else found


def refuse_record_options(*, skip_invalid: bool, rejects: Path | None) -> None:
    """Foreign documents import all or nothing: the record options do not apply to them.

    Raises
    ------
    InvalidInput
        ``--skip-invalid`` or ``--rejects`` given.
    """
    if skip_invalid or rejects is not None:
        raise InvalidInput(Problem(None, "--skip-invalid", "applies to circulith records only: foreign passport "
                                   "documents import all or nothing"))


def import_documents(file: Path, fmt: str, *, validate: bool, json_out: bool) -> None:
    """Register the passports of a file of foreign documents (all or nothing) and print the report."""
    from circulith.cli.common import call_service
    from circulith.services.passport_formats import import_passport_documents

    data = _read(file)
    report = call_service(import_passport_documents, data, fmt=fmt, source=str(file), validate=validate)
    if json_out:
        emit_json(report)
        return
    console.print(f"{report.source}: {report.records} {report.format} documents, {report.written} written, "
                  f"{report.unchanged} already recorded")
    for p in report.passports:
        kept = sum(1 for f in p.findings if f.kind == "kept")
        warned = [f for f in p.findings if f.kind == "plausibility"]
        console.print(f"  {p.battery_id}: {kept} values kept as received (not held by the passport)", highlight=False)
        for w in warned:
            console.print(f"  warning: {w.reason}", highlight=False)


def export_document(identifier: str, fmt: str, out: Path | None) -> None:
    """Write the complete passport behind IDENTIFIER as a document of ``fmt``."""
    from circulith.cli.common import call_service
    from circulith.services.passport_formats import export_passport

    export = call_service(export_passport, identifier, fmt=fmt)
    if export.not_written:
        err_console.print(f"note: the {fmt} format has no place for {len(export.not_written)} passport fields, "
                          f"left out: {', '.join(export.not_written)}", highlight=False, soft_wrap=True)
    if out and out.suffix.lower() == ".aasx":
        if fmt != "aas":
            raise InvalidInput(Problem(None, "--out", "an .aasx package holds an AAS environment: use --format aas"))
        from circulith.passport.formats.aas import write_aasx

        out.write_bytes(write_aasx(export.document))
        console.print(f"written {out}")
        return
    text = json.dumps(export.document, indent=2, ensure_ascii=False)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"written {out}")
    else:
        typer.echo(text)
