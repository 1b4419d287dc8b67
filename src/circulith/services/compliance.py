"""A plant's compliance report for a year: the one computation the CLI, the API and the dashboard call.

The method (Regulation (EU) 2023/1542, Annex XII Parts B and C; Delegated Regulation (EU) 2025/606,
Annex: calculation and verification of the rates of recycling efficiency and recovery of materials):

* **calculation points**: the input fraction is measured where waste batteries enter the plant (its input
  lots); the output fractions where recycled materials leave the last step of the recycling process
  (product lots counted as recycling). Intermediate fractions (shred, black mass) are not outputs: a black
  mass sold to a refiner is followed to the refiner's products, which count for the plant whose input they
  came from, in proportion to the input mass upstream (the process may run across facilities);
* **which outputs count**: only battery-origin elements (reagent-derived mass such as sulphate, hydrate water
  and the carbonate carbon of lithium carbonate does not), never more of an element than entered;
* **boundary options** the act allows, stated in the report's ``counting_rules``: dismantled components in
  or out of the input, substances left out of input and output (e.g. carbon, phosphorus), graphite
  counted or not;
* **evidence**: every lot behind the figures (ID, plant, recording organisation, mass, element masses, the
  share counted) and the number of batteries behind the input lots.

Who reads it: authorities (notified bodies, market surveillance) and the Commission every plant; an
organisation the plants whose lots it recorded. Another organisation's plant is reported as unknown
(404, not 403), so that plant names do not leak.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from circulith.auth.policy import AUTHORITY_ROLES, Principal, Role, Scope
from circulith.errors import NotFound
from circulith.recovery.compliance import (
    Check,
    ComplianceReport,
    CountingRules,
    applicable_targets,
    compliance_report,
    upcoming_targets,
)
from circulith.recovery.lots import AnyLot, InputLot, ProductLot
from circulith.services.access_rules import require_scope
from circulith.store.lot_repo import (
    StoredLot,
    batteries_of,
    battery_summaries,
    downstream,
    get_lots,
    lot_period,
    plant_lots,
    upstream,
)

COMPLIANCE_READERS = AUTHORITY_ROLES | {Role.COMMISSION}
"""Who reads every plant's compliance report (besides the plant's own organisation)."""

METHOD = ("Regulation (EU) 2023/1542 Annex XII Parts B and C; Delegated Regulation (EU) 2025/606, Annex: input "
          "fraction at the plant's input lots, output fractions at the product lots counted as recycling (a "
          "refiner's products made from this plant's black mass counted for this plant by its share of the "
          "upstream input mass); battery-origin elements only, never more of an element than entered.")


class EvidenceLot(BaseModel):
    """A lot behind a compliance figure."""

    lot_id: str
    lot_type: str
    plant_id: str
    recorded_by: str
    period: dt.date
    mass_kg: float
    counted_share: float = Field(description="Share of the lot counted for this plant [fraction].")
    counts_as_recycling: bool | None = None
    element_kg: dict[str, float]
    batteries: int = Field(0, description="Batteries in the lot (input lots).")


class PlantComplianceReport(ComplianceReport):
    """A plant's compliance report with the method and the evidence behind every figure."""

    method: str
    battery_count: int
    evidence: list[EvidenceLot]


class PlantOut(BaseModel):
    """A plant with lot records the caller may report on."""

    plant_id: str
    org_id: str
    years: list[int]


def _may_report(principal: Principal, own: list[StoredLot]) -> bool:
    return principal.role in COMPLIANCE_READERS or any(s.actor_org_id == principal.org_id for s in own)


def compliance_plants(session: Session, principal: Principal) -> list[PlantOut]:
    """Plants with lot records the caller may report on: authorities and the Commission all, others their own."""
    require_scope(principal, Scope.READ)
    plants: dict[str, PlantOut] = {}
    for stored in plant_lots(session, None):
        if principal.role in COMPLIANCE_READERS or stored.actor_org_id == principal.org_id:
            p = plants.setdefault(stored.lot.plant_id, PlantOut(plant_id=stored.lot.plant_id,
                                                                org_id=stored.actor_org_id, years=[]))
            year = lot_period(stored.lot).year
            if year not in p.years:
                p.years.append(year)
    return [p.model_copy(update={"years": sorted(p.years)}) for _, p in sorted(plants.items())]


def _scaled(lot: AnyLot, plant_id: str, share: float) -> AnyLot:
    """A lot made elsewhere relabelled to ``plant_id`` and scaled to ``share`` of its mass and utilities."""
    return lot.model_copy(update={
        "plant_id": plant_id, "mass_kg": lot.mass_kg * share,
        "electricity_kwh": getattr(lot, "electricity_kwh", 0.0) * share,
        "natural_gas_mj": getattr(lot, "natural_gas_mj", 0.0) * share,
        "water_m3": getattr(lot, "water_m3", 0.0) * share, "direct_co2_kg": getattr(lot, "direct_co2_kg", 0.0) * share,
        "reagents_kg": {k: v * share for k, v in getattr(lot, "reagents_kg", {}).items()},
    })


def plant_year_lots(session: Session, plant_id: str, year: int) -> tuple[list[StoredLot], list[AnyLot],
                                                                          list[EvidenceLot], list[str]]:
    """A plant's lots of a year, with the lots made from its inputs at other plants (scaled to its share).

    Returns the plant's own stored lots, the lots to count (relabelled to ``plant_id``), the evidence and
    notes on what was added. Raises :class:`NotFound` when the plant recorded no lot that year.
    """
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    own = plant_lots(session, plant_id, start=start, end=end)
    if not own:
        raise NotFound(f"no lots of plant '{plant_id}' recorded in {year}")
    own_ids = {s.lot_id for s in own}
    inputs_here = [s.lot_id for s in own if isinstance(s.lot, InputLot)]
    counts = {k: len(v) for k, v in batteries_of(session, inputs_here).items()}
    lots: list[AnyLot] = [s.lot for s in own]
    evidence = [_evidence(s, 1.0, counts.get(s.lot_id, 0)) for s in own]
    notes: list[str] = []
    for s in sorted(get_lots(session, downstream(session, inputs_here) - own_ids).values(), key=lambda s: s.lot_id):
        lot = s.lot
        if lot.plant_id == plant_id or lot_period(lot).year != year:
            continue
        up = get_lots(session, upstream(session, [lot.lot_id]))
        ins = [u.lot for u in up.values() if isinstance(u.lot, InputLot)]
        total = sum(i.mass_kg for i in ins)
        share = sum(i.mass_kg for i in ins if i.plant_id == plant_id) / total if total > 0 else 0.0
        if share <= 0:
            continue
        lots.append(_scaled(lot, plant_id, share))
        evidence.append(_evidence(s, share, 0))
        notes.append(f"lot {lot.lot_id} made at {lot.plant_id} counted at {share:.1%} (share of its upstream input "
                     "mass from this plant)")
    return own, lots, evidence, notes


def _evidence(s: StoredLot, share: float, batteries: int) -> EvidenceLot:
    lot = s.lot
    return EvidenceLot(lot_id=lot.lot_id, lot_type=lot.lot_type, plant_id=lot.plant_id, recorded_by=s.actor_org_id,
                       period=lot_period(lot), mass_kg=lot.mass_kg, counted_share=share,
                       counts_as_recycling=lot.counts_as_recycling if isinstance(lot, ProductLot) else None,
                       element_kg={k: round(v, 6) for k, v in lot.element_kg().items() if v > 0},
                       batteries=batteries)


def _without_inputs(plant_id: str, year: int, lots: list[AnyLot], rules: CountingRules) -> ComplianceReport:
    """The report of a plant that received no waste batteries that year (a refiner): nothing to rate."""
    return ComplianceReport(
        plant_id=plant_id, year=year, counting_rules=rules.describe(), input_lots=0,
        product_lots=sum(isinstance(lot, ProductLot) for lot in lots), input_mass_kg=0.0, counted_input_mass_kg=0.0,
        recycled_output_kg=0.0, recycling_efficiency_pct=None, material_recovery_pct={}, energy_mj=0.0,
        ghg_kg_co2e=0.0, water_m3=0.0, input_energy_kwh=0.0, carbon_footprint_kg_co2e_per_kwh=None,
        checks=[Check(regime=t.regime, metric=t.metric, material=t.material, value_pct=None,
                      threshold_pct=t.threshold_pct, passed=None, source=t.source)
                for t in applicable_targets(year) if t.metric in ("recycling_efficiency", "material_recovery")],
        upcoming=[{"regime": t.regime, "metric": t.metric, "material": t.material, "threshold_pct": t.threshold_pct,
                   "applies_from": t.applies_from.isoformat()} for t in upcoming_targets(year)],
        notes=[f"plant '{plant_id}' recorded no input lot (waste batteries) in {year}: its products made from "
               "other plants' black mass count for the plants whose input they came from."],
    )


def compliance(session: Session, principal: Principal, plant_id: str, year: int, *,
               rules: CountingRules | None = None, hardware_kg: float = 0.0) -> PlantComplianceReport:
    """A plant's compliance report for a year from its lot records, with method and evidence.

    Parameters
    ----------
    session : Session
        An open session on the registry.
    principal : Principal
        The caller (authorities and the Commission: every plant; others: the plants whose lots they recorded).
    plant_id : str
        Plant identifier (as in its lots' ``plant_id``).
    year : int
        Reporting year.
    rules : CountingRules, optional
        The boundary options (default: :class:`CountingRules()`).
    hardware_kg : float
        Mass of dismantled components in the input [kg] left out with
        ``rules.include_dismantled_components=False``.
    """
    require_scope(principal, Scope.READ)
    rules = rules or CountingRules()
    try:
        own, lots, evidence, notes = plant_year_lots(session, plant_id, year)
    except NotFound:
        own = []
    if not own or not _may_report(principal, own):
        raise NotFound(f"no lot records of plant '{plant_id}' in {year} that you may report on")
    if any(isinstance(lot, InputLot) for lot in lots):
        base = compliance_report(lots, plant_id, year, rules=rules, hardware_kg=hardware_kg)
    else:
        base = _without_inputs(plant_id, year, lots, rules)
    base.notes.extend(notes)
    base.notes.append("Lots read from the registry; 'circulith recovery lots verify' checks them against the ledger "
                      "and their conservation.")
    return PlantComplianceReport(**base.model_dump(), method=METHOD,
                                 battery_count=sum(e.batteries for e in evidence), evidence=evidence)


def compliance_of_lot_file(principal: Principal, lots: list[AnyLot], plant_id: str, year: int, *,
                           rules: CountingRules | None = None) -> ComplianceReport:
    """The compliance report of a plant and year from lot records the caller supplies (not the registry).

    The same computation as :func:`compliance` on the caller's own data, without evidence from the registry.
    """
    require_scope(principal, Scope.READ)
    return compliance_report(lots, plant_id, year, rules=rules)


def evidence_csv(rep: PlantComplianceReport) -> str:
    """The evidence lots of a report as CSV text (element masses as ``kg_<element>`` columns)."""
    elements = sorted({el for e in rep.evidence for el in e.element_kg})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["lot_id", "lot_type", "plant_id", "recorded_by", "period", "mass_kg", "counted_share",
                "counts_as_recycling", "batteries", *[f"kg_{el}" for el in elements]])
    for e in rep.evidence:
        w.writerow([e.lot_id, e.lot_type, e.plant_id, e.recorded_by, e.period.isoformat(), e.mass_kg, e.counted_share,
                    "" if e.counts_as_recycling is None else e.counts_as_recycling, e.batteries,
                    *[e.element_kg.get(el, "") for el in elements]])
    return buf.getvalue()


class EvidenceBattery(BaseModel):
    """A battery behind a plant-year's figures: the input lot it entered in."""

    lot_id: str
    battery_id: str
    passport_id: str


def compliance_batteries(session: Session, principal: Principal, plant_id: str, year: int) -> list[EvidenceBattery]:
    """The battery identifiers behind a plant-year's compliance figures (same access as :func:`compliance`)."""
    require_scope(principal, Scope.READ)
    own = plant_lots(session, plant_id, start=dt.date(year, 1, 1), end=dt.date(year, 12, 31))
    if not own or not _may_report(principal, own):
        raise NotFound(f"no lot records of plant '{plant_id}' in {year} that you may report on")
    by_lot = batteries_of(session, [s.lot_id for s in own if isinstance(s.lot, InputLot)])
    passports = {r[0]: r[1] for r in battery_summaries(session, [b for bs in by_lot.values() for b in bs])}
    return [EvidenceBattery(lot_id=lot, battery_id=b, passport_id=passports.get(b, ""))
            for lot, bs in sorted(by_lot.items()) for b in bs]


def batteries_csv(rows: list[EvidenceBattery]) -> str:
    """The evidence batteries as CSV text."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["lot_id", "battery_id", "passport_id"])
    w.writerows([r.lot_id, r.battery_id, r.passport_id] for r in rows)
    return buf.getvalue()
