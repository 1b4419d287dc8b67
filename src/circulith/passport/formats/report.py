"""What an import of a foreign passport document found: the passport, and every value it could not hold."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from circulith.passport.formats.table import MISSING
from circulith.passport.model import Passport

__all__ = ["Finding", "FormatImport", "kept_findings"]


class Finding(BaseModel):
    """One thing an import reports.

    Parameters
    ----------
    kind : {"kept", "plausibility"}
        ``kept``: the document holds a value the circulith passport does not hold exactly; the
        value is kept as received (in :attr:`Passport.received`) and written back on export.
        ``plausibility``: an engineering plausibility check failed (a warning, not a refusal).
        ``conformance``: a meta-model constraint the document breaks (a warning; AAS only).
    path : str
        Dotted place in the document (``kept``) or passport field (``plausibility``).
    reason : str
        What was found, in words.
    """

    kind: Literal["kept", "plausibility", "conformance"]
    path: str
    reason: str


class FormatImport(BaseModel):
    """A passport read from a foreign document.

    Parameters
    ----------
    format : str
        ``batterypass``, ``catenax`` or ``aas``.
    version : str
        Version of the format read.
    passport : Passport
        The passport (with the received document when it held values the passport does not).
    findings : list of Finding
        Values kept as received, and plausibility warnings.
    """

    format: str
    version: str
    passport: Passport
    findings: list[Finding] = Field(default_factory=list)


def _short(value: Any) -> str:
    text = "absent" if value is MISSING else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def kept_findings(unheld: list[tuple[str, Any, Any]]) -> list[Finding]:
    """Findings for the document values the passport does not hold exactly (see ``table.unheld``)."""
    out = []
    for path, value, written in unheld:
        if written is MISSING:
            reason = f"{_short(value)} has no place in the circulith passport; kept as received"
        else:
            reason = f"{_short(value)} is held as {_short(written)}; the received value is kept"
        out.append(Finding(kind="kept", path=path, reason=reason))
    return out
