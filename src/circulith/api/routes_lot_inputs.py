"""API route drafting an input lot from a consignment or battery identifiers (the CLI's ``recovery lot plan``)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from circulith.api.deps import CurrentPrincipal, run
from circulith.api.errors import ERROR_RESPONSES
from circulith.services.lot_inputs import InputLotDraft, draft_input_lot

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


class InputLotDraftIn(BaseModel):
    """Which batteries make the lot: a consignment or identifiers (exactly one)."""

    model_config = ConfigDict(extra="forbid")

    lot_id: str = Field(min_length=1, max_length=200)
    plant_id: str = Field(min_length=1, max_length=120, description="ORG or ORG:site of the caller's organisation.")
    received_on: date
    consignment_id: str | None = Field(None, max_length=200)
    battery_ids: list[str] = Field(default_factory=list, max_length=10_000)
    with_plan: bool = False
    route: Literal["hydro", "pyro", "direct"] = "hydro"
    refiner: str | None = Field(None, max_length=120, description="The organisation that refines the black mass "
                                "elsewhere (its lots are drafted at its plant, and the black mass can be shipped).")


@router.post("/lots/input-drafts", response_model=InputLotDraft, tags=["recovery"])
def input_lot_draft(request: Request, principal: CurrentPrincipal, body: InputLotDraftIn) -> InputLotDraft:
    """Draft an input lot of the caller's batteries, chemistry, form and mass from their passports (nothing written).

    Post ``[input_lot, *planned]`` to ``/api/v1/lots`` to record it.
    """
    return run(request, draft_input_lot, principal, lot_id=body.lot_id, plant_id=body.plant_id,
               received_on=body.received_on, battery_ids=body.battery_ids, consignment_id=body.consignment_id,
               with_plan=body.with_plan, route=body.route, refiner=body.refiner)
