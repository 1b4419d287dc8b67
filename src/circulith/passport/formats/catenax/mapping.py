"""The one mapping table between a circulith passport and a Catena-X battery_pass 6.x document.

Both directions walk :data:`TABLE` (see :mod:`circulith.passport.formats.table`). Interpretations:

- The battery identifier is the ``partInstanceId`` serial of ``identification.identification.serial``.
- ``level`` is not in the model: a Catena-X battery passport describes the battery placed on the
  market (Regulation (EU) 2023/1542, Art. 77(1)), read as ``pack``.
- Parties are BPNs without names: the BPN is read as the party's name too.
- ``metadata.predecessor`` holding the nil UUID (RFC 9562 §5.9) means no predecessor.
- Masses and warranty periods carry a unit: converted with ``reference/catenax/units.csv``.
- The carbon footprint is read when its four life-cycle stages (``Climate Change Total``) are given
  (their sum is the total, Annex II point 3); otherwise it stays in the received document.
- An extinguishing agent (Annex VI Part A point 9) is held as text; its Catena-X ``fireClass``
  (required; "A, B and C and a combination of these", battery_pass 6.1.0 ``fireClass``) is held in
  that text as ``<media> (fire class <classes>)``, e.g. ``Dry Powder (fire class A, B)``. An agent
  without it is refused by name on a strict export.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from importlib.resources import files
from typing import Any

from circulith.passport.formats.batterypass.codecs import CHEMISTRY, WHOLE, ts
from circulith.passport.formats.catenax.schema import SPEC_VERSION
from circulith.passport.formats.table import MISSING, Codec, DumpContext, Rule

__all__ = ["NIL_UUID", "TABLE", "unit_factor"]

NIL_UUID = "urn:uuid:00000000-0000-0000-0000-000000000000"
RATED = "performance.rated"
DYN = "performance.dynamic"
_STAGES = {
    "raw_materials_kg_co2e_per_kwh": "raw material acquisition and pre-processing",
    "production_kg_co2e_per_kwh": "main product production",
    "distribution_kg_co2e_per_kwh": "distribution",
    "end_of_life_kg_co2e_per_kwh": "end of life and recycling",
}
_CF_TYPE = "Climate Change Total"
_CF_UNIT = "kg CO2e / kWh"


@cache
def _units() -> dict[str, tuple[str, float]]:
    with files("circulith.reference").joinpath("catenax/units.csv").open(encoding="utf-8") as fh:
        return {r["unit"]: (r["quantity"], float(r["factor"])) for r in csv.DictReader(fh)}


def unit_factor(unit: Any, quantity: str) -> float | None:
    """Factor from a Catena-X unit to circulith's (kg, year), None when the unit is not of ``quantity``."""
    found = _units().get(str(unit))
    return found[1] if found and found[0] == quantity else None


def _quantity(value_key: str, unit_key: str, quantity: str, unit: str) -> Codec:
    def load(v: Any, doc: dict[str, Any]) -> Any:
        if not isinstance(v, dict):
            return v
        factor = unit_factor(v.get(unit_key), quantity)
        value = v.get(value_key)
        return value * factor if factor is not None and isinstance(value, int | float) else MISSING
    return Codec(lambda v, root, ctx: {value_key: v, unit_key: unit}, load)


def _docs(header: str) -> Codec:
    return Codec(
        lambda urls, root, ctx: [{"contentType": "URL", "header": header, "content": u} for u in urls],
        lambda v, doc: [d.get("content") for d in v if isinstance(d, dict)] if isinstance(v, list) else v,
    )


def _doc(header: str) -> Codec:
    return Codec(
        lambda url, root, ctx: [{"contentType": "URL", "header": header, "content": url}],
        lambda v, doc: (v[0].get("content") if isinstance(v[0], dict) else v[0]) if isinstance(v, list) and v
        else MISSING,
    )


STAMPED = Codec(
    lambda v, root, ctx: {"value": v["value"], "time": ts(v["updated_at"])},
    lambda v, doc: {"value": v.get("value"), "updated_at": v.get("time")} if isinstance(v, dict) else v,
)
YEAR_MONTH_DAY = Codec(lambda v, root, ctx: f"{v}-01", lambda v, doc: str(v)[:7])
STATUS = Codec(lambda v, root, ctx: "re-used" if v == "reused" else v,
               lambda v, doc: "reused" if v == "re-used" else v)
CATEGORY = Codec(lambda v, root, ctx: "industrial" if v == "stationary" else v, lambda v, doc: v)
PREDECESSOR = Codec(lambda v, root, ctx: v, lambda v, doc: None if v == NIL_UUID else v)


def _serial_load(v: Any, doc: dict[str, Any]) -> Any:
    if not isinstance(v, list) or not v:
        return MISSING
    for entry in v:
        if isinstance(entry, dict) and entry.get("key") == "partInstanceId":
            return entry.get("value")
    return v[0].get("value") if isinstance(v[0], dict) else MISSING


SERIAL = Codec(lambda v, root, ctx: [{"key": "partInstanceId", "value": v}], _serial_load)
_FIRE_CLASS = re.compile(r"^(?P<media>.*?)\s*\(fire class (?P<classes>[A-Za-z](?:\s*,\s*[A-Za-z])*)\)\s*$")


def _agent_dump(agent: str, ctx: DumpContext) -> dict[str, Any]:
    found = _FIRE_CLASS.match(agent)
    if found is None:
        return {"media": agent, "fireClass": ctx.need(None, f"extinguishing agent fire class ({agent!r})", "")}
    return {"media": found["media"], "fireClass": found["classes"]}


def _agent_load(agent: dict[str, Any]) -> Any:
    media, classes = agent.get("media"), agent.get("fireClass")
    return f"{media} (fire class {classes})" if isinstance(media, str) and isinstance(classes, str) and classes \
        else media


EXTINGUISHING = Codec(
    lambda agents, root, ctx: [_agent_dump(a, ctx) for a in agents],
    lambda v, doc: [_agent_load(a) for a in v if isinstance(a, dict)] if isinstance(v, list) else v,
)
SPARE_PARTS = Codec(
    lambda parts, root, ctx: [{"manufacturerPartId": p["part_number"], "nameAtManufacturer": p["part_name"]}
                              for p in parts],
    lambda v, doc: [{"part_name": p.get("nameAtManufacturer"), "part_number": p.get("manufacturerPartId")}
                    for p in v if isinstance(p, dict)] if isinstance(v, list) else v,
)
PACK = Codec(lambda v, root, ctx: MISSING, lambda v, doc: "pack")


def _cf_dump(cf: dict[str, Any], root: dict[str, Any], ctx: DumpContext) -> list[dict[str, Any]]:
    return [
        {"lifecycle": stage, "type": _CF_TYPE, "value": cf[field], "unit": _CF_UNIT,
         "performanceClass": cf.get("performance_class") or "", "rulebook": [], "manufacturingPlant": [],
         "declaration": [{"contentType": "URL", "header": "Carbon footprint study", "content": cf["study_url"]}]
         if cf.get("study_url") else []}
        for field, stage in _STAGES.items() if cf.get(field) is not None
    ]


def _cf_load(v: Any, doc: dict[str, Any]) -> Any:
    if not isinstance(v, list):
        return MISSING
    by_stage = {e.get("lifecycle"): e for e in v if isinstance(e, dict) and e.get("type") == _CF_TYPE}
    if not all(stage in by_stage for stage in _STAGES.values()):
        return MISSING
    out: dict[str, Any] = {field: by_stage[stage].get("value") for field, stage in _STAGES.items()}
    values = [x for x in out.values() if isinstance(x, int | float)]
    out["total_kg_co2e_per_kwh"] = sum(values) if len(values) == len(_STAGES) else None
    classes = {by_stage[s].get("performanceClass") for s in _STAGES.values()} - {None, ""}
    if len(classes) == 1:
        out["performance_class"] = classes.pop()
    return out


CARBON = Codec(_cf_dump, _cf_load)

_DYNAMIC: dict[str, str] = {
    "soc_pct": "stateOfCharge",
    "full_cycles": "fullCycles",
    "round_trip_efficiency_pct": "roundTripEfficiency.remaining",
    "remaining_power_w": "power.remaining",
    "internal_resistance_increase_pct": "resistance.increase.pack",
    "remaining_capacity_ah": "capacity.capacity",
    "capacity_throughput_ah": "capacity.throughput",
    "remaining_energy_kwh": "energy.remaining",
    "soh_pct": "energy.soce",
    "energy_throughput_kwh": "energy.throughput",
}

TABLE: tuple[Rule, ...] = (
    Rule("specVersion", "", Codec(lambda v, root, ctx: SPEC_VERSION, lambda v, doc: MISSING), direction="export"),
    Rule("metadata.passportIdentifier", "passport_id"),
    Rule("metadata.economicOperatorId", "operator.id"),
    Rule("metadata.economicOperatorId", "operator.name", direction="import"),
    Rule("metadata.predecessor", "predecessor_passport_id", PREDECESSOR, placeholder=NIL_UUID),
    Rule("metadata", "level", PACK, direction="import"),
    Rule("identification.identification.serial", "battery_id", SERIAL),
    Rule("identification.category", "category", CATEGORY),
    Rule("identification.chemistry", "chemistry", CHEMISTRY),
    Rule("identification.identification.type.nameAtManufacturer", "model"),
    Rule("operation.manufacturer.manufacturer", "manufacturer.id"),
    Rule("operation.manufacturer.manufacturer", "manufacturer.name", direction="import"),
    Rule("operation.manufacturer.facility", "manufacturing_place",
         Codec(lambda v, root, ctx: [{"facility": v}],
               lambda v, doc: v[0].get("facility") if isinstance(v, list) and v and isinstance(v[0], dict)
               else MISSING)),
    Rule("operation.manufacturer.manufacturingDate", "manufacturing_date", YEAR_MONTH_DAY),
    Rule("operation.intoServiceDate", "putting_into_service_date", YEAR_MONTH_DAY),
    Rule("sustainability.status", "status", STATUS),
    Rule("characteristics.physicalDimension.weight", "mass_kg", _quantity("value", "unit", "mass", "unit:kilogram")),
    Rule("characteristics.warranty", "warranty_years", _quantity("lifeValue", "lifeUnit", "period", "unit:year"),
         required=True),
    Rule(f"{RATED}.capacity.value", "rated_capacity_ah"),
    Rule(f"{RATED}.capacity.thresholdExhaustion", "capacity_threshold_for_exhaustion_pct", required=True),
    Rule(f"{RATED}.energy.value", "rated_energy_kwh"),
    Rule(f"{RATED}.voltage.nominal", "nominal_voltage_v"),
    Rule(f"{RATED}.voltage.min", "min_voltage_v"),
    Rule(f"{RATED}.voltage.max", "max_voltage_v"),
    Rule(f"{RATED}.power.at80SoC", "original_power_w", required=True),
    Rule(f"{RATED}.power.value", "max_permitted_power_w", required=True),
    Rule(f"{RATED}.resistance.pack", "internal_resistance_ohm", required=True),
    Rule(f"{RATED}.lifetime.expectedYears", "expected_lifetime_years", required=True),
    Rule(f"{RATED}.lifetime.cycleLifeTesting.cycles", "expected_lifetime_cycles", WHOLE, required=True),
    Rule(f"{RATED}.lifetime.cycleLifeTesting.appliedDischargeRate", "c_rate_cycle_life_test", required=True),
    Rule(f"{RATED}.temperature.lower", "temperature_idle_min_c", required=True),
    Rule(f"{RATED}.temperature.upper", "temperature_idle_max_c", required=True),
    Rule(f"{RATED}.roundTripEfficiency.initial", "initial_round_trip_efficiency_pct", required=True),
    Rule(f"{RATED}.roundTripEfficiency.50PercentLife", "round_trip_efficiency_at_50pct_cycle_life_pct",
         required=True),
    Rule(f"{RATED}.selfDischargingRate", "initial_self_discharge_pct_per_month", required=True),
    *(Rule(f"{DYN}.{path}", f"dynamic.{name}", STAMPED, required=True) for name, path in _DYNAMIC.items()),
    Rule("sustainability.carbonFootprint", "carbon_footprint", CARBON, required=True),
    Rule("conformity.declarationOfConformity", "declaration_of_conformity_url", _doc("Declaration of conformity"),
         required=True),
    Rule("conformity.resultOfTestReport", "test_report_url", _doc("Result of test report"), required=True),
    Rule("conformity.dueDiligencePolicy", "due_diligence_report_url", _doc("Due diligence report"), required=True),
    Rule("safety.dismantling", "dismantling.manual_urls", _docs("Dismantling manual"), required=True),
    Rule("safety.safetyMeasures", "dismantling.safety_measures_url", _doc("Safety measures"), required=True),
    Rule("safety.usableExtinguishAgent", "extinguishing_agent", EXTINGUISHING, required=True),
    Rule("handling.content.sparePart", "dismantling.part_numbers", SPARE_PARTS),
    Rule("sustainability.documents.wastePrevention", "end_of_life.waste_prevention_url", _doc("Waste prevention"),
         required=True),
    Rule("sustainability.documents.separateCollection", "end_of_life.separate_collection_url",
         _doc("Separate collection"), required=True),
)
