"""Passport formats through the API: import foreign passport documents, export a passport in a format."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from circulith.api.deps import CurrentPrincipal, run
from circulith.api.errors import ERROR_RESPONSES
from circulith.services import passport_formats as svc

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["formats"])

ImportFormat = Literal["auto", "batterypass", "catenax", "aas"]
ExportFormat = Literal["batterypass", "catenax", "aas"]


@router.post("/imports/passports", response_model=svc.FormatImportReport, status_code=201,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "object"}},
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def import_passports(
    request: Request,
    principal: CurrentPrincipal,
    format: Annotated[ImportFormat, Query(description="Format of the documents; auto detects it.")] = "auto",
    validate: Annotated[bool, Query(description="Validate each document against its format's schema.")] = True,
) -> svc.FormatImportReport:
    """Register the passports of foreign documents (the request body: one document or a JSON array of them,
    UTF-8 or UTF-16), all or nothing; per passport, the values kept as received and the plausibility warnings."""
    data = await request.body()
    return await run_in_threadpool(run, request, svc.import_passport_documents, principal, data, fmt=format,
                                   source="request body", validate=validate)


@router.get("/exports/{format}/{identifier:path}", response_model=svc.PassportExport)
def export_passport(request: Request, principal: CurrentPrincipal, format: ExportFormat,
                    identifier: str) -> svc.PassportExport:
    """The complete passport behind IDENTIFIER as a document of FORMAT (the battery's manufacturer only)."""
    return run(request, svc.export_passport, principal, identifier, fmt=format)
