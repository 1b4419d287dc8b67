"""Reports on recorded plant lots: a lot with its yields and balance, the batteries behind it, verification.

Who reads a lot: :func:`circulith.services.lot_access.require_lot_reader`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from circulith.auth.policy import Principal
from circulith.errors import InvalidInput
from circulith.recovery.conservation import check_conservation
from circulith.recovery.lots import (
    AnyLot,
    InputLot,
    IntermediateLot,
    ProductLot,
    lot_from_payload,
    lot_yields,
)
from circulith.recovery.plan import plan_lots
from circulith.recovery.reference_data import lot_accounting_parameter
from circulith.services.lot_access import require_lot_reader
from circulith.services.lot_custody import custody_state
from circulith.services.recovery import stored_lot, trace_in_session, traced_batteries
from circulith.store.allocation_repo import allocated_kg
from circulith.store.database import require_schema, transaction
from circulith.store.lot_repo import (
    batteries_of,
    battery_summaries,
    downstream,
    get_lots,
    iter_lot_rows,
    lot_events,
    transfers_of,
    upstream,
)


class LotYields(BaseModel):
    """Element yields [kg out / kg in], energy, water and GHG of a set of lots."""

    input_mass_kg: float
    element_input_kg: dict[str, float]
    element_output_kg: dict[str, float]
    element_yield: dict[str, float]
    electricity_kwh: float
    natural_gas_mj: float
    energy_mj: float
    water_m3: float
    reagents_kg: dict[str, float]
    reagent_ghg_kg_co2e: float
    reagents_without_factor: list[str]
    ghg_kg_co2e: float


class ElementBalance(BaseModel):
    """One element of a mass balance [kg]."""

    in_kg: float
    products_kg: float
    residues_kg: float = 0.0
    losses_kg: float = 0.0
    unaccounted_kg: float
    ok: bool


class MassBalance(BaseModel):
    """Element balance of input lots against the product lots made from them."""

    closes: bool
    elements: dict[str, ElementBalance]


class PlanLine(BaseModel):
    """One figure, actual against the plan."""

    actual: float
    plan: float


class PlanComparison(BaseModel):
    """An input lot's recorded outputs against the recovery engine's plan for its feed."""

    route: str
    element_yield: dict[str, PlanLine]
    energy_mj: PlanLine
    water_m3: PlanLine
    ghg_kg_co2e: PlanLine
    reagents_kg: dict[str, PlanLine]


class LotReport(BaseModel):
    """A lot, its record, sources, products made from it, the batteries behind it, yields and balance."""

    lot_id: str
    lot_type: str
    lot: dict[str, object] = Field(description="The stored lot document (its payload).")
    document_sha256: str
    recorded_at: str
    actor_org_id: str
    sources: list[str]
    input_lots: list[str]
    made_into: list[str]
    batteries: list[str]
    yields: LotYields
    mass_balance: MassBalance
    plan: PlanComparison | None = Field(None, description="Input lots: actual against the engine's plan.")


class TracedBattery(BaseModel):
    """A battery behind a lot."""

    battery_id: str
    passport_id: str
    chemistry: str
    mass_kg: float
    lifecycle_state: str


class LotPathStep(BaseModel):
    """A lot on the path from the batteries to a lot."""

    lot_id: str
    lot_type: str
    sources: list[str]


class TraceReport(BaseModel):
    """The batteries behind a lot and the lot path."""

    lot_id: str
    lot_type: str
    lot_sha256: str
    path: list[LotPathStep]
    battery_ids: list[str]
    batteries: list[TracedBattery]


class LotVerification(BaseModel):
    """Outcome of :func:`verify_lots`."""

    ok: bool
    lots_checked: int
    events_checked: int
    findings: list[str]


def trace_product(engine: Engine, lot_id: str) -> list[str]:
    """The battery IDs that fed a lot (a product lot, through its black-mass and shred lots), sorted."""
    require_schema(engine)
    with transaction(engine) as session:
        return trace_in_session(session, lot_id)


def mass_balance(inputs: Sequence[InputLot], outputs: Sequence[IntermediateLot | ProductLot], *,
                 rel_tolerance: float = 0.02) -> MassBalance:
    """Element balance of input lots against the output lots made from them [kg].

    Outputs carry only the batteries' own elements (reagent sulphate, hydrate water and oxygen are not
    counted), so the balance is per element: products (and by-products), residues and declared losses
    together must account for what entered. The balance closes when, for every element, no more came out
    than entered (within ``rel_tolerance``) and no more than ``mass_balance_closure_tolerance``
    (``lot_accounting.csv``) of it is unaccounted — 100 % of an element lost without a residue or loss
    lot does not close.
    """
    el_in = lot_yields(inputs, [])["element_input_kg"]
    closure = lot_accounting_parameter("mass_balance_closure_tolerance")
    parts: dict[str, dict[str, float]] = {"product": {}, "residue": {}, "loss": {}}
    for o in outputs:
        if isinstance(o, ProductLot):
            key = "product" if o.output in ("product", "by_product") else o.output
            for el, kg in o.element_kg().items():
                parts[key][el] = parts[key].get(el, 0.0) + kg
    rows: dict[str, ElementBalance] = {}
    closes = True
    for el in sorted(set(el_in) | {e for d in parts.values() for e in d}, key=lambda e: (e not in el_in, e)):
        kg_in = el_in.get(el, 0.0)
        prod, res, loss = (parts[k].get(el, 0.0) for k in ("product", "residue", "loss"))
        out = prod + res + loss
        ok = out <= kg_in * (1 + rel_tolerance) + 1e-9 and kg_in - out <= kg_in * closure + 1e-9
        closes &= ok
        rows[el] = ElementBalance(in_kg=kg_in, products_kg=prod, residues_kg=res, losses_kg=loss,
                                  unaccounted_kg=kg_in - out, ok=ok)
    return MassBalance(closes=closes, elements=rows)


def lot_report(engine: Engine, principal: Principal, lot_id: str) -> LotReport:
    """A lot, its record, sources, products made from it, the batteries behind it, yields and mass balance.

    For an input lot the yields are those of every processed lot made from it; for a processed lot, its
    own yields (a black-mass lot's from its assay), energy, water and emissions against the input lots
    upstream.
    """
    require_schema(engine)
    with transaction(engine) as session:
        require_lot_reader(session, principal, lot_id)
        stored = stored_lot(session, lot_id)
        up = get_lots(session, upstream(session, [lot_id]))
        inputs = [s.lot for s in up.values() if isinstance(s.lot, InputLot)]
        family = get_lots(session, downstream(session, [i.lot_id for i in inputs]))
        processed_all = [s.lot for s in family.values() if not isinstance(s.lot, InputLot)]
        batteries = traced_batteries(session, inputs)
        made = sorted(downstream(session, [lot_id]) - {lot_id})
    own: list[IntermediateLot | ProductLot]
    if isinstance(stored.lot, InputLot):
        own = [s.lot for s in family.values() if s.lot_id in made and not isinstance(s.lot, InputLot)]
    else:
        own = [stored.lot]
    yields = LotYields(**lot_yields(inputs, own, count_intermediates=isinstance(stored.lot, IntermediateLot)))
    return LotReport(
        lot_id=lot_id, lot_type=stored.lot.lot_type, lot=json.loads(stored.document),
        document_sha256=stored.document_sha256, recorded_at=stored.recorded_at, actor_org_id=stored.actor_org_id,
        sources=list(getattr(stored.lot, "source_lot_ids", [])), input_lots=sorted(i.lot_id for i in inputs),
        made_into=made, batteries=batteries,
        yields=yields, mass_balance=mass_balance(inputs, processed_all),
        plan=_plan_comparison(stored.lot, own, yields) if isinstance(stored.lot, InputLot) else None,
    )


def _plan_comparison(lot: InputLot, outputs: Sequence[IntermediateLot | ProductLot],
                     actual: LotYields) -> PlanComparison:
    """The input lot's outputs against :func:`circulith.recovery.plan.plan_lots` for the route they name."""
    routes = [o.route for o in outputs if isinstance(o, ProductLot) and o.route]
    route = max(set(routes), key=routes.count) if routes else "hydro"
    planned = LotYields(**lot_yields([lot], plan_lots(lot, route=route)))
    els = sorted(set(actual.element_yield) | set(planned.element_yield))
    rgs = sorted(set(actual.reagents_kg) | set(planned.reagents_kg))
    return PlanComparison(
        route=route,
        element_yield={e: PlanLine(actual=actual.element_yield.get(e, 0.0), plan=planned.element_yield.get(e, 0.0))
                       for e in els},
        energy_mj=PlanLine(actual=actual.energy_mj, plan=planned.energy_mj),
        water_m3=PlanLine(actual=actual.water_m3, plan=planned.water_m3),
        ghg_kg_co2e=PlanLine(actual=actual.ghg_kg_co2e, plan=planned.ghg_kg_co2e),
        reagents_kg={r: PlanLine(actual=actual.reagents_kg.get(r, 0.0), plan=planned.reagents_kg.get(r, 0.0))
                     for r in rgs})


def trace_report(engine: Engine, principal: Principal, lot_id: str) -> TraceReport:
    """The batteries behind a lot, the lot path, and their passports' chemistry and mass."""
    require_schema(engine)
    with transaction(engine) as session:
        require_lot_reader(session, principal, lot_id)
        stored = stored_lot(session, lot_id)
        up = get_lots(session, upstream(session, [lot_id]))
        bids = trace_in_session(session, lot_id)
        rows = battery_summaries(session, bids)
    return TraceReport(
        lot_id=lot_id, lot_type=stored.lot.lot_type, lot_sha256=stored.document_sha256,
        path=sorted((LotPathStep(lot_id=s.lot_id, lot_type=s.lot.lot_type,
                                 sources=list(getattr(s.lot, "source_lot_ids", []))) for s in up.values()),
                    key=lambda d: d.lot_id),
        battery_ids=bids,
        batteries=[TracedBattery(battery_id=r[0], passport_id=r[1], chemistry=r[2], mass_kg=r[3],
                                 lifecycle_state=r[4]) for r in rows],
    )


def verify_lots(engine: Engine, *, max_findings: int = 1000) -> LotVerification:
    """Check every stored lot: its digest against the ledger, and conservation at every lot.

    Findings: a document whose digest differs from its stored digest or from the ``lot_sha256`` of an
    event naming it (the lot was altered after recording), an event naming an unknown lot (a lot was
    deleted), a lot no event names (inserted outside the ledger), an input lot whose batteries differ
    from those whose ``shredded`` event names it, a lot made from a lot its organisation did not hold
    when it recorded it (custody), recycled content allocated beyond a product lot's
    content, and any lot whose consumers together carry more of an
    element (or mass) than it holds (:func:`circulith.recovery.conservation.check_conservation`). The
    ledger's own chains are checked by ``ledger verify``.
    """
    require_schema(engine)
    findings: list[str] = []
    digests: dict[str, str] = {}
    docs: dict[str, str] = {}
    with transaction(engine) as session:
        for lot_id, doc, stored_sha in iter_lot_rows(session):
            sha = hashlib.sha256(doc.encode()).hexdigest()
            digests[lot_id] = sha
            docs[lot_id] = doc
            if sha != stored_sha:
                findings.append(f"lot {lot_id}: document digest {sha[:12]}… differs from the stored digest "
                                f"{stored_sha[:12]}… (altered after recording)")
        anchored: set[str] = set()
        shredded_by: dict[str, set[str]] = {}
        n_events = 0
        for event_id, bid, kind, text in lot_events(session):
            n_events += 1
            payload = json.loads(text)
            lid, lsha = payload.get("lot_id"), payload.get("lot_sha256")
            if lid is None or lsha is None:
                continue
            if lid not in digests:
                findings.append(f"event {event_id} ({kind}, battery {bid}) names lot {lid}, which is not stored "
                                "(deleted?)")
                continue
            anchored.add(lid)
            if lsha != digests[lid]:
                findings.append(f"lot {lid}: its document's SHA-256 {digests[lid][:12]}… differs from the "
                                f"{lsha[:12]}… recorded in event {event_id} ({kind}, battery {bid}): altered after "
                                "recording")
            if kind == "shredded":
                shredded_by.setdefault(lid, set()).add(bid)
        for lid in sorted(set(digests) - anchored):
            findings.append(f"lot {lid}: no ledger event names it (recorded outside the ledger)")
        links = batteries_of(session, digests)
        for lid, doc in docs.items():
            if json.loads(doc).get("lot_type") != "input":
                continue
            linked = set(links.get(lid, []))
            in_doc = {it["battery_id"] for it in json.loads(doc).get("items", [])}
            if linked != shredded_by.get(lid, set()) or (lid in anchored and in_doc != linked):
                findings.append(f"lot {lid}: its batteries ({len(in_doc)} in the document, {len(linked)} linked) differ "
                                f"from the {len(shredded_by.get(lid, set()))} whose 'shredded' event names it")
        stored_all = get_lots(session, digests)
        moves = transfers_of(session, digests)
        for c in stored_all.values():
            for sid in getattr(c.lot, "source_lot_ids", []):
                src = stored_all.get(sid)
                if src is None:
                    continue
                before = [t for t in moves.get(sid, []) if t.recorded_at <= c.recorded_at]
                holder, _ = custody_state(src.actor_org_id, before)
                if holder != c.actor_org_id:
                    findings.append(f"lot {c.lot_id}: recorded by '{c.actor_org_id}' from lot {sid}, which "
                                    f"'{holder or 'nobody (in transit)'}' held at the time (custody broken)")
        all_lots: dict[str, AnyLot] = {}
        for lid, doc in docs.items():
            try:
                all_lots[lid] = lot_from_payload(json.loads(doc))
            except (ValueError, InvalidInput) as e:
                findings.append(f"lot {lid}: its document is no longer a valid lot ({e})")
        for (lid, el), kg in allocated_kg(session, all_lots).items():
            lot = all_lots.get(lid)
            held = lot.element_kg().get(el, 0.0) if isinstance(lot, ProductLot) else 0.0
            if kg > held + 1e-6:
                findings.append(f"lot {lid}: {kg:.3f} kg {el} allocated as recycled content but the lot holds "
                                f"{held:.3f} kg (allocated more than once)")
    for v in check_conservation(all_lots, sorted(all_lots)):
        findings.append(f"lot {v.source_lot_id}: conservation broken: {v.message()}")
    findings = list(dict.fromkeys(findings))
    return LotVerification(ok=not findings, lots_checked=len(digests), events_checked=n_events,
                           findings=findings[:max_findings])
