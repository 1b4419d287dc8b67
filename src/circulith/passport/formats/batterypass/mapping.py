"""The one mapping table between a circulith passport and a Battery Pass v1.2 document.

Every row of :data:`TABLE` ties a place in the Battery Pass document (aspect.property...) to a place
in the passport (dotted field path) with the codec that converts the value each way; the export
(:mod:`.export`) and the import (:mod:`.importing`) both walk this one table. Rows marked
``direction="export"`` are values the Battery Pass model derives from others (fades, ratios, the
temperature block's time stamp); rows marked ``"import"`` are fallbacks that a later row overrides.

The ``circulith`` entry of the document carries what the Battery Pass model cannot hold (see the
rows under ``circulith.``), so that ``import_batterypass(export_batterypass(p)) == p``.
"""

from __future__ import annotations

from typing import Any

import circulith.passport.formats.batterypass.codecs as c
from circulith.passport.chemistry import read_chemistry_windows
from circulith.passport.formats.table import MISSING, Codec, DumpContext, Rule

__all__ = ["DYNAMIC_STAMPED", "EPOCH", "EXTENSION", "PRESENCE", "TABLE"]

EXTENSION = "circulith"
EPOCH = "1970-01-01T00:00:00Z"
G = "GeneralProductInformation"
CF = "CarbonFootprintForBatteries"
MC = "MaterialComposition"
CI = "Circularity"
LB = "Labeling"
TECH = "PerformanceAndDurability.batteryTechicalProperties"  # (sic: the v1.2 property name)
COND = "PerformanceAndDurability.batteryCondition"
TEMP = f"{COND}.temperatureInformation"
X = EXTENSION

#: Dynamic field -> (batteryCondition property, value key) for values stamped ``{key, lastUpdate}``.
DYNAMIC_STAMPED: dict[str, tuple[str, str]] = {
    "soh_pct": ("stateOfCertifiedEnergy", "stateOfCertifiedEnergyValue"),
    "remaining_capacity_ah": ("remainingCapacity", "remainingCapacityValue"),
    "remaining_energy_kwh": ("remainingEnergy", "remainingEnergyalue"),  # (sic)
    "full_cycles": ("numberOfFullCycles", "numberOfFullCyclesValue"),
    "capacity_throughput_ah": ("capacityThroughput", "capacityThroughputValue"),
    "soc_pct": ("stateOfCharge", "stateOfChargeValue"),
    "round_trip_efficiency_pct": ("remainingRoundTripEnergyEfficiency", "remainingRoundTripEnergyEfficiencyValue"),
    "self_discharge_pct_per_month": ("currentSelfDischargingRate", "currentSelfDischargingRateEntity"),
}
#: Dynamic field -> temperatureInformation property [min] (one time stamp for the block).
_TEMPERATURES: dict[str, str] = {
    "time_above_max_temp_h": "timeExtremeHighTemp",
    "time_below_min_temp_h": "timeExtremeLowTemp",
    "time_charging_above_max_temp_h": "timeExtremeHighTempCharging",
    "time_charging_below_min_temp_h": "timeExtremeLowTempCharging",
}
#: Passport sections whose absence the extension records (the Battery Pass model always has them).
PRESENCE: tuple[str, ...] = ("dismantling", "end_of_life", "recycled_content")
_DYNAMIC_ALL: tuple[str, ...] = (
    *DYNAMIC_STAMPED, *_TEMPERATURES, "energy_throughput_kwh", "remaining_power_w",
    "internal_resistance_increase_pct", "deep_discharge_events", "overcharge_events",
)


def _derived(fn: Any) -> Codec:
    return Codec(fn, lambda v, doc: MISSING)


def _value(root: dict[str, Any], name: str) -> Any:
    dv = (root.get("dynamic") or {}).get(name)
    return None if dv is None else dv.get("value")


def _fade(now: Any, rated: Any, ctx: DumpContext, name: str) -> float:
    if ctx.need(now, name, None) is None or not rated:
        return 0.0
    return 100.0 * (1.0 - float(now) / float(rated))


def _capacity_fade(root: dict[str, Any], _r: dict[str, Any], ctx: DumpContext) -> dict[str, Any]:
    dv = (root.get("dynamic") or {}).get("remaining_capacity_ah")
    return {
        "capacityFadeValue": _fade(_value(root, "remaining_capacity_ah"), root.get("rated_capacity_ah"), ctx,
                                   "dynamic.remaining_capacity_ah"),
        "lastUpdate": c.ts(dv["updated_at"]) if dv else EPOCH,
    }


def _self_discharge_evolution(root: dict[str, Any], _r: dict[str, Any], ctx: DumpContext) -> dict[str, Any]:
    now, initial = _value(root, "self_discharge_pct_per_month"), root.get("initial_self_discharge_pct_per_month")
    if now is None or not initial:
        ctx.missing.append("dynamic.self_discharge_pct_per_month")
        return {"evolutionOfSelfDischargeEntityValue": 0.0}
    return {"evolutionOfSelfDischargeEntityValue": 100.0 * (float(now) / float(initial) - 1.0)}


def _temperature_stamp(root: dict[str, Any], _r: dict[str, Any], ctx: DumpContext) -> str:
    dyn = root.get("dynamic") or {}
    stamps = [c.ts(dyn[n]["updated_at"]) for n in _TEMPERATURES if dyn.get(n)]
    return max(stamps) if stamps else EPOCH


def _stamped_rows() -> list[Rule]:
    return [
        Rule(f"{COND}.{prop}", f"dynamic.{name}", c.stamped(key), required=True,
             placeholder={key: 0, "lastUpdate": EPOCH})
        for name, (prop, key) in DYNAMIC_STAMPED.items()
    ]


def _temperature_rows() -> list[Rule]:
    values = [
        Rule(f"{TEMP}.{prop}", f"dynamic.{name}.value", c.MINUTES, required=True, placeholder=0.0)
        for name, prop in _TEMPERATURES.items()
    ]
    stamps = [
        Rule(f"{TEMP}.lastUpdate", f"dynamic.{name}.updated_at", direction="import", attach=True)
        for name in (*_TEMPERATURES, "energy_throughput_kwh")
    ]
    return [*values, Rule(f"{COND}.energyThroughput", "dynamic.energy_throughput_kwh.value", required=True,
                          placeholder=0.0), *stamps,
            Rule(f"{TEMP}.lastUpdate", "", _derived(_temperature_stamp), direction="export")]


def _party_rows(prop: str, party: str) -> list[Rule]:
    return [
        Rule(f"{G}.{prop}.identifier", f"{party}.id"),
        Rule(f"{G}.{prop}.contactName", f"{party}.name"),
        Rule(f"{G}.{prop}.postalAddress", f"{party}.address", c.ADDRESS, placeholder=c.ADDRESS.dump(None, {}, DumpContext())),
    ]


def _extension_rows() -> list[Rule]:
    plain = [
        ("identifiers", "identifiers"), ("level", "level"), ("parent_battery_id", "parent_battery_id"),
        ("predecessor_passport_id", "predecessor_passport_id"), ("model", "model"),
        ("manufacturer_contact", "manufacturer.contact"), ("operator_contact", "operator.contact"),
        ("warranty_years", "warranty_years"), ("temperature_idle_max_c", "temperature_idle_max_c"),
        ("critical_raw_materials", "materials.critical_raw_materials"),
        ("cathode_materials", "materials.cathode_materials"), ("anode_materials", "materials.anode_materials"),
        ("electrolyte_materials", "materials.electrolyte_materials"), ("part_numbers", "dismantling.part_numbers"),
        ("dynamic.deep_discharge_events", "dynamic.deep_discharge_events"),
        ("dynamic.overcharge_events", "dynamic.overcharge_events"),
    ]
    rows = [Rule(f"{X}.format", "", _derived(lambda v, r, ctx: "circulith passport extension 1"), direction="export")]
    rows += [Rule(f"{X}.{key}", field) for key, field in plain]
    rows += [
        Rule(f"{X}.{name}_present", "", _derived(lambda v, r, ctx, n=name: v.get(n) is not None), direction="export")
        for name in PRESENCE
    ]
    rows += [Rule(f"{X}.updated_at.{n}", f"dynamic.{n}.updated_at", c.TIME, attach=True) for n in _DYNAMIC_ALL]
    rows.append(Rule(f"{X}.passport_id", "passport_id", c.ONLY_IF_IRREVERSIBLE))
    return rows


TABLE: tuple[Rule, ...] = (
    # -- GeneralProductInformation ---------------------------------------------------------------
    Rule(f"{G}.productIdentifier", "battery_id"),
    Rule(f"{G}.batteryPassportIdentifier", "passport_id", c.PASSPORT_ID),
    Rule(f"{G}.batteryCategory", "category", c.CATEGORY),
    *_party_rows("manufacturerInformation", "manufacturer"),
    Rule(f"{G}.manufacturingDate", "manufacturing_date", c.YEAR_MONTH),
    Rule(f"{G}.batteryStatus", "status", c.STATUS),
    Rule(f"{G}.batteryMass", "mass_kg"),
    Rule(f"{G}.manufacturingPlace", "manufacturing_place", c.ADDRESS_OR_BLANK),
    *_party_rows("operatorInformation", "operator"),
    Rule(f"{G}.puttingIntoService", "putting_into_service_date", c.YEAR_MONTH, required=True, placeholder=EPOCH),
    Rule(f"{G}.warrentyPeriod", "manufacturing_date", _derived(lambda v, r, ctx: "--" + v[5:7]), direction="export"),
    # -- CarbonFootprintForBatteries ------------------------------------------------------------------
    Rule(f"{CF}.batteryCarbonFootprint", "carbon_footprint.total_kg_co2e_per_kwh", required=True, placeholder=0.0),
    Rule(f"{CF}.carbonFootprintPerLifecycleStage", "carbon_footprint", c.STAGES_CODEC, placeholder=[], merge=True),
    Rule(f"{CF}.carbonFootprintPerformanceClass", "carbon_footprint.performance_class", c.BLANK_IS_NONE,
         required=True, placeholder=""),
    Rule(f"{CF}.carbonFootprintStudy", "carbon_footprint.study_url", c.BLANK_IS_NONE, required=True, placeholder=""),
    Rule(f"{CF}.absoluteCarbonFootprint", "carbon_footprint.absolute_t_co2e"),
    # -- SupplyChainDueDiligence -----------------------------------------------------------------------
    Rule("SupplyChainDueDiligence.supplyChainDueDiligenceReport", "due_diligence_report_url", c.BLANK_IS_NONE,
         required=True, placeholder=""),
    # -- MaterialComposition ----------------------------------------------------------------------------
    Rule(f"{MC}.batteryChemistry.shortName", "chemistry", c.CHEMISTRY),
    Rule(f"{MC}.batteryChemistry.clearName", "chemistry",
         _derived(lambda v, r, ctx: read_chemistry_windows()[v].name if v in read_chemistry_windows() else v),
         direction="export"),
    Rule(f"{MC}.batteryChemistry.shortName", "model", direction="import"),
    Rule(f"{MC}.hazardousSubstances", "materials.hazardous_substances", c.HAZARDS, placeholder=[]),
    Rule(f"{MC}.batteryMaterials", "materials", c.ELEMENTS, placeholder=[], merge=True),
    # -- Circularity ------------------------------------------------------------------------------------
    Rule(f"{CI}.dismantlingAndRemovalInformation", "dismantling.manual_urls", c.MANUALS, required=True,
         placeholder=[]),
    Rule(f"{CI}.sparePartSources", "dismantling.spare_part_sources", c.SOURCES, placeholder=[]),
    Rule(f"{CI}.sparePartSources", "dismantling.part_numbers", c.PARTS_FROM_SOURCES, direction="import"),
    Rule(f"{CI}.recycledContent", "recycled_content", c.RECYCLED, required=True, placeholder=[], merge=True),
    Rule(f"{CI}.safetyMeasures.safetyInstructions", "dismantling.safety_measures_url", c.BLANK_IS_NONE,
         required=True, placeholder=""),
    Rule(f"{CI}.safetyMeasures.extinguishingAgent", "extinguishing_agent", placeholder=[]),
    Rule(f"{CI}.endOfLifeInformation.wastePrevention", "end_of_life.waste_prevention_url", c.BLANK_IS_NONE,
         required=True, placeholder=""),
    Rule(f"{CI}.endOfLifeInformation.separateCollection", "end_of_life.separate_collection_url", c.BLANK_IS_NONE,
         required=True, placeholder=""),
    Rule(f"{CI}.endOfLifeInformation.informationOnCollection", "end_of_life.collection_info_url", c.BLANK_IS_NONE,
         required=True, placeholder=""),
    Rule(f"{CI}.renewableContent", "recycled_content.renewable_content_fraction", c.PERCENT, required=True,
         placeholder=0.0),
    # -- Labeling ---------------------------------------------------------------------------------------
    Rule(f"{LB}.declarationOfConformity", "declaration_of_conformity_url", c.BLANK_IS_NONE, required=True,
         placeholder=""),
    Rule(f"{LB}.resultOfTestReport", "test_report_url", c.BLANK_IS_NONE, required=True, placeholder=""),
    Rule(f"{LB}.labels", "labels", c.LABELS, placeholder=[]),
    # -- PerformanceAndDurability: technical properties ---------------------------------------------
    Rule(f"{TECH}.originalPowerCapability.0.atSoC", "original_power_w",
         _derived(lambda v, r, ctx: c.POWER_SOC_PCT), placeholder=c.POWER_SOC_PCT, direction="export"),
    Rule(f"{TECH}.originalPowerCapability.0.powerCapabilityAt", "original_power_w", required=True, placeholder=0.0),
    Rule(f"{TECH}.ratedMaximumPower", "max_permitted_power_w", required=True, placeholder=0.0),
    Rule(f"{TECH}.powerCapabilityRatio", "",
         _derived(lambda v, r, ctx: (v.get("original_power_w") or 0.0) / (1000.0 * v["rated_energy_kwh"])),
         direction="export"),
    Rule(f"{TECH}.ratedEnergy", "rated_energy_kwh"),
    Rule(f"{TECH}.expectedNumberOfCycles", "expected_lifetime_cycles", c.WHOLE, required=True, placeholder=0),
    Rule(f"{TECH}.initialSelfDischarge", "initial_self_discharge_pct_per_month", required=True, placeholder=0.0),
    Rule(f"{TECH}.roundtripEfficiency", "initial_round_trip_efficiency_pct", required=True, placeholder=0.0),
    Rule(f"{TECH}.ratedCapacity", "rated_capacity_ah"),
    Rule(f"{TECH}.initialInternalResistance.0.ohmicResistance", "internal_resistance_ohm", required=True,
         placeholder=0.0),
    Rule(f"{TECH}.initialInternalResistance.0.batteryComponent", "level"),
    Rule(f"{TECH}.expectedLifetime", "expected_lifetime_years", required=True, placeholder=0.0),
    Rule(f"{TECH}.nominalVoltage", "nominal_voltage_v"),
    Rule(f"{TECH}.minimumVoltage", "min_voltage_v"),
    Rule(f"{TECH}.maximumVoltage", "max_voltage_v"),
    Rule(f"{TECH}.capacityThresholdForExhaustion", "capacity_threshold_for_exhaustion_pct", required=True,
         placeholder=0.0),
    Rule(f"{TECH}.lifetimeReferenceTest", "cycle_life_reference_test", c.BLANK_IS_NONE, required=True,
         placeholder=""),
    Rule(f"{TECH}.cRateLifeCycleTest", "c_rate_cycle_life_test", required=True, placeholder=0.0),
    Rule(f"{TECH}.temperatureRangeIdleState", "temperature_idle_min_c", required=True, placeholder=0.0),
    # -- PerformanceAndDurability: battery condition (dynamic) ---------------------------------------
    *_stamped_rows(),
    *_temperature_rows(),
    Rule(f"{COND}.capacityFade", "", _derived(_capacity_fade), direction="export"),
    Rule(f"{COND}.negativeEvents", "dynamic.accidents", c.ACCIDENTS, placeholder=[]),
    Rule(f"{COND}.remainingPowerCapability", "dynamic.remaining_power_w", c.REMAINING_POWER, placeholder=[]),
    Rule(f"{COND}.powerFade", "", _derived(lambda v, r, ctx: _fade(
        _value(v, "remaining_power_w"), v.get("original_power_w"), ctx, "dynamic.remaining_power_w")),
         direction="export"),
    Rule(f"{COND}.roundTripEfficiencyFade", "", _derived(lambda v, r, ctx: _fade(
        _value(v, "round_trip_efficiency_pct"), v.get("initial_round_trip_efficiency_pct"), ctx,
        "dynamic.round_trip_efficiency_pct")), direction="export"),
    Rule(f"{COND}.evolutionOfSelfDischarge", "", _derived(_self_discharge_evolution), direction="export"),
    Rule(f"{COND}.internalResistanceIncrease", "dynamic.internal_resistance_increase_pct", c.RESISTANCE_INCREASE,
         required=True, placeholder=[]),
    Rule(f"{COND}.roundTripEfficiencyat50PerCentCycleLife", "round_trip_efficiency_at_50pct_cycle_life_pct",
         required=True, placeholder=0.0),
    # -- circulith extension: what the Battery Pass model cannot hold ---------------------------------
    *_extension_rows(),
)
