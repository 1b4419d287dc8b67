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
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.passport.formats.registry import EXPORTERS, not_written, read_documents, sniff, write_document
from circulith.passport.formats.report import Finding
from circulith.passport.model import Passport, battery_key
from circulith.services.platform import _audiences, _log
from circulith.store.models import Battery
from circulith.store.platform_repo import battery_by_identifier
from circulith.store.registry import register_passports, stored_passport

__all__ = [
    "FormatImportReport",
    "ImportedPassport",
    "PassportExport",
    "detect_file_format",
    "export_passport",
    "export_passport_as_operator",
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


def _export(session: Session, identifier: str, fmt: str) -> tuple[Battery, PassportExport]:
    if fmt not in EXPORTERS:
        raise InvalidInput(Problem(None, "format", f"unknown export format '{fmt}' (use {', '.join(EXPORTERS)})"))
    battery = battery_by_identifier(session, battery_key(identifier))
    if battery is None:
        raise NotFound(f"no battery with identifier '{identifier}'")
    passport = stored_passport(battery)
    return battery, PassportExport(battery_id=passport.battery_id, format=fmt,
                                   document=write_document(passport, fmt), not_written=not_written(passport, fmt))


def export_passport(session: Session, principal: Principal, identifier: str, *, fmt: str) -> PassportExport:
    """The complete passport of one battery as a document of ``fmt`` (every access level in it).

    Only the battery's manufacturer holds every attribute of the passport it supplied, so only it
    may export the complete document; audiences read :func:`circulith.passport.attributes.view`.
    The export is logged as a restricted read.

    Raises
    ------
    AccessDenied
        The principal is not the battery's manufacturer.
    NotFound
        No battery carries ``identifier``.
    InvalidInput
        An unknown format, or values the format requires that the passport lacks.
    """
    if not principal.authenticated:
        raise AccessDenied("log in or present an API key to export a passport")
    battery, out = _export(session, identifier, fmt)
    if not (principal.role in MAKER_ROLES and battery.manufacturer_id == principal.org_id):
        raise AccessDenied("the export is the complete passport (every access level): only the battery's "
                           "manufacturer may export it; read the passport for your audience instead")
    _log(session, principal, _audiences(session, principal, [battery]), f"export_passport:{fmt}")
    return out


def export_passport_as_operator(session: Session, identifier: str, *, fmt: str) -> PassportExport:
    """The complete passport as a document of ``fmt``, for the local command line (the database's holder)."""
    return _export(session, identifier, fmt)[1]
