"""Example passports for tests and demos: a realistic NMC622 EV pack.

The figures are illustrative, not reference data. The pack is 96 cells in series (NMC622 cell window
2.5-4.2 V, nominal 3.65 V from ``chemistries.csv``; the BMS window 3.0-4.2 V per cell is an
assumption), 214 Ah, 75 kWh, 480 kg (156 Wh/kg, near the catalogue's 160 Wh/kg pack value).
Element masses follow the LiNi0.6Mn0.2Co0.2O2 stoichiometry (IUPAC 2021 standard atomic weights)
with an *assumed* cathode active material loading of 1.4 kg/kWh, graphite 1.0 kg/kWh and a 50 %
natural-graphite share. Carbon footprint, recycled content and dates are made up for the example.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from circulith.passport.identifiers import mint_gbt34014, mint_gs1_digital_link, mint_passport_id
from circulith.passport.model import Passport

__all__ = ["NMC622_MASS_FRACTIONS", "example_passport", "example_passport_data"]

#: IUPAC standard atomic weights [g/mol] (abridged values).
_ATOMIC_WEIGHT = {"Li": 6.94, "Ni": 58.693, "Mn": 54.938, "Co": 58.933, "O": 15.999}
_NMC622 = {"Li": 1.0, "Ni": 0.6, "Mn": 0.2, "Co": 0.2, "O": 2.0}
_M = sum(_ATOMIC_WEIGHT[e] * n for e, n in _NMC622.items())
#: Element mass fractions of LiNi0.6Mn0.2Co0.2O2 [-].
NMC622_MASS_FRACTIONS = {e: _ATOMIC_WEIGHT[e] * n / _M for e, n in _NMC622.items()}

_CAM_KG_PER_KWH = 1.4  # assumption: cathode active material per kWh
_GRAPHITE_KG_PER_KWH = 1.0  # assumption
_NATURAL_GRAPHITE_SHARE = 0.5  # assumption

_GTIN = "9506000134352"  # the GS1 documentation example GTIN-13


def example_passport_data(serial: str = "000001", *, seed: int = 0) -> dict[str, Any]:
    """The fields of :func:`example_passport` as a plain dict (JSON-ready)."""
    rng = random.Random(seed)
    energy_kwh = 75.0
    cam_kg = _CAM_KG_PER_KWH * energy_kwh
    graphite_kg = _GRAPHITE_KG_PER_KWH * energy_kwh
    f = NMC622_MASS_FRACTIONS
    updated = "2025-01-15T08:30:00+00:00"
    serial_no = int("".join(c for c in serial if c.isdigit()) or "1") % 9_999_999 or 1
    return {
        "passport_id": mint_passport_id(rng),
        "battery_id": mint_gs1_digital_link(_GTIN, f"EV{serial}"),
        "identifiers": [mint_gbt34014("05A", "P", "E", "A1", "0000001", dt.date(2023, 4, 17), serial_no)],
        "level": "pack",
        "category": "EV",
        "chemistry": "NMC622",
        "model": "EXP-75-NMC622",
        "manufacturer": {
            "id": "EORI:DE0000000000001",
            "name": "Example Cell Works GmbH",
            "address": "Musterstrasse 1, 10115 Berlin, DE",
            "contact": "passport@example.com",
        },
        "operator": {
            "id": "EORI:FR0000000000002",
            "name": "Example Motors SA",
            "address": "1 rue Exemple, 75001 Paris, FR",
            "contact": "https://example.com/contact",
        },
        "manufacturing_place": "Musterstrasse 1, 10115 Berlin, DE",
        "manufacturing_date": "2023-04",
        "putting_into_service_date": "2023-06",
        "status": "original",
        "mass_kg": 480.0,
        "rated_capacity_ah": 214.0,
        "rated_energy_kwh": energy_kwh,
        "nominal_voltage_v": 96 * 3.65,
        "min_voltage_v": 96 * 3.0,
        "max_voltage_v": 96 * 4.2,
        "original_power_w": 150_000.0,
        "max_permitted_power_w": 180_000.0,
        "internal_resistance_ohm": 0.09,
        "expected_lifetime_years": 12.0,
        "expected_lifetime_cycles": 1500,
        "warranty_years": 8.0,
        "cycle_life_reference_test": "urn:iec:std:iec:62660-1:2018",
        "c_rate_cycle_life_test": 0.33,
        "capacity_threshold_for_exhaustion_pct": 70.0,
        "temperature_idle_min_c": -20.0,
        "temperature_idle_max_c": 45.0,
        "initial_round_trip_efficiency_pct": 95.0,
        "round_trip_efficiency_at_50pct_cycle_life_pct": 93.0,
        "initial_self_discharge_pct_per_month": 2.0,
        "materials": {
            "cobalt_kg": round(cam_kg * f["Co"], 2),
            "lithium_kg": round(cam_kg * f["Li"], 2),
            "nickel_kg": round(cam_kg * f["Ni"], 2),
            "manganese_kg": round(cam_kg * f["Mn"], 2),
            "natural_graphite_kg": round(graphite_kg * _NATURAL_GRAPHITE_SHARE, 2),
            "lead_kg": 0.0,
            "critical_raw_materials": ["cobalt", "lithium", "natural graphite", "nickel", "manganese"],
            "cathode_materials": ["LiNi0.6Mn0.2Co0.2O2", "PVDF binder", "carbon black", "aluminium foil"],
            "anode_materials": ["graphite", "SBR/CMC binder", "copper foil"],
            "electrolyte_materials": ["LiPF6", "ethylene carbonate", "dimethyl carbonate"],
            "hazardous_substances": [
                {
                    "name": "lithium hexafluorophosphate",
                    "cas_number": "21324-40-3",
                    "hazard_class": "AcuteToxicity",
                    "concentration_pct": 0.4,
                    "location": "Electrolyte",
                    "impacts": ["toxic if swallowed", "releases hydrogen fluoride with water"],
                }
            ],
        },
        "carbon_footprint": {
            "total_kg_co2e_per_kwh": 75.0,
            "raw_materials_kg_co2e_per_kwh": 50.0,
            "production_kg_co2e_per_kwh": 20.0,
            "distribution_kg_co2e_per_kwh": 1.0,
            "end_of_life_kg_co2e_per_kwh": 4.0,
            "performance_class": "C",
            "study_url": "https://example.com/cf/exp-75.pdf",
            "absolute_t_co2e": 5.6,
        },
        "recycled_content": {
            "nickel_pre_consumer_fraction": 0.02,
            "nickel_post_consumer_fraction": 0.04,
            "cobalt_pre_consumer_fraction": 0.05,
            "cobalt_post_consumer_fraction": 0.11,
            "lithium_pre_consumer_fraction": 0.01,
            "lithium_post_consumer_fraction": 0.03,
            "lead_pre_consumer_fraction": 0.0,
            "lead_post_consumer_fraction": 0.0,
            "renewable_content_fraction": 0.0,
        },
        "dismantling": {
            "manual_urls": ["https://example.com/manuals/exp-75-dismantling.pdf"],
            "part_numbers": [
                {"part_name": "Module", "part_number": "EXP-M-12S"},
                {"part_name": "BMS", "part_number": "EXP-BMS-2"},
            ],
            "spare_part_sources": [
                {
                    "name": "Example Parts GmbH",
                    "address": "Teileweg 5, 80331 Muenchen, DE",
                    "email": "parts@example.com",
                    "url": "https://example.com/parts",
                    "part_numbers": ["EXP-M-12S", "EXP-BMS-2"],
                }
            ],
            "safety_measures_url": "https://example.com/manuals/exp-75-safety.pdf",
        },
        "end_of_life": {
            "waste_prevention_url": "https://example.com/eol/prevention",
            "separate_collection_url": "https://example.com/eol/collection",
            "collection_info_url": "https://example.com/eol/second-life",
        },
        "extinguishing_agent": ["water (large quantities)"],
        "labels": [
            {
                "subject": "separate_collection",
                "symbol_url": "https://example.com/labels/wheelie-bin.svg",
                "meaning": "Collect separately; do not dispose of with household waste",
            }
        ],
        "due_diligence_report_url": "https://example.com/dd/2023.pdf",
        "declaration_of_conformity_url": "https://example.com/doc/exp-75.pdf",
        "test_report_url": "https://example.com/reports/exp-75-tr.pdf",
        "dynamic": {
            "soh_pct": {"value": 94.5, "updated_at": updated},
            "remaining_capacity_ah": {"value": 202.0, "updated_at": updated},
            "remaining_energy_kwh": {"value": 70.9, "updated_at": updated},
            "remaining_power_w": {"value": 141_000.0, "updated_at": updated},
            "full_cycles": {"value": 310, "updated_at": updated},
            "energy_throughput_kwh": {"value": 22_500.0, "updated_at": updated},
            "capacity_throughput_ah": {"value": 64_000.0, "updated_at": updated},
            "deep_discharge_events": {"value": 0, "updated_at": updated},
            "overcharge_events": {"value": 0, "updated_at": updated},
            "time_above_max_temp_h": {"value": 3.5, "updated_at": updated},
            "time_below_min_temp_h": {"value": 12.0, "updated_at": updated},
            "time_charging_above_max_temp_h": {"value": 0.5, "updated_at": updated},
            "time_charging_below_min_temp_h": {"value": 1.0, "updated_at": updated},
            "internal_resistance_increase_pct": {"value": 6.0, "updated_at": updated},
            "soc_pct": {"value": 64.0, "updated_at": updated},
            "round_trip_efficiency_pct": {"value": 94.2, "updated_at": updated},
            "self_discharge_pct_per_month": {"value": 2.2, "updated_at": updated},
            "accidents": [],
        },
    }


def example_passport(serial: str = "000001", *, seed: int = 0, **overrides: Any) -> Passport:
    """A valid, fully populated passport of a 75 kWh NMC622 EV pack.

    Parameters
    ----------
    serial : str
        Serial number (GS1 AI 21 of the battery identifier is ``EV{serial}``); digits in it also
        make the GB/T 34014 serial.
    seed : int
        Seed of the passport UUID (same seed, same passport id).
    **overrides
        Top-level fields to replace (e.g. ``status="repurposed"``, ``dynamic={...}``).
    """
    data = example_passport_data(serial, seed=seed)
    data.update(overrides)
    return Passport.model_validate(data)
