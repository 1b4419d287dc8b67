"""Request bodies of the API, and the response models it serves.

Response models of the core use cases are the services' own models (re-exported here by name); request
bodies stay here, separate from the storage models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from circulith.passport.model import Passport

# Response models that are the services' own (re-exported by name for the routes).
from circulith.services.background import JobOut as JobOut
from circulith.services.credentials import ApiKeyOut as ApiKeyOut
from circulith.services.credentials import MeOut as MeOut
from circulith.services.fleet import FleetOut as FleetOut
from circulith.services.fleet import LedgerOut as LedgerOut
from circulith.services.passports import CreatedOut as CreatedOut
from circulith.services.passports import HistoryOut as HistoryOut
from circulith.services.passports import LineageOut as LineageOut
from circulith.services.passports import PassportOut as PassportOut
from circulith.services.passports import PassportPage as PassportPage
from circulith.services.passports import ResolveOut as ResolveOut


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemOut(BaseModel):
    """One problem with the request."""

    field: str | None = None
    reason: str
    row: int | None = None
    record_id: str | None = None


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a message, the offending field."""

    code: str
    message: str
    field: str | None = None
    problems: list[ProblemOut] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    error: ErrorDetail


class BulkPassportsIn(_In):
    """Passports to register in one all-or-nothing request."""

    passports: list[Passport] = Field(min_length=1, max_length=500)


class ApiKeyIn(_In):
    """A new API key for the caller's organisation."""

    name: str = Field(min_length=1, max_length=120)
    scopes: list[Literal["read", "write", "admin"]] = Field(min_length=1, max_length=3)
    valid_days: int = Field(30, ge=1, le=365)


class LoginIn(_In):
    """E-mail and password."""

    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)


# ---------------------------------------------------------------- operations: recovery, planning, jobs

Chemistry = Literal["NMC111", "NMC532", "NMC622", "NMC811", "NCA", "LFP", "LMO", "LTO", "NaIon"]
Form = Literal["cell", "module", "pack", "black_mass"]


class GradeJobIn(_In):
    """Grade the registry in the background."""

    chemistry: Chemistry | None = None
    application: str | None = Field(None, max_length=40)

