"""The shipped reference tables as a report cites them: name, version and SHA-256 of each (public)."""

from __future__ import annotations

from pydantic import BaseModel

from circulith.auth.policy import Principal
from circulith.reference.loader import catalogue


class ReferenceTableOut(BaseModel):
    """One shipped reference table: which file, which version, which bytes."""

    name: str
    version: str
    sha256: str
    size_bytes: int


def reference_tables(principal: Principal) -> list[ReferenceTableOut]:
    """Every shipped reference table with its version and digest (public: the tables are published data)."""
    del principal  # public information: any caller, logged in or not
    return [ReferenceTableOut(**t.as_dict()) for t in catalogue()]
