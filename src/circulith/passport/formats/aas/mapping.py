"""The one mapping table between a circulith passport and IDTA 02035 submodels (AAS v3), both ways.

Paths are view paths (:mod:`.environment`): submodel idShort, then element idShorts, list items by
position. Property values are text in AAS; the codecs convert them. Interpretations:

- The passport identifier is the shell's ``id``; the battery identifier is the nameplate's
  ``SerialNumber``; ``level`` is not in the submodels and is read as ``pack`` (a battery passport
  describes the battery placed on the market, Regulation (EU) 2023/1542, Art. 77(1)).
- ``CertifiedUsableBatteryEnergy`` is the rated energy; resistance is the pack-level value.
- ``xs:dateTime`` values without a time zone are read as UTC (reported as kept).
- ``WarrantyPeriod`` is an ISO 8601 duration (``P96M``, ``P8Y``), held in years.
- Times above/below temperature limits are in minutes, as in the Battery Pass model.
- ``NumberOfFullCyclesValue`` is typed ``xs:unsignedInt`` in the IDTA 02035-5 Product Condition
  template (``IDTA_02035-5_DBP-Part-5_ProductCondition``, semantic id
  ``urn:samm:io.admin-shell.idta.batterypass.product_condition:1.0.1#numberOfFullCyclesValue``),
  while circulith holds equivalent full cycles, which are fractional: the export writes the whole
  completed cycles (the floor, e.g. 570.2 -> 570), and the import reads that whole number back.
"""

from __future__ import annotations

import math
import re
from typing import Any

from circulith.passport.formats.batterypass.codecs import CHEMISTRY, ts
from circulith.passport.formats.batterypass.vocabulary import element_materials
from circulith.passport.formats.table import MISSING, Codec, DumpContext, Rule

__all__ = ["TABLE"]

NP = "BatteryNameplate"
TD = "TechnicalData.TechnicalPropertyAreas"
PC = "ProductCondition"
MC = "MaterialComposition"


def _number(v: Any) -> Any:
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return v
        return int(f) if f.is_integer() and re.fullmatch(r"[+-]?\d+", v.strip()) else f
    return v


NUM = Codec(lambda v, root, ctx: v, lambda v, doc: _number(v))
TEXT = Codec(lambda v, root, ctx: v, lambda v, doc: v if v not in (None, "") else MISSING)
DATE = Codec(lambda v, root, ctx: f"{v}-01", lambda v, doc: str(v)[:7] if v else MISSING)
STATUS = Codec(lambda v, root, ctx: str(v).capitalize(), lambda v, doc: str(v).lower() if v else MISSING)
CATEGORY = Codec(lambda v, root, ctx: {"EV": "ev", "LMT": "lmt"}.get(v, v),
                 lambda v, doc: {"ev": "EV", "lmt": "LMT"}.get(str(v).lower(), v) if v else MISSING)
MLP = Codec(lambda v, root, ctx: {"en": v},
            lambda v, doc: next((t for t in v.values() if t), MISSING) if isinstance(v, dict) else MISSING)
PACK = Codec(lambda v, root, ctx: MISSING, lambda v, doc: "pack")


def _aware(v: Any) -> Any:
    text = str(v)
    return text if re.search(r"(Z|[+-]\d{2}:\d{2})$", text) else text + "Z"


def _duration_load(v: Any, doc: dict[str, Any]) -> Any:
    m = re.fullmatch(r"P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?", str(v or ""))
    if not m or not any(m.groups()):
        return MISSING
    return float(m.group(1) or 0) + float(m.group(2) or 0) / 12.0


WARRANTY = Codec(lambda v, root, ctx: f"P{round(v * 12)}M" if float(v * 12).is_integer() else f"P{v}Y", _duration_load)


def stamped(value_key: str) -> Codec:
    """A dynamic value as the collection ``{value_key: value, "LastUpdate": time}``."""
    return Codec(
        lambda v, root, ctx: {value_key: v["value"], "LastUpdate": ts(v["updated_at"])},
        lambda v, doc: {"value": _number(v.get(value_key)), "updated_at": _aware(v.get("LastUpdate"))}
        if isinstance(v, dict) and v.get(value_key) not in (None, "") else MISSING,
    )


def _minutes(v: Any, doc: dict[str, Any]) -> Any:
    n = _number(v)
    return n / 60.0 if isinstance(n, int | float) else MISSING


MINUTES = Codec(lambda v, root, ctx: 60.0 * v, _minutes)


def _completed_cycles(v: dict[str, Any], root: dict[str, Any], ctx: DumpContext) -> Any:
    value = v.get("value")
    whole = math.floor(value) if isinstance(value, int | float) and math.isfinite(value) else value
    return STAMPED_CYCLES.dump({**v, "value": whole}, root, ctx)


STAMPED_CYCLES = stamped("NumberOfFullCyclesValue")
#: Equivalent full cycles as the whole cycles completed (the template's ``xs:unsignedInt``).
FULL_CYCLES = Codec(_completed_cycles, STAMPED_CYCLES.load)


def _materials_dump(materials: dict[str, Any], root: dict[str, Any], ctx: DumpContext) -> list[dict[str, Any]]:
    return [{"BatteryMaterialIdentifier": e.cas_number, "BatteryMaterialName": e.name,
             "BatteryMaterialMass": materials[e.field], "IsCriticalRawMaterial": e.critical_raw_material}
            for e in element_materials() if materials.get(e.field) is not None]


def _materials_load(items: Any, doc: dict[str, Any]) -> Any:
    if not isinstance(items, list):
        return MISSING
    by_cas = {e.cas_number: e.field for e in element_materials()}
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        field, mass = by_cas.get(str(item.get("BatteryMaterialIdentifier") or "").strip()), _number(
            item.get("BatteryMaterialMass"))
        if field is not None and isinstance(mass, int | float):
            out[field] = out.get(field, 0.0) + mass
    return out


MATERIALS = Codec(_materials_dump, _materials_load)

_STAMPED = {
    "energy_throughput_kwh": ("EnergyThroughput", "EnergyThroughputValue"),
    "capacity_throughput_ah": ("CapacityThroughput", "CapacityThroughputValue"),
    "full_cycles": ("NumberOfFullCycles", "NumberOfFullCyclesValue"),
    "soh_pct": ("StateOfCertifiedEnergy", "StateOfCertifiedEnergyValue"),
    "remaining_energy_kwh": ("RemainingEnergy", "RemainingEnergyValue"),
    "remaining_capacity_ah": ("RemainingCapacity", "RemainingCapacityValue"),
    "self_discharge_pct_per_month": ("CurrentSelfDischargingRate", "CurrentSelfDischargingRateValue"),
    "round_trip_efficiency_pct": ("RemainingRoundTripEnergyEfficiency", "RemainingRoundTripEnergyEfficiencyValue"),
    "soc_pct": ("StateOfCharge", "StateOfChargeValue"),
}
_TEMPERATURES = {
    "time_above_max_temp_h": "TimeExtremeHighTemp",
    "time_below_min_temp_h": "TimeExtremeLowTemp",
    "time_charging_above_max_temp_h": "TimeExtremeHighTempCharging",
    "time_charging_below_min_temp_h": "TimeExtremeLowTempCharging",
}
_RATED: dict[str, str] = {
    "nominal_voltage_v": "CapacityEnergyVoltage.NominalVoltage",
    "min_voltage_v": "CapacityEnergyVoltage.MinVoltage",
    "max_voltage_v": "CapacityEnergyVoltage.MaxVoltage",
    "rated_capacity_ah": "CapacityEnergyVoltage.RatedCapacity",
    "rated_energy_kwh": "CapacityEnergyVoltage.CertifiedUsableBatteryEnergy",
    "initial_round_trip_efficiency_pct": "RoundTripEnergyEfficiency.InitialRoundTripEnergyEfficiency",
    "round_trip_efficiency_at_50pct_cycle_life_pct":
        "RoundTripEnergyEfficiency.RoundTripEnergyEfficiencyAt50PercentOfCycleLife",
    "initial_self_discharge_pct_per_month": "RoundTripEnergyEfficiency.InitialSelfDischargingRate",
    "internal_resistance_ohm": "Resistance.InitialInternalResistanceOnBatteryPackLevel",
    "max_permitted_power_w": "PowerCapability.MaximumPermittedBatteryPower",
    "temperature_idle_min_c": "Temperature.TemperatureRangeIdleState_LowerBoundary",
    "temperature_idle_max_c": "Temperature.TemperatureRangeIdleState_UpperBoundary",
    "expected_lifetime_years": "Lifetime.ExpectedLifetimeInCalendarYears",
    "expected_lifetime_cycles": "Lifetime.ExpectedNumberOfCycles",
    "capacity_threshold_for_exhaustion_pct": "Lifetime.CapacityThresholdExhaustion",
    "c_rate_cycle_life_test": "Lifetime.CRateOfRelevantCycleLifeTest",
}

TABLE: tuple[Rule, ...] = (
    Rule("_shell.id", "passport_id"),
    Rule(f"{NP}.SerialNumber", "battery_id", TEXT),
    Rule(NP, "level", PACK, direction="import"),
    Rule(f"{NP}.ManufacturerIdentifier", "manufacturer.id", TEXT),
    Rule(f"{NP}.ManufacturerName", "manufacturer.name", MLP),
    Rule(f"{NP}.OperatorIdentifier", "operator.id", TEXT),
    Rule(f"{NP}.OperatorIdentifier", "operator.name", TEXT, direction="import"),
    Rule(f"{NP}.UniqueFacilityIdentifier", "manufacturing_place", TEXT),
    Rule(f"{NP}.DateOfManufacture", "manufacturing_date", DATE),
    Rule(f"{NP}.DateOfPuttingIntoService", "putting_into_service_date", DATE),
    Rule(f"{NP}.LifeCycleStage", "status", STATUS),
    Rule("TechnicalData.GeneralInformation.BatteryCategory", "category", CATEGORY),
    Rule("TechnicalData.GeneralInformation.BatteryMass", "mass_kg", NUM),
    Rule("TechnicalData.GeneralInformation.WarrantyInformation.WarrantyPeriod", "warranty_years", WARRANTY),
    *(Rule(f"{TD}.{path}", field, NUM) for field, path in _RATED.items()),
    Rule(f"{MC}.BatteryChemistry.ShortName", "chemistry", CHEMISTRY),
    Rule(f"{MC}.BatteryChemistry.ShortName", "model", TEXT, direction="import"),
    Rule(f"{MC}.BatteryMaterials", "materials", MATERIALS, merge=True),
    *(Rule(f"{PC}.{prop}", f"dynamic.{name}", FULL_CYCLES if name == "full_cycles" else stamped(key))
      for name, (prop, key) in _STAMPED.items()),
    *(Rule(f"{PC}.TemperatureInformation.{prop}", f"dynamic.{name}.value", MINUTES)
      for name, prop in _TEMPERATURES.items()),
    *(Rule(f"{PC}.TemperatureInformation.LastUpdate", f"dynamic.{name}.updated_at",
           Codec(lambda v, root, ctx: ts(v), lambda v, doc: _aware(v) if v else MISSING), attach=True,
           direction="import") for name in _TEMPERATURES),
    Rule(f"{PC}.TemperatureInformation.LastUpdate", "dynamic.time_above_max_temp_h.updated_at",
         Codec(lambda v, root, ctx: ts(v), lambda v, doc: MISSING), direction="export"),
    Rule(f"{PC}.RemainingPowerCapability.RemainingPowerCapabilityDynamicAt.PowerCapabilityAt",
         "dynamic.remaining_power_w.value", NUM),
    Rule(f"{PC}.RemainingPowerCapability.RemainingPowerCapabilityDynamicAt.RPCLastUpdated",
         "dynamic.remaining_power_w.updated_at", Codec(lambda v, root, ctx: ts(v), lambda v, doc: _aware(v)),
         attach=True),
)
