"""Ledger transparency routes (``/api/v1/ledger``): signed tree heads, proofs and published keys.

Public: anyone may hold the registry to its earlier tree heads (RFC 9162's model of a log that
participants check only ever grows). Routes parse and format; :mod:`circulith.services.ledger_trust`
does the work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from circulith.api.deps import CurrentPrincipal, engine_of
from circulith.api.errors import ERROR_RESPONSES
from circulith.ledger.attestation import PassportBundle
from circulith.ledger.checkpoint import SignedTreeHead
from circulith.services import ledger_signatures as sig
from circulith.services import ledger_trust as svc
from circulith.services.ledger_signatures import PassportVerification

router = APIRouter(prefix="/api/v1/ledger", responses=ERROR_RESPONSES, tags=["ledger"])

Size = Annotated[int | None, Query(ge=0, le=2**62, description="Tree size [events] (default: the latest).")]


@router.get("/tree-head", response_model=SignedTreeHead)
async def tree_head(request: Request, principal: CurrentPrincipal, tree_size: Size = None) -> SignedTreeHead:
    """The latest signed tree head, or the one issued at ``tree_size``."""
    return await run_in_threadpool(svc.tree_head, engine_of(request), principal, tree_size)


@router.get("/tree-heads", response_model=list[SignedTreeHead])
async def tree_heads(request: Request, principal: CurrentPrincipal) -> list[SignedTreeHead]:
    """Every tree head ever issued, oldest first."""
    return await run_in_threadpool(svc.tree_head_history, engine_of(request), principal)


@router.get("/inclusion", response_model=svc.InclusionProofOut)
async def inclusion(request: Request, principal: CurrentPrincipal,
                    event_id: Annotated[str, Query(min_length=1, max_length=64)],
                    tree_size: Size = None) -> svc.InclusionProofOut:
    """RFC 9162 inclusion proof of an event in the tree of ``tree_size`` events."""
    return await run_in_threadpool(svc.inclusion_proof, engine_of(request), principal, event_id, tree_size)


@router.get("/consistency", response_model=svc.ConsistencyProofOut)
async def consistency(request: Request, principal: CurrentPrincipal,
                      first: Annotated[int, Query(ge=0, le=2**62)], second: Size = None) -> svc.ConsistencyProofOut:
    """RFC 9162 consistency proof that the tree of ``first`` events is a prefix of the tree of ``second``."""
    return await run_in_threadpool(svc.consistency_proof, engine_of(request), principal, first, second)


@router.get("/keys", response_model=list[svc.KeyOut])
async def keys(request: Request, principal: CurrentPrincipal,
               org_id: Annotated[str | None, Query(max_length=120)] = None) -> list[svc.KeyOut]:
    """Every organisation's published signing keys (JWK) with their history: rotation and revocation."""
    return await run_in_threadpool(svc.published_keys, engine_of(request), principal, org_id)


@router.get("/passports/{identifier:path}/verification", response_model=PassportVerification)
async def passport_verification(request: Request, principal: CurrentPrincipal, identifier: str) -> PassportVerification:
    """Whether the passport the registry shows verifies from its organisations' signed events (public)."""
    return await run_in_threadpool(sig.passport_verification, engine_of(request), principal, identifier)


@router.get("/passports/{identifier:path}/signed", response_model=PassportBundle)
async def signed_passport(request: Request, principal: CurrentPrincipal, identifier: str) -> PassportBundle:
    """The passport with the signed events it rests on and the keys, to verify offline (operator, authorities,
    the manufacturer and the custodian)."""
    return await run_in_threadpool(sig.export_signed_passport, engine_of(request), principal, identifier)
