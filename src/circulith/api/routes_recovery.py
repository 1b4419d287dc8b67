"""API routes of recovery: route runs and prices, plant lots, compliance reports, China traceability.

Routes parse and format; the services in :mod:`circulith.services.recovery_runs`,
:mod:`circulith.services.lot_reports`, :mod:`circulith.services.compliance` and
:mod:`circulith.services.traceability` decide who may do what. The response models are the services'.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from circulith.api.deps import CurrentPrincipal, engine_of, run
from circulith.api.errors import ERROR_RESPONSES
from circulith.recovery.compliance import CountingRules
from circulith.recovery.lots import lot_from_payload
from circulith.services import compliance as comp
from circulith.services import lot_custody as custody
from circulith.services import lot_reports, recovery_runs, traceability
from circulith.services import recycled_content as rc
from circulith.services.compliance import PlantComplianceReport, PlantOut
from circulith.services.lot_custody import LotCustody
from circulith.services.lot_reports import LotReport, TraceReport
from circulith.services.recovery import RecordReport, record_lots_as
from circulith.services.recovery_runs import PassportPrice, RecoveryRun, RouteComparison, ValueMatrix
from circulith.services.recycled_content import AllocationIn, AllocationOut, TargetRecycledContent
from circulith.services.traceability import TraceabilityReport

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

Chemistry = Literal["NMC111", "NMC532", "NMC622", "NMC811", "NCA", "LFP", "LMO", "LTO", "NaIon"]
Form = Literal["cell", "module", "pack", "black_mass"]
RouteName = Literal["pyro", "hydro", "direct", "black_mass"]
Multiplier = Annotated[float, Query(gt=0, le=10, description="Scales Al, Co, Cu, Li2CO3, Mn, Ni prices.")]
PriceDate = Annotated[date | None, Query(description="Prices in effect on this date (default: latest).")]
Year = Annotated[int, Query(ge=2000, le=2100)]


class RecoveryCompareIn(BaseModel):
    """A lot to run through every route, under a price scenario."""

    model_config = ConfigDict(extra="forbid")

    chemistry: Chemistry
    form: Form = "pack"
    mass_kg: float = Field(1000.0, gt=0, le=1e9, description="Input mass [kg].")
    price_date: date | None = Field(None, description="Prices in effect on this date (default: latest).")
    metal_price_multiplier: float = Field(1.0, gt=0, le=10, description="Scales Al, Co, Cu, Li2CO3, Mn, Ni prices.")


class RecoveryRunIn(RecoveryCompareIn):
    """A lot to run through one route."""

    route: RouteName


# ---------------------------------------------------------------- recovery and prices


@router.post("/recovery/run", response_model=RecoveryRun, tags=["recovery"])
def recovery_run(principal: CurrentPrincipal, body: RecoveryRunIn) -> RecoveryRun:
    """Run a lot through one route: products, recoveries, money, energy, emissions, EU recovery check."""
    return recovery_runs.recovery_run(principal, chemistry=body.chemistry, form=body.form, mass_kg=body.mass_kg,
                                      route=body.route, price_date=body.price_date,
                                      metal_price_multiplier=body.metal_price_multiplier)


@router.post("/recovery/compare", response_model=RouteComparison, tags=["recovery"])
def recovery_compare(principal: CurrentPrincipal, body: RecoveryCompareIn) -> RouteComparison:
    """Every route side by side for one chemistry, form and mass."""
    return recovery_runs.recovery_compare(principal, chemistry=body.chemistry, form=body.form, mass_kg=body.mass_kg,
                                          price_date=body.price_date,
                                          metal_price_multiplier=body.metal_price_multiplier)


@router.get("/recovery/values", response_model=ValueMatrix, tags=["recovery"])
def recovery_values(principal: CurrentPrincipal, form: Annotated[Form, Query()] = "pack",
                    price_date: PriceDate = None, metal_price_multiplier: Multiplier = 1.0) -> ValueMatrix:
    """Net value of every route per chemistry [USD/t] under a price scenario."""
    return recovery_runs.value_matrix(principal, form=form, price_date=price_date,
                                      metal_price_multiplier=metal_price_multiplier)


@router.get("/passports/{identifier:path}/price", response_model=PassportPrice, tags=["recovery"])
def price_passport(
    request: Request, principal: CurrentPrincipal, identifier: str, price_date: PriceDate = None,
    metal_price_multiplier: Multiplier = 1.0,
    logistics_usd_per_kg: Annotated[float, Query(ge=0, le=1000, description="Collection and transport [USD/kg].")] = 0.0,
    margin: Annotated[float, Query(ge=0, lt=1, description="Recycler margin, fraction of revenue.")] = 0.0,
) -> PassportPrice:
    """Price a battery you may see beyond the public view (custody, maker, grant, authorities)."""
    return run(request, recovery_runs.price_passport, principal, identifier, price_date=price_date,
               metal_price_multiplier=metal_price_multiplier, logistics_usd_per_kg=logistics_usd_per_kg,
               margin_fraction=margin)


# ---------------------------------------------------------------- plant lots


@router.get("/lots/{lot_id}", response_model=LotReport, tags=["recovery"])
def lot_show(request: Request, principal: CurrentPrincipal, lot_id: str) -> LotReport:
    """A recorded lot: document, sources, products made from it, batteries, yields and mass balance."""
    return lot_reports.lot_report(engine_of(request), principal, lot_id[:200])


@router.get("/lots/{lot_id}/trace", response_model=TraceReport, tags=["recovery"])
def lot_trace(request: Request, principal: CurrentPrincipal, lot_id: str) -> TraceReport:
    """The batteries behind a lot and the lot path."""
    return lot_reports.trace_report(engine_of(request), principal, lot_id[:200])


class LotsIn(BaseModel):
    """Lots to record, sources before the lots made from them (payloads as ``circulith recovery lot record``)."""

    model_config = ConfigDict(extra="forbid")

    lots: list[dict[str, object]] = Field(min_length=1, max_length=10_000)
    close: bool = Field(False, description="Close (recycled) every battery traced to these product lots.")


class ShipmentIn(BaseModel):
    """A lot shipped to another organisation."""

    model_config = ConfigDict(extra="forbid")

    to_org_id: str = Field(min_length=1, max_length=120)
    shipped_on: date


class ReceiptIn(BaseModel):
    """A lot received."""

    model_config = ConfigDict(extra="forbid")

    received_on: date


@router.post("/lots", response_model=RecordReport, tags=["recovery"])
def lots_record(request: Request, principal: CurrentPrincipal, body: LotsIn) -> RecordReport:
    """Record lots as your organisation: ledger events on every battery they trace to, all or nothing."""
    lots = [lot_from_payload(p) for p in body.lots]
    return record_lots_as(engine_of(request), principal, lots, close=body.close)


@router.get("/lots/{lot_id}/custody", response_model=LotCustody, tags=["recovery"])
def lot_custody(request: Request, principal: CurrentPrincipal, lot_id: str) -> LotCustody:
    """Who holds a lot and its recorded shipments and receipts."""
    return custody.lot_custody(engine_of(request), principal, lot_id[:200])


@router.post("/lots/{lot_id}/shipment", response_model=LotCustody, tags=["recovery"])
def lot_ship(request: Request, principal: CurrentPrincipal, lot_id: str, body: ShipmentIn) -> LotCustody:
    """Record the shipment of a lot you hold to another organisation."""
    return custody.ship_lot(engine_of(request), principal, lot_id[:200], body.to_org_id, body.shipped_on)


@router.post("/lots/{lot_id}/receipt", response_model=LotCustody, tags=["recovery"])
def lot_receive(request: Request, principal: CurrentPrincipal, lot_id: str, body: ReceiptIn) -> LotCustody:
    """Record the receipt of a lot shipped to you."""
    return custody.receive_lot(engine_of(request), principal, lot_id[:200], body.received_on)


# ---------------------------------------------------------------- compliance


@router.get("/compliance/plants", response_model=list[PlantOut], tags=["compliance"])
def compliance_plants(request: Request, principal: CurrentPrincipal) -> list[PlantOut]:
    """Plants with lot records you may report on (authorities and the Commission: all; others: their own)."""
    return run(request, comp.compliance_plants, principal)


@router.get("/compliance/traceability", response_model=TraceabilityReport, tags=["compliance"])
def traceability_report(
    request: Request, principal: CurrentPrincipal, year: Year,
    org_id: Annotated[str | None, Query(max_length=120)] = None,
    region: Annotated[str | None, Query(max_length=40)] = None, as_of: date | None = None,
    offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=traceability.MAX_PAGE)] = 1000,
) -> TraceabilityReport:
    """China-bound traceability events with their upload deadlines (authorities: all; operators: their own)."""
    return run(request, traceability.traceability_report, principal, year, org_id=org_id, region=region,
               as_of=as_of, offset=offset, limit=limit)


@router.post("/compliance/traceability/submissions", response_model=traceability.SubmissionOut,
             tags=["compliance"])
def traceability_submit(request: Request, principal: CurrentPrincipal,
                        body: traceability.SubmissionIn) -> traceability.SubmissionOut:
    """Record an upload of your organisation's events to the national traceability platform."""
    return run(request, traceability.submit_traceability, principal, body)


@router.get("/compliance/traceability/late", response_model=traceability.LateReport, tags=["compliance"])
def traceability_late(request: Request, principal: CurrentPrincipal, year: Year, as_of: date | None = None,
                      region: Annotated[str | None, Query(max_length=40)] = None) -> traceability.LateReport:
    """Every operator's record for a year: events due, reported on time or late, overdue (authorities)."""
    return run(request, traceability.late_report, principal, year, as_of=as_of, region=region)


ExcludedElement = Literal["C", "P", "F", "O", "Fe", "Al", "Ti", "Na"]


def _rules(exclude_element: list[ExcludedElement] | None, no_graphite: bool,
           no_dismantled_components: bool) -> CountingRules:
    return CountingRules(include_dismantled_components=not no_dismantled_components, count_graphite=not no_graphite,
                         excluded_elements=frozenset(exclude_element or []))


@router.get("/compliance/{plant_id}", response_model=PlantComplianceReport, tags=["compliance"])
def compliance(
    request: Request, principal: CurrentPrincipal, plant_id: str, year: Year,
    exclude_element: Annotated[list[ExcludedElement] | None, Query(
        description="Substance left out of input and output (Delegated Regulation (EU) 2025/606).")] = None,
    no_graphite: Annotated[bool, Query(description="Do not count recovered graphite.")] = False,
    no_dismantled_components: Annotated[bool, Query(description="Leave dismantled components out of the input.")] = False,
    hardware_kg: Annotated[float, Query(ge=0, le=1e12, description="Dismantled components in the input [kg].")] = 0.0,
) -> PlantComplianceReport:
    """A plant's compliance report for a year, with its method, boundary options and evidence (authorities, the
    Commission, the plant's own organisation)."""
    return run(request, comp.compliance, principal, plant_id[:120], year,
               rules=_rules(exclude_element, no_graphite, no_dismantled_components), hardware_kg=hardware_kg)


@router.get("/compliance/{plant_id}/evidence.csv", tags=["compliance"], response_class=Response)
def compliance_evidence(request: Request, principal: CurrentPrincipal, plant_id: str, year: Year) -> Response:
    """The lots behind a plant's compliance figures, as CSV (one row per lot)."""
    rep = run(request, comp.compliance, principal, plant_id[:120], year)
    return Response(comp.evidence_csv(rep), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="evidence-{year}.csv"'})


@router.get("/compliance/{plant_id}/batteries.csv", tags=["compliance"], response_class=Response)
def compliance_batteries(request: Request, principal: CurrentPrincipal, plant_id: str, year: Year) -> Response:
    """The battery identifiers behind a plant's compliance figures, as CSV (input lot, battery, passport)."""
    rows = run(request, comp.compliance_batteries, principal, plant_id[:120], year)
    return Response(comp.batteries_csv(rows), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="batteries-{year}.csv"'})


# ---------------------------------------------------------------- recycled content (Art. 8)


@router.post("/recycled-content/allocations", response_model=AllocationOut, tags=["compliance"])
def allocate(request: Request, principal: CurrentPrincipal, body: AllocationIn) -> AllocationOut:
    """Reserve recycled kilograms of a product lot you hold for a passport or batch (mass balance), once."""
    return run(request, rc.allocate_to_target, principal, body)


@router.get("/recycled-content/{target:path}", response_model=TargetRecycledContent, tags=["compliance"])
def recycled_content_of(request: Request, principal: CurrentPrincipal, target: str) -> TargetRecycledContent:
    """A passport's or batch's recycled-content shares from its recorded allocations (post-/pre-consumer)."""
    return run(request, rc.recycled_content_of, principal, target[:300])
