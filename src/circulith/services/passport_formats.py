"""Passport formats in and out: import foreign passport documents, export a passport in a format.

One service per use case, shared by the CLI and the API:

- :func:`import_passport_documents`: register the passports of a file of Battery Pass (and other
  foreign-format) documents, all or nothing, reporting per passport what was kept as received and
  which plausibility checks failed.
- :func:`export_passport`: the complete passport of one battery as a document of a format.

Format detection, decoding (UTF-8 and UTF-16) and the mappings live in
:mod:`circulith.passport.formats`; this module adds access rules, transactions and the registry.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import MAKER_ROLES, Principal, Scope
from circulith.errors import InvalidInput, Problem
from circulith.passport.formats.registry import EXPORTERS, not_written, read_documents, sniff, write_document
from circulith.passport.formats.report import Finding
from circulith.passport.model import Passport
from circulith.services import passports
from circulith.store.registry import register_passports

__all__ = [
    "FormatImportReport",
    "ImportedPassport",
    "PassportExport",
    "detect_file_format",
    "export_passport",
    "import_passport_documents",
]


class ImportedPassport(BaseModel):
    """One passport of an import and what the import found in its document."""

    battery_id: str
    passport_id: str
    format: str
    version: str
    findings: list[Finding] = Field(default_factory=list)


class FormatImportReport(BaseModel):
    """Outcome of importing a file of foreign passport documents.

    Parameters
    ----------
    source : str
        Name of the input.
    format : str
        Format read.
    records : int
        Documents read.
    written, unchanged : int
        Passports registered now, and passports already registered with the same content.
    passports : list of ImportedPassport
        Per passport: identifiers and findings (values kept as received, plausibility warnings).
    """

    source: str
    format: str
    records: int
    written: int
    unchanged: int
    passports: list[ImportedPassport]


class PassportExport(BaseModel):
    """A passport written as a document of a format.

    Parameters
    ----------
    battery_id : str
        The battery.
    format : str
        Format written.
    document : dict
        The document.
    not_written : list of str
        Passport fields holding a value that the format has no place for (left out of the document).
    """

    battery_id: str
    format: str
    document: dict[str, Any]
    not_written: list[str] = Field(default_factory=list)


def detect_file_format(data: bytes, *, source: str) -> str:
    """The passport format of a file's content (``circulith``, ``batterypass``, ``catenax``, ``aas``)."""
    return sniff(data, source=source)[0]


def _check_may_register(principal: Principal, passports: list[Passport]) -> None:
    if principal.is_operator:
        return
    if not principal.authenticated:
        raise AccessDenied("log in or present an API key to register passports")
    if Scope.WRITE not in principal.scopes:
        raise AccessDenied("this credential lacks the 'write' scope")
    if principal.role not in MAKER_ROLES:
        raise AccessDenied("only battery makers, OEMs and the registry operator register passports")
    foreign = [Problem(i + 1, "manufacturer.id", f"'{p.manufacturer.id}' is not your organisation "
                       f"({principal.org_id}): register only batteries you make", p.battery_id)
               for i, p in enumerate(passports) if p.manufacturer.id != principal.org_id]
    if foreign:
        raise AccessDenied(str(InvalidInput(foreign, source="passports")))


def import_passport_documents(
    session: Session, principal: Principal, data: bytes, *, fmt: str = "auto", source: str, validate: bool = True
) -> FormatImportReport:
    """Register the passports of foreign-format documents, all or nothing.

    Parameters
    ----------
    session : Session
        Open session inside the caller's transaction.
    principal : Principal
        Who imports: the registry operator, or a maker registering its own batteries.
    data : bytes
        The file's content: one document or a JSON array of documents, UTF-8 or UTF-16.
    fmt : str
        ``auto`` (detect) or ``batterypass``, ``catenax``, ``aas``.
    source : str
        Name of the input, for messages.
    validate : bool
        Validate each document against its format's schema first.

    Raises
    ------
    InvalidInput
        A refused document: one message naming the format, the JSON path and the reason.
    AccessDenied
        The principal may not register these passports.
    """
    results = read_documents(data, fmt=fmt, source=source, validate=validate)
    passports = [r.passport for r in results]
    _check_may_register(principal, passports)
    registered = register_passports(session, passports, actor_org_id=principal.org_id or "")
    return FormatImportReport(
        source=source,
        format=results[0].format if results else fmt,
        records=len(results),
        written=registered.created,
        unchanged=registered.unchanged,
        passports=[ImportedPassport(battery_id=r.passport.battery_id, passport_id=r.passport.passport_id,
                                    format=r.format, version=r.version, findings=r.findings) for r in results],
    )


def export_passport(session: Session, principal: Principal, identifier: str, *, fmt: str) -> PassportExport:
    """The complete passport of one battery as a document of ``fmt`` (every access level in it).

    The access rule is :func:`circulith.services.passports.export_passport`'s: the complete passport
    goes to its manufacturer and to authorities only, and the export is logged as a restricted read.

    Raises
    ------
    AccessDenied
        The principal may not receive the complete passport.
    NotFound
        No battery carries ``identifier``.
    InvalidInput
        An unknown format, or values the format requires that the passport lacks.
    """
    if fmt not in EXPORTERS:
        raise InvalidInput(Problem(None, "format", f"unknown export format '{fmt}' (use {', '.join(EXPORTERS)})"))
    passport = passports.export_passport(session, principal, identifier)
    return PassportExport(battery_id=passport.battery_id, format=fmt,
                          document=write_document(passport, fmt), not_written=not_written(passport, fmt))
