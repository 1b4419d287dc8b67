"""The plan for an input lot: the black-mass and product lots the recovery engine expects from it.

A plant compares its recorded lots with this plan (``lot show``); tests and the demo use it to make
realistic lots. Pure computation on the engine's route model (:func:`circulith.recovery.valuation.evaluate`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from circulith.recovery.lots import InputLot, IntermediateLot, ProductLot
from circulith.recovery.reference_data import lot_accounting_parameter
from circulith.recovery.valuation import evaluate

#: Operations downstream of the black mass (their streams are made from the black-mass lot).
DOWNSTREAM = ("hydrometallurgy", "direct")
#: Stream contents that are not battery elements of a lot's element content.
NON_BATTERY = ("O", "F", "other")


def element_fraction(part_kg: float, whole_kg: float) -> float:
    """``part_kg / whole_kg`` [-], with float rounding above 1 (a stream that is all one element, e.g.
    copper cement, summed from several items) taken as 1; a real excess is left for the lot's check."""
    share = part_kg / whole_kg
    return 1.0 if 1.0 < share <= 1.0 + 1e-9 else share


def plan_lots(lot: InputLot, *, route: str = "hydro", produced_on: dt.date | None = None,
              prefix: str | None = None) -> list[IntermediateLot | ProductLot]:
    """The black-mass and product lots the recovery engine expects from an input lot (the plan).

    Each battery is run through ``route`` (:func:`circulith.recovery.valuation.evaluate`); the black mass
    holds what the refining step puts out (its assay), products, residues and losses of the hydrometallurgy
    (or direct) step come from the black-mass lot and those of dismantling and pretreatment from the input
    lot (every stream carrying a battery element, so that the element balance closes). Utilities, water and
    direct CO2 are split between the black-mass lot (pretreatment share) and the output lots by mass; the
    route's reagents go to the refining step's outputs by mass. A plant compares
    its recorded lots with this plan; tests and the demo use it to make realistic lots.
    """
    day = produced_on or lot.received_on
    pre = prefix or lot.lot_id
    bm_el: dict[str, float] = {}
    bm_kg = 0.0
    streams: dict[str, dict[str, Any]] = {}
    totals = {"electricity_kwh": 0.0, "natural_gas_mj": 0.0, "water_m3": 0.0, "direct_co2_kg": 0.0}
    reagents: dict[str, float] = {}
    for it in lot.items:
        r = evaluate(it.chemistry, it.form, it.mass_kg, route)
        bm_kg += r.black_mass_kg
        for k in totals:
            totals[k] += float(getattr(r, k))
        for rg, kg in r.reagents_kg.items():
            reagents[rg] = reagents.get(rg, 0.0) + kg
        for p in r.products:
            content = {el: kg for el, kg in p.element_kg.items() if el not in NON_BATTERY and kg > 0}
            if p.operation in DOWNSTREAM:
                for el, kg in content.items():  # the black mass holds what the refining step puts out
                    bm_el[el] = bm_el.get(el, 0.0) + kg
            if p.mass_kg <= 0 or not content:
                continue
            d = streams.setdefault(p.stream, {"mass_kg": 0.0, "element_kg": {}, "commodity": p.commodity or p.stream,
                                              "operation": p.operation, "kind": p.kind})
            d["mass_kg"] += p.mass_kg
            for el, kg in content.items():
                d["element_kg"][el] = d["element_kg"].get(el, 0.0) + kg
    bm_id = f"{pre}-BM"
    assay = {el: element_fraction(kg, bm_kg) for el, kg in bm_el.items() if bm_kg > 0}
    pre_share = lot_accounting_parameter("plan_pretreatment_utility_share")
    out: list[IntermediateLot | ProductLot] = [IntermediateLot.model_validate({
        "lot_id": bm_id, "plant_id": lot.plant_id, "produced_on": day, "source_lot_ids": [lot.lot_id],
        "mass_kg": bm_kg, "assay": assay, **{k: v * pre_share for k, v in totals.items()}})]
    prod_mass = sum(d["mass_kg"] for d in streams.values()) or 1.0
    refined_mass = sum(d["mass_kg"] for d in streams.values() if d["operation"] in DOWNSTREAM) or 1.0
    for stream, d in streams.items():
        w = (1 - pre_share) * d["mass_kg"] / prod_mass
        downstream = d["operation"] in DOWNSTREAM
        share = d["mass_kg"] / refined_mass if downstream else 0.0
        output = d["kind"] if d["kind"] in ("product", "by_product", "residue") else "loss"
        out.append(ProductLot.model_validate({
            "lot_id": f"{pre}-{stream}", "plant_id": lot.plant_id, "produced_on": day,
            "source_lot_ids": [bm_id if downstream else lot.lot_id],
            "mass_kg": d["mass_kg"], "commodity": d["commodity"], "route": route, "output": output,
            "element_content": {el: element_fraction(kg, d["mass_kg"]) for el, kg in d["element_kg"].items()},
            "reagents_kg": {rg: kg * share for rg, kg in reagents.items()} if share else {},
            **{k: v * w for k, v in totals.items()}}))
    return out
