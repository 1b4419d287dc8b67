"""Shared foreign passport documents: the Battery Pass v1.2 example, minimally repaired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"
BATTERYPASS = SHARED / "batterypass"
CATENAX = SHARED / "catenax_battery_pass"
IDTA = SHARED / "idta02035"

ASPECTS = (
    "GeneralProductInformation", "CarbonFootprintForBatteries", "SupplyChainDueDiligence", "MaterialComposition",
    "Circularity", "Labeling", "PerformanceAndDurability",
)

#: The consortium's example payloads hold generated values (masses of -1.8e308 kg, voltages of
#: -3e38 V). The repair sets each impossible value to a physical one and fixes the published
#: schema defect (a CAS number with a trailing space); every other value stays as published.
REPAIRS: dict[str, object] = {
    "MaterialComposition.batteryMaterials.0.batteryMaterialIdentifier": "7439-93-2",
    "MaterialComposition.batteryMaterials.0.batteryMaterialMass": 1.5,
    "MaterialComposition.hazardousSubstances.0.hazardousSubstanceConcentration": 0.5,
    "MaterialComposition.hazardousSubstances.0.hazardousSubstanceIdentifier": "96-49-1",  # ethylene carbonate
    "CarbonFootprintForBatteries.batteryCarbonFootprint": 60.0,
    "CarbonFootprintForBatteries.carbonFootprintPerLifecycleStage.0.carbonFootprint": 40.0,
    "CarbonFootprintForBatteries.absoluteCarbonFootprint": 4.2,
    "Circularity.renewableContent": 12.5,
    # an accident before the battery was made (manufacturingDate 2025-06) cannot be: moved after it
    "PerformanceAndDurability.batteryCondition.negativeEvents.0.lastUpdate": "2025-07-31T14:06:29.437+01:00",
    "Circularity.recycledContent.0.postConsumerShare": 30.0,  # pre + post shares may not exceed 100 %
    "PerformanceAndDurability.batteryTechicalProperties.ratedEnergy": 0.72,
    "PerformanceAndDurability.batteryTechicalProperties.ratedCapacity": 20.0,
    "PerformanceAndDurability.batteryTechicalProperties.nominalVoltage": 36.0,
    "PerformanceAndDurability.batteryTechicalProperties.minimumVoltage": 25.0,
    "PerformanceAndDurability.batteryTechicalProperties.maximumVoltage": 42.0,
    "PerformanceAndDurability.batteryTechicalProperties.originalPowerCapability.0.atSoC": 50.0,
    "PerformanceAndDurability.batteryTechicalProperties.originalPowerCapability.0.powerCapabilityAt": 1500.0,
    "PerformanceAndDurability.batteryTechicalProperties.ratedMaximumPower": 2000.0,
    "PerformanceAndDurability.batteryTechicalProperties.initialInternalResistance.0.ohmicResistance": 0.12,
    "PerformanceAndDurability.batteryTechicalProperties.expectedLifetime": 8,
    "PerformanceAndDurability.batteryTechicalProperties.expectedNumberOfCycles": 1000,
    "PerformanceAndDurability.batteryTechicalProperties.cRateLifeCycleTest": 0.5,
    "PerformanceAndDurability.batteryTechicalProperties.cRate": 1.0,
    "PerformanceAndDurability.batteryTechicalProperties.capacityThresholdForExhaustion": 70.0,
    "PerformanceAndDurability.batteryTechicalProperties.roundtripEfficiency": 95.0,
    "PerformanceAndDurability.batteryTechicalProperties.initialSelfDischarge": 2.0,
    "PerformanceAndDurability.batteryTechicalProperties.powerCapabilityRatio": 2.08,
}


def _set(doc: dict, path: str, value: object) -> None:
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    cur = doc
    for k in keys[:-1]:
        cur = cur[k]
    cur[keys[-1]] = value


def read_example(repair: bool = True) -> dict:
    """The seven v1.2 example payloads as one document (UTF-8 as shared)."""
    if not BATTERYPASS.is_dir():
        pytest.skip(f"shared Battery Pass reference not found at {BATTERYPASS}")
    doc = {a: json.loads((BATTERYPASS / "payload" / f"{a}.payload.json").read_text(encoding="utf-8")) for a in ASPECTS}
    if repair:
        for path, value in REPAIRS.items():
            _set(doc, path, value)
        _repair_condition(doc["PerformanceAndDurability"]["batteryCondition"])
    return doc


def _repair_condition(cond: dict) -> None:
    """Dynamic values of the example: each generated number replaced by a physical one."""
    physical = {
        "numberOfFullCycles": ("numberOfFullCyclesValue", 120),
        "stateOfCharge": ("stateOfChargeValue", 55.0),
        "currentSelfDischargingRate": ("currentSelfDischargingRateEntity", 2.5),
        "stateOfCertifiedEnergy": ("stateOfCertifiedEnergyValue", 96.0),
        "remainingCapacity": ("remainingCapacityValue", 19.0),
        "remainingEnergy": ("remainingEnergyalue", 0.68),
        "capacityThroughput": ("capacityThroughputValue", 2400.0),
        "remainingRoundTripEnergyEfficiency": ("remainingRoundTripEnergyEfficiencyValue", 94.0),
        "capacityFade": ("capacityFadeValue", 5.0),
    }
    for prop, (key, value) in physical.items():
        if prop in cond:
            cond[prop][key] = value
    cond["roundTripEfficiencyat50PerCentCycleLife"] = 93.0
    cond["energyThroughput"] = 86.4
    cond["powerFade"] = 3.0
    cond["roundTripEfficiencyFade"] = 1.0
    temps = cond.get("temperatureInformation", {})
    for k in ("timeExtremeHighTemp", "timeExtremeLowTemp", "timeExtremeHighTempCharging", "timeExtremeLowTempCharging"):
        if k in temps:
            temps[k] = 30.0
    for rp in cond.get("remainingPowerCapability", []):
        rp["remainingPowerCapabilityValue"]["powerCapabilityAt"] = 1400.0
        rp["remainingPowerCapabilityValue"]["atSoC"] = 50.0
    for iri in cond.get("internalResistanceIncrease", []):
        iri["internalResistanceIncreaseValue"] = 8.0
    if "evolutionOfSelfDischarge" in cond:
        cond["evolutionOfSelfDischarge"]["evolutionOfSelfDischargeEntityValue"] = 25.0


@pytest.fixture
def batterypass_example() -> dict:
    return read_example()


def read_catenax_example(repair: bool = True) -> dict:
    """The Catena-X battery_pass 6.1.0 example payload (generated by the SAMM tooling).

    Its one impossible value, ``operation.intoServiceDate`` = ``7172-75-08`` (month 75), is repaired
    to a date after manufacture (``operation.manufacturer.manufacturingDate`` = 2000-01-31).
    """
    path = CATENAX / "6.1.0_BatteryPass.json"
    if not path.is_file():
        pytest.skip(f"shared Catena-X reference not found at {path}")
    doc = json.loads(path.read_text(encoding="utf-8"))
    if repair:
        doc["operation"]["intoServiceDate"] = "2000-02-01"
    return doc


def read_idta_examples(repair: bool = True) -> dict:
    """The seven IDTA 02035 example submodels (parts 1-7, with example values) in one AAS environment.

    The shell of part 1 (its id is the passport identifier) refers to all seven submodels. Repair:
    ``MaximumPermittedBatteryPower`` = 0 W (no battery has zero permitted power) becomes 300 W.
    """
    if not IDTA.is_dir():
        pytest.skip(f"shared IDTA 02035 reference not found at {IDTA}")
    env: dict = {"assetAdministrationShells": [], "submodels": [], "conceptDescriptions": []}
    for path in sorted(IDTA.glob("IDTA_02035-*_DBP-Part-*.json")):
        if "without" in path.name:
            continue
        part = json.loads(path.read_text(encoding="utf-8"))
        for key in env:
            env[key].extend(part.get(key) or [])
    shell = env["assetAdministrationShells"][0]
    shell["submodels"] = [r for s in env["assetAdministrationShells"] for r in s.get("submodels") or []]
    env["assetAdministrationShells"] = [shell]
    if repair:
        for sm in env["submodels"]:
            if sm["idShort"] == "TechnicalData":
                areas = next(e for e in sm["submodelElements"] if e["idShort"] == "TechnicalPropertyAreas")
                power = next(e for e in areas["value"] if e["idShort"] == "PowerCapability")
                prop = next(e for e in power["value"] if e["idShort"] == "MaximumPermittedBatteryPower")
                prop["value"] = "300"
    return env


def as_manufacturer(db: str, identifier: str) -> list[str]:
    """``["--as", ORG]`` for the manufacturer of the passport behind ``identifier``, registered first.

    The complete passport is exported to its manufacturer (and authorities) only, so the export tests
    act as the manufacturer, registered as an organisation of the registry as a user would do it.
    """
    from circulith.cli.main import run
    from circulith.passport.model import battery_key
    from circulith.store.database import create_db_engine, transaction
    from circulith.store.platform_repo import battery_by_identifier

    with transaction(create_db_engine(db)) as session:
        battery = battery_by_identifier(session, battery_key(identifier))
        assert battery is not None
        maker = battery.manufacturer_id
    assert run(["--db", db, "org", "add", maker, "--name", f"maker {maker}", "--role", "battery_maker"]) == 0
    return ["--as", maker]
