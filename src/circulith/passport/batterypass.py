"""Export a passport to the Battery Pass data model v1.2 and import it back.

The Battery Pass document is a dict with one entry per aspect (``GeneralProductInformation``,
``CarbonFootprintForBatteries``, ``SupplyChainDueDiligence``, ``MaterialComposition``,
``Circularity``, ``Labeling``, ``PerformanceAndDurability``), each valid against the aspect's JSON
Schema shipped in ``circulith/reference/batterypass/`` (Battery Pass consortium, CC BY 4.0), plus an
entry ``circulith`` carrying what the Battery Pass model cannot hold, so that
``import_batterypass(export_batterypass(p)) == p``.

The export is the operator's complete document, not an audience view: it includes the test reports
(authorities only) and the use data (legitimate interest only). Give audiences
:func:`circulith.passport.attributes.view` instead.

Defects of the published model, and what we do about them:

- ``batteryPassportIdentifier`` must match ``^urn:[a-z0-9]+:[a-z0-9]+$``: it rejects GS1 Digital Link
  and IEC 61406 identifiers and even a hyphenated ``urn:uuid``. We write ``urn:uuid:`` ids as
  ``urn:uuid:{32 hex digits}`` (hyphens dropped, reversible on import); any other passport id is
  written as ``urn:circulith:{first 32 hex digits of its SHA-256}`` and the real id travels in the
  ``circulith`` entry.
- ``manufacturingDate`` is a full timestamp where the Regulation asks for year and month: we write
  the first instant of the month in UTC and read back ``YYYY-MM``. Same for ``puttingIntoService``.
- ``warrentyPeriod`` (sic) is typed as a month of the year (``--MM``) and cannot hold a period: we
  write the month of manufacture and carry ``warranty_years`` in the ``circulith`` entry.
- ``temperatureRangeIdleState`` is one number for a range: we write the lower boundary; the upper
  one travels in the ``circulith`` entry.
- ``emailAddress`` of operator and manufacturer has a broken pattern (``[w.-]`` for ``[\\w.-]``) that
  rejects real addresses: we leave it out and carry ``contact`` in the ``circulith`` entry.
- misspelt property names (``warrentyPeriod``, ``batteryTechicalProperties``,
  ``remainingEnergyalue``, ``supplyChainIndicies``) are used as published in the document only;
  our own names are spelt correctly.
- Every ``batteryCondition`` entry is required, including values that only exist after use. A
  passport without them cannot be exported in strict mode (the error lists what is missing).

Derived values: capacity fade, power fade and round-trip-efficiency fade are computed from the
remaining and rated values; evolution of self-discharge from the current and initial rates; the
power-to-energy ratio from original power and rated energy. Original and remaining power are
declared at 80 % state of charge (Annex IV Part B(4) names 80 % and 20 %; we hold one value).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
from pydantic import ValidationError

from circulith.errors import InvalidInput, Problem
from circulith.passport.chemistry import read_chemistry_windows
from circulith.passport.identifiers import parse_identifier
from circulith.passport.model import (
    Accident,
    DynamicValue,
    Passport,
    validation_problems,
)

__all__ = [
    "ASPECTS",
    "export_batterypass",
    "import_batterypass",
    "read_batterypass_schema",
    "validate_aspect",
    "validate_batterypass",
]

ASPECTS: tuple[str, ...] = (
    "GeneralProductInformation",
    "CarbonFootprintForBatteries",
    "SupplyChainDueDiligence",
    "MaterialComposition",
    "Circularity",
    "Labeling",
    "PerformanceAndDurability",
)
EXTENSION = "circulith"
POWER_SOC_PCT = 80.0

#: Element field -> (Battery Pass material name, CAS number, component, critical raw material).
#: CAS Registry Numbers of the elements (CAS Common Chemistry); critical raw materials per
#: Regulation (EU) 2024/1252 (Critical Raw Materials Act), Annex II: cobalt, lithium, natural
#: graphite, nickel (battery grade) and manganese are listed, lead is not.
_ELEMENTS: dict[str, tuple[str, str, str, bool]] = {
    "cobalt_kg": ("Cobalt", "7440-48-4", "Cathode", True),
    "lithium_kg": ("Lithium", "7439-93-2", "Cathode", True),
    "nickel_kg": ("Nickel", "7440-02-0", "Cathode", True),
    "manganese_kg": ("Manganese", "7439-96-5", "Cathode", True),
    "natural_graphite_kg": ("Natural graphite", "7782-42-5", "Anode", True),
    "lead_kg": ("Lead", "7439-92-1", "Battery", False),
}
_STAGES = {
    "raw_materials_kg_co2e_per_kwh": "RawMaterialExtraction",
    "production_kg_co2e_per_kwh": "MainProduction",
    "distribution_kg_co2e_per_kwh": "Distribution",
    "end_of_life_kg_co2e_per_kwh": "Recycling",
}
_LABEL_SUBJECTS = {
    "separate_collection": "SeparateCollection",
    "cadmium_lead": "HazardousMaterial",
    "carbon_footprint": "CarbonFootPrint",
    "extinguishing_agent": "ExtinguishingAgent",
}
_METALS = {"nickel": "Nickel", "cobalt": "Cobalt", "lithium": "Lithium", "lead": "Lead"}
_DYNAMIC_IN_EXTENSION = ("deep_discharge_events", "overcharge_events")


# ---------------------------------------------------------------------------------------------
# schemas and validation
# ---------------------------------------------------------------------------------------------


@cache
def read_batterypass_schema(aspect: str) -> dict[str, Any]:
    """The shipped JSON Schema of one Battery Pass v1.2 aspect."""
    if aspect not in ASPECTS:
        raise InvalidInput(
            Problem(None, "aspect", f"unknown Battery Pass aspect {aspect!r}; known: {', '.join(ASPECTS)}")
        )
    path = files("circulith.reference").joinpath(f"batterypass/{aspect}.schema.json")
    return json.loads(path.read_text(encoding="utf-8"))


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


@cache
def _validator(aspect: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(read_batterypass_schema(aspect), format_checker=_FORMATS)


def validate_aspect(aspect: str, payload: Any) -> list[Problem]:
    """Problems of one aspect payload against its schema (empty when valid); field = aspect.path."""
    errors = sorted(_validator(aspect).iter_errors(payload), key=lambda e: list(e.absolute_path))
    out = []
    for e in errors:
        where = ".".join([aspect, *(str(p) for p in e.absolute_path)])
        out.append(Problem(None, where, e.message if len(e.message) < 300 else e.message[:300] + "..."))
    return out


def validate_batterypass(doc: dict[str, Any], *, aspects: tuple[str, ...] | None = None) -> None:
    """Validate a Battery Pass document aspect by aspect.

    Parameters
    ----------
    doc : dict
        Aspect name -> payload (other keys, such as the ``circulith`` entry, are ignored).
    aspects : tuple of str or None
        Aspects that must be present and valid; all seven when None.

    Raises
    ------
    InvalidInput
        Every schema violation, and every missing aspect.
    """
    problems: list[Problem] = []
    for aspect in aspects or ASPECTS:
        if aspect not in doc:
            problems.append(Problem(None, aspect, "aspect missing"))
            continue
        problems += validate_aspect(aspect, doc[aspect])
    if problems:
        raise InvalidInput(problems, source="Battery Pass document")


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------


def _ts(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _month_start(year_month: str) -> str:
    return f"{year_month}-01T00:00:00Z"


def _address(text: str | None) -> dict[str, str]:
    return {"streetAddress": text or "", "postalCode": "", "addressCountry": ""}


def _bp_passport_id(passport_id: str) -> tuple[str, bool]:
    """Battery Pass passport identifier and whether it is reversible."""
    ident = parse_identifier(passport_id)
    if ident.scheme == "urn" and ident.parts["nid"] == "uuid":
        return "urn:uuid:" + ident.parts["nss"].replace("-", ""), True
    digest = hashlib.sha256(passport_id.encode("utf-8")).hexdigest()[:32]
    return f"urn:circulith:{digest}", False


class _Missing:
    """Collects passport fields that a required Battery Pass property needs but are empty."""

    def __init__(self) -> None:
        self.fields: list[str] = []

    def need(self, value: Any, field: str, placeholder: Any = None) -> Any:
        if value is None:
            self.fields.append(field)
            return placeholder
        return value


def _party(p: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"identifier": p.id, "contactName": p.name, "postalAddress": _address(p.address)}
    return out


def _dv(m: _Missing, dv: DynamicValue | None, field: str) -> tuple[Any, str]:
    if dv is None or dv.value is None:
        m.fields.append(field)
        return 0, "1970-01-01T00:00:00Z"
    return dv.value, _ts(dv.updated_at)


def _stamped(key: str, value_and_time: tuple[Any, str]) -> dict[str, Any]:
    """A dynamic value in the Battery Pass shape: ``{key: value, "lastUpdate": time}``."""
    value, updated = value_and_time
    return {key: value, "lastUpdate": updated}


def _general(p: Passport, m: _Missing, bp_id: str) -> dict[str, Any]:
    return {
        "productIdentifier": p.battery_id,
        "batteryPassportIdentifier": bp_id,
        "batteryCategory": p.category.lower(),
        "manufacturerInformation": _party(p.manufacturer),
        "manufacturingDate": _month_start(p.manufacturing_date),
        "batteryStatus": p.status.capitalize(),
        "batteryMass": p.mass_kg,
        "manufacturingPlace": _address(p.manufacturing_place),
        "operatorInformation": _party(p.operator),
        "puttingIntoService": _month_start(
            m.need(p.putting_into_service_date, "putting_into_service_date", "1970-01")
        ),
        "warrentyPeriod": "--" + p.manufacturing_date[5:7],
    }


def _carbon(p: Passport, m: _Missing) -> dict[str, Any]:
    cf = p.carbon_footprint
    if cf is None:
        m.fields.append("carbon_footprint")
        return {}
    stages = []
    for field, stage in _STAGES.items():
        value = m.need(getattr(cf, field), f"carbon_footprint.{field}")
        if value is not None:
            stages.append({"lifecycleStage": stage, "carbonFootprint": value})
    out: dict[str, Any] = {
        "batteryCarbonFootprint": cf.total_kg_co2e_per_kwh,
        "carbonFootprintPerLifecycleStage": stages,
        "carbonFootprintPerformanceClass": m.need(
            cf.performance_class, "carbon_footprint.performance_class", ""
        ),
        "carbonFootprintStudy": m.need(cf.study_url, "carbon_footprint.study_url", ""),
    }
    if cf.absolute_t_co2e is not None:
        out["absoluteCarbonFootprint"] = cf.absolute_t_co2e
    return out


def _materials(p: Passport) -> dict[str, Any]:
    w = read_chemistry_windows()[p.chemistry]
    mats = []
    for field, mass in p.materials.element_masses_kg().items():
        name, cas, component, crm = _ELEMENTS[field]
        mats.append(
            {
                "batteryMaterialLocation": {"componentName": component},
                "batteryMaterialIdentifier": cas,
                "batteryMaterialName": name,
                "batteryMaterialMass": mass,
                "isCriticalRawMaterial": crm,
            }
        )
    hazards = [
        {
            "hazardousSubstanceClass": h.hazard_class,
            "hazardousSubstanceName": h.name,
            "hazardousSubstanceConcentration": h.concentration_pct,
            "hazardousSubstanceImpact": list(h.impacts),
            "hazardousSubstanceLocation": {"componentName": h.location},
            "hazardousSubstanceIdentifier": h.cas_number,
        }
        for h in p.materials.hazardous_substances
    ]
    return {
        "batteryChemistry": {"shortName": p.chemistry, "clearName": w.name},
        "batteryMaterials": mats,
        "hazardousSubstances": hazards,
    }


def _mime(url: str) -> str:
    return "application/pdf" if url.lower().split("?")[0].endswith(".pdf") else "text/html"


def _circularity(p: Passport, m: _Missing) -> dict[str, Any]:
    d, rc, eol = p.dismantling, p.recycled_content, p.end_of_life
    if d is None:
        m.fields.append("dismantling")
    if rc is None:
        m.fields.append("recycled_content")
    if eol is None:
        m.fields.append("end_of_life")
    docs = [
        {"documentType": "DismantlingManual", "mimeType": _mime(u), "documentURL": u}
        for u in (d.manual_urls if d else [])
    ]
    parts = {pn.part_number: pn for pn in (d.part_numbers if d else [])}
    sources = []
    for s in d.spare_part_sources if d else []:
        src: dict[str, Any] = {
            "nameOfSupplier": s.name,
            "addressOfSupplier": _address(s.address),
            "emailAddressOfSupplier": m.need(s.email, f"dismantling.spare_part_sources[{s.name}].email", ""),
            "supplierWebAddress": m.need(s.url, f"dismantling.spare_part_sources[{s.name}].url", ""),
            "components": [
                {"partName": parts[n].part_name if n in parts else "", "partNumber": n}
                for n in s.part_numbers
            ],
        }
        sources.append(src)
    recycled = []
    if rc is not None:
        for metal, name in _METALS.items():
            pre = getattr(rc, f"{metal}_pre_consumer_fraction")
            post = getattr(rc, f"{metal}_post_consumer_fraction")
            if pre is None and post is None:
                continue
            recycled.append(
                {
                    "recycledMaterial": name,
                    "preConsumerShare": 100.0 * (pre or 0.0),
                    "postConsumerShare": 100.0 * (post or 0.0),
                }
            )
    renewable = rc.renewable_content_fraction if rc is not None else None
    return {
        "dismantlingAndRemovalInformation": docs,
        "sparePartSources": sources,
        "recycledContent": recycled,
        "safetyMeasures": {
            "safetyInstructions": m.need(
                d.safety_measures_url if d else None, "dismantling.safety_measures_url", ""
            ),
            "extinguishingAgent": list(p.extinguishing_agent),
        },
        "endOfLifeInformation": {
            "wastePrevention": m.need(
                eol.waste_prevention_url if eol else None, "end_of_life.waste_prevention_url", ""
            ),
            "separateCollection": m.need(
                eol.separate_collection_url if eol else None, "end_of_life.separate_collection_url", ""
            ),
            "informationOnCollection": m.need(
                eol.collection_info_url if eol else None, "end_of_life.collection_info_url", ""
            ),
        },
        "renewableContent": 100.0 * m.need(renewable, "recycled_content.renewable_content_fraction", 0.0),
    }


def _labeling(p: Passport, m: _Missing) -> dict[str, Any]:
    return {
        "declarationOfConformity": m.need(
            p.declaration_of_conformity_url, "declaration_of_conformity_url", ""
        ),
        "resultOfTestReport": m.need(p.test_report_url, "test_report_url", ""),
        "labels": [
            {
                "labelingSubject": _LABEL_SUBJECTS[lb.subject],
                "labelingSymbol": lb.symbol_url,
                "labelingMeaning": {"en": lb.meaning},
            }
            for lb in p.labels
        ],
    }


def _fade(m: _Missing, now: DynamicValue | None, rated: float | None, field: str) -> float:
    if now is None or now.value is None or rated is None:
        m.fields.append(field)
        return 0.0
    return 100.0 * (1.0 - float(now.value) / rated)


def _performance(p: Passport, m: _Missing) -> dict[str, Any]:
    d = p.dynamic
    tech = {
        "originalPowerCapability": [
            {"atSoC": POWER_SOC_PCT, "powerCapabilityAt": m.need(p.original_power_w, "original_power_w", 0.0)}
        ],
        "ratedMaximumPower": m.need(p.max_permitted_power_w, "max_permitted_power_w", 0.0),
        "powerCapabilityRatio": (p.original_power_w or 0.0) / (1000.0 * p.rated_energy_kwh),
        "ratedEnergy": p.rated_energy_kwh,
        "expectedNumberOfCycles": m.need(p.expected_lifetime_cycles, "expected_lifetime_cycles", 0),
        "initialSelfDischarge": m.need(
            p.initial_self_discharge_pct_per_month, "initial_self_discharge_pct_per_month", 0.0
        ),
        "roundtripEfficiency": m.need(
            p.initial_round_trip_efficiency_pct, "initial_round_trip_efficiency_pct", 0.0
        ),
        "ratedCapacity": p.rated_capacity_ah,
        "initialInternalResistance": [
            {
                "ohmicResistance": m.need(p.internal_resistance_ohm, "internal_resistance_ohm", 0.0),
                "batteryComponent": p.level,
            }
        ],
        "expectedLifetime": m.need(p.expected_lifetime_years, "expected_lifetime_years", 0.0),
        "nominalVoltage": p.nominal_voltage_v,
        "minimumVoltage": p.min_voltage_v,
        "maximumVoltage": p.max_voltage_v,
        "capacityThresholdForExhaustion": m.need(
            p.capacity_threshold_for_exhaustion_pct, "capacity_threshold_for_exhaustion_pct", 0.0
        ),
        "lifetimeReferenceTest": m.need(p.cycle_life_reference_test, "cycle_life_reference_test", ""),
        "cRateLifeCycleTest": m.need(p.c_rate_cycle_life_test, "c_rate_cycle_life_test", 0.0),
        "temperatureRangeIdleState": m.need(p.temperature_idle_min_c, "temperature_idle_min_c", 0.0),
    }
    temps = [
        d.time_above_max_temp_h,
        d.time_below_min_temp_h,
        d.time_charging_above_max_temp_h,
        d.time_charging_below_min_temp_h,
    ]
    names = [
        "time_above_max_temp_h",
        "time_below_min_temp_h",
        "time_charging_above_max_temp_h",
        "time_charging_below_min_temp_h",
    ]
    t_vals = [_dv(m, t, f"dynamic.{n}") for t, n in zip(temps, names, strict=True)]
    rte_now = d.round_trip_efficiency_pct
    sd_now = d.self_discharge_pct_per_month
    sd_initial = p.initial_self_discharge_pct_per_month
    if sd_now is None or sd_now.value is None or not sd_initial:
        m.fields.append("dynamic.self_discharge_pct_per_month")
        sd_evolution = 0.0
    else:
        sd_evolution = 100.0 * (float(sd_now.value) / sd_initial - 1.0)
    energy_throughput, _ = _dv(m, d.energy_throughput_kwh, "dynamic.energy_throughput_kwh")
    cond = {
        "energyThroughput": energy_throughput,
        "capacityThroughput": _stamped("capacityThroughputValue", _dv(m, d.capacity_throughput_ah, "dynamic.capacity_throughput_ah")),
        "numberOfFullCycles": _stamped("numberOfFullCyclesValue", _dv(m, d.full_cycles, "dynamic.full_cycles")),
        "stateOfCertifiedEnergy": _stamped("stateOfCertifiedEnergyValue", _dv(m, d.soh_pct, "dynamic.soh_pct")),
        "capacityFade": {
            "capacityFadeValue": _fade(
                m, d.remaining_capacity_ah, p.rated_capacity_ah, "dynamic.remaining_capacity_ah"
            ),
            "lastUpdate": _dv(_Missing(), d.remaining_capacity_ah, "")[1],
        },
        "remainingEnergy": _stamped("remainingEnergyalue",  # (sic: the v1.2 schema's property name)
                                     _dv(m, d.remaining_energy_kwh, "dynamic.remaining_energy_kwh")),
        "remainingCapacity": _stamped("remainingCapacityValue", _dv(m, d.remaining_capacity_ah, "dynamic.remaining_capacity_ah")),
        "negativeEvents": [
            {"negativeEvent": f"{a.kind}: {a.description}", "lastUpdate": f"{a.date.isoformat()}T00:00:00Z"}
            for a in d.accidents
        ],
        "temperatureInformation": {
            "timeExtremeHighTemp": 60.0 * t_vals[0][0],
            "timeExtremeLowTemp": 60.0 * t_vals[1][0],
            "timeExtremeHighTempCharging": 60.0 * t_vals[2][0],
            "timeExtremeLowTempCharging": 60.0 * t_vals[3][0],
            "lastUpdate": max(v[1] for v in t_vals),
        },
        "remainingPowerCapability": [],
        "powerFade": _fade(m, d.remaining_power_w, p.original_power_w, "dynamic.remaining_power_w"),
        "roundTripEfficiencyFade": _fade(
            m, rte_now, p.initial_round_trip_efficiency_pct, "dynamic.round_trip_efficiency_pct"
        ),
        "evolutionOfSelfDischarge": {"evolutionOfSelfDischargeEntityValue": sd_evolution},
        "currentSelfDischargingRate": _stamped("currentSelfDischargingRateEntity", _dv(m, sd_now, "dynamic.self_discharge_pct_per_month")),
        "internalResistanceIncrease": [],
        "roundTripEfficiencyat50PerCentCycleLife": m.need(
            p.round_trip_efficiency_at_50pct_cycle_life_pct,
            "round_trip_efficiency_at_50pct_cycle_life_pct",
            0.0,
        ),
        "remainingRoundTripEnergyEfficiency": _stamped("remainingRoundTripEnergyEfficiencyValue", _dv(m, rte_now, "dynamic.round_trip_efficiency_pct")),
        "stateOfCharge": dict(
            zip(("stateOfChargeValue", "lastUpdate"), _dv(m, d.soc_pct, "dynamic.soc_pct"), strict=True)
        ),
    }
    rp = d.remaining_power_w
    if rp is not None and rp.value is not None:
        cond["remainingPowerCapability"] = [
            {
                "remainingPowerCapabilityValue": {
                    "atSoC": POWER_SOC_PCT,
                    "powerCapabilityAt": rp.value,
                    "rPCLastUpdated": _ts(rp.updated_at),
                },
                "lastUpdate": _ts(rp.updated_at),
            }
        ]
    iri = d.internal_resistance_increase_pct
    if iri is not None and iri.value is not None:
        cond["internalResistanceIncrease"] = [
            {
                "internalResistanceIncreaseValue": iri.value,
                "batteryComponent": p.level,
                "lastUpdate": _ts(iri.updated_at),
            }
        ]
    else:
        m.fields.append("dynamic.internal_resistance_increase_pct")
    return {"batteryTechicalProperties": tech, "batteryCondition": cond}


def _extension(p: Passport, reversible_id: bool) -> dict[str, Any]:
    dyn = p.dynamic
    ext: dict[str, Any] = {
        "format": "circulith passport extension 1",
        "identifiers": list(p.identifiers),
        "level": p.level,
        "parent_battery_id": p.parent_battery_id,
        "predecessor_passport_id": p.predecessor_passport_id,
        "model": p.model,
        "manufacturer_contact": p.manufacturer.contact,
        "operator_contact": p.operator.contact,
        "warranty_years": p.warranty_years,
        "temperature_idle_max_c": p.temperature_idle_max_c,
        "critical_raw_materials": list(p.materials.critical_raw_materials),
        "cathode_materials": list(p.materials.cathode_materials),
        "anode_materials": list(p.materials.anode_materials),
        "electrolyte_materials": list(p.materials.electrolyte_materials),
        "part_numbers": [pn.model_dump() for pn in (p.dismantling.part_numbers if p.dismantling else [])],
        "dismantling_present": p.dismantling is not None,
        "end_of_life_present": p.end_of_life is not None,
        "recycled_content_present": p.recycled_content is not None,
        "dynamic": {
            n: getattr(dyn, n).model_dump(mode="json") if getattr(dyn, n) else None
            for n in _DYNAMIC_IN_EXTENSION
        },
        "updated_at": {
            n: _ts(getattr(dyn, n).updated_at)
            for n in type(dyn).model_fields
            if n != "accidents" and getattr(dyn, n) is not None
        },
    }
    if not reversible_id:
        ext["passport_id"] = p.passport_id
    return ext


def export_batterypass(passport: Passport, *, strict: bool = True, validate: bool = True) -> dict[str, Any]:
    """The passport as a Battery Pass v1.2 document (seven aspects plus a ``circulith`` entry).

    Parameters
    ----------
    passport : Passport
        The passport.
    strict : bool
        Refuse (``InvalidInput``) when a property the Battery Pass schema requires has no value in
        the passport. When False, such properties get placeholders (0, "", epoch) -- the document is
        then schema-valid but those values are not data; use only for previews.
    validate : bool
        Validate every aspect against its schema before returning.

    Raises
    ------
    InvalidInput
        Missing required values (strict), or schema violations (validate).
    """
    m = _Missing()
    bp_id, reversible = _bp_passport_id(passport.passport_id)
    doc = {
        "GeneralProductInformation": _general(passport, m, bp_id),
        "CarbonFootprintForBatteries": _carbon(passport, m),
        "SupplyChainDueDiligence": {
            "supplyChainDueDiligenceReport": m.need(
                passport.due_diligence_report_url, "due_diligence_report_url", ""
            )
        },
        "MaterialComposition": _materials(passport),
        "Circularity": _circularity(passport, m),
        "Labeling": _labeling(passport, m),
        "PerformanceAndDurability": _performance(passport, m),
        EXTENSION: _extension(passport, reversible),
    }
    if strict and m.fields:
        missing = list(dict.fromkeys(m.fields))
        raise InvalidInput(
            [
                Problem(None, f, "required by the Battery Pass v1.2 schema but empty", passport.battery_id)
                for f in missing
            ],
            source="Battery Pass export",
        )
    if validate:
        validate_batterypass(doc)
    return doc


# ---------------------------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------------------------


def _passport_id_from_bp(bp_id: str) -> str:
    m = re.match(r"^urn:uuid:([0-9a-f]{32})$", bp_id)
    if m:
        h = m.group(1)
        return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return bp_id


def _street(addr: dict[str, Any] | None) -> str | None:
    if not addr:
        return None
    parts = [addr.get("streetAddress") or "", addr.get("postalCode") or "", addr.get("addressCountry") or ""]
    text = ", ".join(x for x in parts if x)
    return text or None


def _year_month(ts: str) -> str:
    return ts[:7]


def _dynamic_value(value: Any, ts: str, override: str | None) -> dict[str, Any]:
    return {"value": value, "updated_at": override or ts}


def import_batterypass(doc: dict[str, Any], *, validate: bool = True) -> Passport:
    """Build a :class:`Passport` from a Battery Pass v1.2 document (inverse of :func:`export_batterypass`).

    Fields the Battery Pass model cannot hold are read from the ``circulith`` entry when present.
    Derived values (fades, self-discharge evolution, power-to-energy ratio) are not read back.

    Raises
    ------
    InvalidInput
        Schema violations (``validate``), missing aspects, or values that make an invalid passport.
    """
    if validate:
        validate_batterypass(doc)
    ext: dict[str, Any] = doc.get(EXTENSION) or {}
    upd: dict[str, str] = ext.get("updated_at") or {}
    g = doc["GeneralProductInformation"]
    cf = doc["CarbonFootprintForBatteries"]
    mc = doc["MaterialComposition"]
    ci = doc["Circularity"]
    lb = doc["Labeling"]
    tech = doc["PerformanceAndDurability"]["batteryTechicalProperties"]
    cond = doc["PerformanceAndDurability"]["batteryCondition"]

    def party(info: dict[str, Any], contact: str | None) -> dict[str, Any]:
        return {
            "id": info["identifier"],
            "name": info["contactName"],
            "address": _street(info.get("postalAddress")),
            "contact": contact,
        }

    materials: dict[str, Any] = {
        "critical_raw_materials": ext.get("critical_raw_materials", []),
        "cathode_materials": ext.get("cathode_materials", []),
        "anode_materials": ext.get("anode_materials", []),
        "electrolyte_materials": ext.get("electrolyte_materials", []),
        "hazardous_substances": [
            {
                "name": h["hazardousSubstanceName"],
                "cas_number": h["hazardousSubstanceIdentifier"],
                "hazard_class": h["hazardousSubstanceClass"],
                "concentration_pct": h["hazardousSubstanceConcentration"],
                "location": h["hazardousSubstanceLocation"]["componentName"],
                "impacts": h["hazardousSubstanceImpact"],
            }
            for h in mc["hazardousSubstances"]
        ],
    }
    by_name = {v[0]: k for k, v in _ELEMENTS.items()}
    for mat in mc["batteryMaterials"]:
        field = by_name.get(mat["batteryMaterialName"])
        if field is None:
            raise InvalidInput(
                Problem(
                    None,
                    "MaterialComposition.batteryMaterials",
                    f"material {mat['batteryMaterialName']!r} has no passport field",
                )
            )
        materials[field] = mat["batteryMaterialMass"]

    stages = {s["lifecycleStage"]: s["carbonFootprint"] for s in cf["carbonFootprintPerLifecycleStage"]}
    carbon = {
        "total_kg_co2e_per_kwh": cf["batteryCarbonFootprint"],
        **{field: stages.get(stage) for field, stage in _STAGES.items()},
        "performance_class": cf["carbonFootprintPerformanceClass"] or None,
        "study_url": cf["carbonFootprintStudy"] or None,
        "absolute_t_co2e": cf.get("absoluteCarbonFootprint"),
    }

    recycled: dict[str, Any] | None = None
    if ext.get("recycled_content_present", True):
        recycled = {"renewable_content_fraction": ci["renewableContent"] / 100.0}
        names = {v: k for k, v in _METALS.items()}
        for r in ci["recycledContent"]:
            metal = names[r["recycledMaterial"]]
            recycled[f"{metal}_pre_consumer_fraction"] = r["preConsumerShare"] / 100.0
            recycled[f"{metal}_post_consumer_fraction"] = r["postConsumerShare"] / 100.0

    part_numbers: list[dict[str, str]] = list(ext.get("part_numbers") or [])
    known = {pn["part_number"] for pn in part_numbers}
    sources = []
    for s in ci["sparePartSources"]:
        for c in s["components"]:
            if c["partNumber"] not in known:
                part_numbers.append({"part_name": c["partName"], "part_number": c["partNumber"]})
                known.add(c["partNumber"])
        sources.append(
            {
                "name": s["nameOfSupplier"],
                "address": _street(s.get("addressOfSupplier")),
                "email": s["emailAddressOfSupplier"] or None,
                "url": s["supplierWebAddress"] or None,
                "part_numbers": [c["partNumber"] for c in s["components"]],
            }
        )
    dismantling = None
    if ext.get("dismantling_present", True):
        dismantling = {
            "manual_urls": [d["documentURL"] for d in ci["dismantlingAndRemovalInformation"]],
            "part_numbers": part_numbers,
            "spare_part_sources": sources,
            "safety_measures_url": ci["safetyMeasures"]["safetyInstructions"] or None,
        }
    eol = ci["endOfLifeInformation"]
    end_of_life = None
    if ext.get("end_of_life_present", True):
        end_of_life = {
            "waste_prevention_url": eol["wastePrevention"] or None,
            "separate_collection_url": eol["separateCollection"] or None,
            "collection_info_url": eol["informationOnCollection"] or None,
        }
    subjects = {v: k for k, v in _LABEL_SUBJECTS.items()}
    labels = [
        {
            "subject": subjects[x["labelingSubject"]],
            "symbol_url": x["labelingSymbol"],
            "meaning": (x.get("labelingMeaning") or {}).get("en", ""),
        }
        for x in lb["labels"]
    ]

    temps = cond["temperatureInformation"]
    t_ts = temps["lastUpdate"]
    dynamic: dict[str, Any] = {
        "soh_pct": _dynamic_value(
            cond["stateOfCertifiedEnergy"]["stateOfCertifiedEnergyValue"],
            cond["stateOfCertifiedEnergy"]["lastUpdate"],
            upd.get("soh_pct"),
        ),
        "remaining_capacity_ah": _dynamic_value(
            cond["remainingCapacity"]["remainingCapacityValue"],
            cond["remainingCapacity"]["lastUpdate"],
            upd.get("remaining_capacity_ah"),
        ),
        "remaining_energy_kwh": _dynamic_value(
            cond["remainingEnergy"]["remainingEnergyalue"],
            cond["remainingEnergy"]["lastUpdate"],
            upd.get("remaining_energy_kwh"),
        ),
        "full_cycles": _dynamic_value(
            cond["numberOfFullCycles"]["numberOfFullCyclesValue"],
            cond["numberOfFullCycles"]["lastUpdate"],
            upd.get("full_cycles"),
        ),
        "energy_throughput_kwh": _dynamic_value(
            cond["energyThroughput"], upd.get("energy_throughput_kwh") or t_ts, None
        ),
        "capacity_throughput_ah": _dynamic_value(
            cond["capacityThroughput"]["capacityThroughputValue"],
            cond["capacityThroughput"]["lastUpdate"],
            upd.get("capacity_throughput_ah"),
        ),
        "time_above_max_temp_h": _dynamic_value(
            temps["timeExtremeHighTemp"] / 60.0, t_ts, upd.get("time_above_max_temp_h")
        ),
        "time_below_min_temp_h": _dynamic_value(
            temps["timeExtremeLowTemp"] / 60.0, t_ts, upd.get("time_below_min_temp_h")
        ),
        "time_charging_above_max_temp_h": _dynamic_value(
            temps["timeExtremeHighTempCharging"] / 60.0, t_ts, upd.get("time_charging_above_max_temp_h")
        ),
        "time_charging_below_min_temp_h": _dynamic_value(
            temps["timeExtremeLowTempCharging"] / 60.0, t_ts, upd.get("time_charging_below_min_temp_h")
        ),
        "soc_pct": _dynamic_value(
            cond["stateOfCharge"]["stateOfChargeValue"],
            cond["stateOfCharge"]["lastUpdate"],
            upd.get("soc_pct"),
        ),
        "round_trip_efficiency_pct": _dynamic_value(
            cond["remainingRoundTripEnergyEfficiency"]["remainingRoundTripEnergyEfficiencyValue"],
            cond["remainingRoundTripEnergyEfficiency"]["lastUpdate"],
            upd.get("round_trip_efficiency_pct"),
        ),
        "self_discharge_pct_per_month": _dynamic_value(
            cond["currentSelfDischargingRate"]["currentSelfDischargingRateEntity"],
            cond["currentSelfDischargingRate"]["lastUpdate"],
            upd.get("self_discharge_pct_per_month"),
        ),
        "accidents": [],
    }
    for rp in cond["remainingPowerCapability"][:1]:
        v = rp["remainingPowerCapabilityValue"]
        dynamic["remaining_power_w"] = _dynamic_value(
            v["powerCapabilityAt"], rp["lastUpdate"], upd.get("remaining_power_w")
        )
    for iri in cond["internalResistanceIncrease"][:1]:
        dynamic["internal_resistance_increase_pct"] = _dynamic_value(
            iri["internalResistanceIncreaseValue"],
            iri["lastUpdate"],
            upd.get("internal_resistance_increase_pct"),
        )
    kinds = set(Accident.model_fields["kind"].annotation.__args__)  # type: ignore[union-attr]
    for ev in cond["negativeEvents"]:
        kind, _, desc = ev["negativeEvent"].partition(": ")
        if kind not in kinds:
            kind, desc = "other", ev["negativeEvent"]
        dynamic["accidents"].append({"date": ev["lastUpdate"][:10], "kind": kind, "description": desc})
    for name, value in (ext.get("dynamic") or {}).items():
        if name in _DYNAMIC_IN_EXTENSION and value is not None:
            dynamic[name] = value

    data: dict[str, Any] = {
        "passport_id": ext.get("passport_id") or _passport_id_from_bp(g["batteryPassportIdentifier"]),
        "battery_id": g["productIdentifier"],
        "identifiers": ext.get("identifiers", []),
        "level": ext.get("level") or tech["initialInternalResistance"][0]["batteryComponent"],
        "parent_battery_id": ext.get("parent_battery_id"),
        "predecessor_passport_id": ext.get("predecessor_passport_id"),
        "category": {"ev": "EV", "lmt": "LMT"}.get(g["batteryCategory"], g["batteryCategory"]),
        "chemistry": mc["batteryChemistry"]["shortName"],
        "model": ext.get("model") or mc["batteryChemistry"]["shortName"],
        "manufacturer": party(g["manufacturerInformation"], ext.get("manufacturer_contact")),
        "operator": party(g["operatorInformation"], ext.get("operator_contact")),
        "manufacturing_place": _street(g["manufacturingPlace"]) or "",
        "manufacturing_date": _year_month(g["manufacturingDate"]),
        "putting_into_service_date": _year_month(g["puttingIntoService"]),
        "status": g["batteryStatus"].lower(),
        "mass_kg": g["batteryMass"],
        "rated_capacity_ah": tech["ratedCapacity"],
        "rated_energy_kwh": tech["ratedEnergy"],
        "nominal_voltage_v": tech["nominalVoltage"],
        "min_voltage_v": tech["minimumVoltage"],
        "max_voltage_v": tech["maximumVoltage"],
        "original_power_w": tech["originalPowerCapability"][0]["powerCapabilityAt"]
        if tech["originalPowerCapability"]
        else None,
        "max_permitted_power_w": tech["ratedMaximumPower"],
        "internal_resistance_ohm": tech["initialInternalResistance"][0]["ohmicResistance"]
        if tech["initialInternalResistance"]
        else None,
        "expected_lifetime_years": tech["expectedLifetime"],
        "expected_lifetime_cycles": int(tech["expectedNumberOfCycles"]),
        "warranty_years": ext.get("warranty_years"),
        "cycle_life_reference_test": tech["lifetimeReferenceTest"] or None,
        "c_rate_cycle_life_test": tech["cRateLifeCycleTest"],
        "capacity_threshold_for_exhaustion_pct": tech["capacityThresholdForExhaustion"],
        "temperature_idle_min_c": tech["temperatureRangeIdleState"],
        "temperature_idle_max_c": ext.get("temperature_idle_max_c"),
        "initial_round_trip_efficiency_pct": tech["roundtripEfficiency"],
        "round_trip_efficiency_at_50pct_cycle_life_pct": cond["roundTripEfficiencyat50PerCentCycleLife"],
        "initial_self_discharge_pct_per_month": tech["initialSelfDischarge"],
        "materials": materials,
        "carbon_footprint": carbon,
        "recycled_content": recycled,
        "dismantling": dismantling,
        "end_of_life": end_of_life,
        "extinguishing_agent": ci["safetyMeasures"]["extinguishingAgent"],
        "labels": labels,
        "due_diligence_report_url": doc["SupplyChainDueDiligence"]["supplyChainDueDiligenceReport"] or None,
        "declaration_of_conformity_url": lb["declarationOfConformity"] or None,
        "test_report_url": lb["resultOfTestReport"] or None,
        "dynamic": dynamic,
    }
    try:
        return Passport.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(
            validation_problems(exc, record_id=str(data["battery_id"])), source="Battery Pass import"
        ) from None
