"""API route of the shipped reference data (``/api/v1/reference``): which tables, versions and digests."""

from __future__ import annotations

from fastapi import APIRouter

from circulith.api.deps import CurrentPrincipal
from circulith.api.errors import ERROR_RESPONSES
from circulith.services.reference_tables import ReferenceTableOut, reference_tables

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


@router.get("/reference", response_model=list[ReferenceTableOut], tags=["reference"])
def list_reference_tables(principal: CurrentPrincipal) -> list[ReferenceTableOut]:
    """Every shipped reference table with its version and SHA-256, so a report can cite the data behind it."""
    return reference_tables(principal)
