"""A realistic synthetic fleet of EV battery packs with their modules and first-life histories.

Everything is generated from :file:`reference/data/demo_fleet.toml` (shares, pack designs, ageing
and incident rates, each with its source) and the chemistry catalogue, with a seeded random
generator, so the same seed gives the same fleet. Makers, models and vehicles are fictional.

Each pack gets: a passport (identity, ratings, materials, carbon footprint, recycled content,
dismantling information), one passport per module, and a ledger history: ``manufactured``,
``placed_on_market``, ``installed`` (with region and vehicle), yearly ``bms_snapshot`` events
with SOH fading by a calendar-plus-cycle model, the odd crash or thermal incident, and for the
packs that reached retirement, ``removed`` → ``collected`` → ``shipped`` → ``received``.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import tomllib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from circulith.ledger.events import EventKind, LedgerEvent
from circulith.passport.identifiers import mint_gbt34014, mint_gs1_digital_link, mint_passport_id
from circulith.passport.model import Passport
from circulith.reference.chemistries import chemistry_records

DATA = resources.files("circulith.reference") / "data"

ORGANISATIONS: list[dict[str, str]] = [
    {"org_id": "ORG-REGISTRY", "name": "circulith registry operator", "role": "operator", "country": "BE"},
    {"org_id": "OEM-NORDVIK", "name": "Nordvik Automotive AB", "role": "oem", "country": "SE"},
    {"org_id": "OEM-ALBIS", "name": "Albis Cars GmbH", "role": "oem", "country": "DE"},
    {"org_id": "OEM-CATHAY", "name": "Cathay Mobility Co.", "role": "oem", "country": "CN"},
    {"org_id": "OEM-VENTURA", "name": "Ventura Electric Inc.", "role": "oem", "country": "US"},
    {"org_id": "OEM-KANTO", "name": "Kanto Motors K.K.", "role": "oem", "country": "JP"},
    {"org_id": "OEM-RHEIN", "name": "Rhein Batteriesysteme GmbH", "role": "battery_maker", "country": "DE"},
    {"org_id": "BM-AURORA", "name": "Aurora Cell Manufacturing", "role": "battery_maker", "country": "PL"},
    {"org_id": "DIS-KREIS", "name": "Kreislauf Demontage GmbH", "role": "dismantler", "country": "DE"},
    {"org_id": "DIS-RECUP", "name": "Récupération Auto SAS", "role": "dismantler", "country": "FR"},
    {"org_id": "REU-SECONDVOLT", "name": "SecondVolt Storage BV", "role": "reuse_integrator", "country": "NL"},
    {"org_id": "REC-NORDMET", "name": "Nordmet Recycling AS", "role": "recycler", "country": "NO"},
    {"org_id": "REC-HYDROLUX", "name": "Hydrolux Metals SA", "role": "recycler", "country": "BE"},
    {"org_id": "REF-SALTWORKS", "name": "Saltworks Refining SE", "role": "refiner", "country": "FI"},
    {"org_id": "NB-TUV", "name": "Notified Body 0001 (demo)", "role": "notified_body", "country": "DE"},
    {"org_id": "MSA-DE", "name": "Market surveillance authority (demo, DE)", "role": "market_surveillance", "country": "DE"},
    {"org_id": "EC", "name": "European Commission (demo)", "role": "commission", "country": "BE"},
]

MAKER_ORG = {
    "Nordvik Automotive": "OEM-NORDVIK", "Albis Cars": "OEM-ALBIS", "Cathay Mobility": "OEM-CATHAY",
    "Ventura Electric": "OEM-VENTURA", "Kanto Motors": "OEM-KANTO", "Rhein Batteriesysteme": "OEM-RHEIN",
}
DISMANTLERS = ("DIS-KREIS", "DIS-RECUP")
RECYCLERS = ("REC-NORDMET", "REC-HYDROLUX")
REFINER = "REF-SALTWORKS"
"""The hydrometallurgy hub the recyclers ship their black mass to (:mod:`circulith.services.demo_recycling`)."""
PLANT_BY_MAKER = {
    "Nordvik Automotive": "Skellefteå, SE", "Albis Cars": "Zwickau, DE", "Cathay Mobility": "Ningde, CN",
    "Ventura Electric": "Sparks, US", "Kanto Motors": "Sunderland, GB", "Rhein Batteriesysteme": "Salzgitter, DE",
}
GB_BATTERY_TYPE = {"LFP": "B", "LMO": "C", "NCA": "E", "NMC111": "E", "NMC532": "E", "NMC622": "E", "NMC811": "E"}


@cache
def fleet_parameters() -> dict[str, Any]:
    """The demo-fleet parameters (``reference/data/demo_fleet.toml``)."""
    return tomllib.loads((DATA / "demo_fleet.toml").read_text(encoding="utf-8"))


@cache
def _metals_per_kwh() -> dict[str, dict[str, float]]:
    with (DATA / "contained_metals_fallback.csv").open(encoding="utf-8") as fh:
        return {r["chemistry"]: {k: float(v) for k, v in r.items() if k.endswith("_per_kwh")} for r in csv.DictReader(fh)}


@dataclass
class DemoFleet:
    """A generated fleet: passports (packs first, then modules) and events in time order."""

    organisations: list[dict[str, str]]
    passports: list[Passport] = field(default_factory=list)
    events: list[LedgerEvent] = field(default_factory=list)


def _month_start(year: int, month: int) -> dt.datetime:
    return dt.datetime(year, month, 1, tzinfo=dt.UTC)


def generate_fleet(n_packs: int = 20_000, *, seed: int = 2026, today: dt.date | None = None) -> DemoFleet:
    """Generate ``n_packs`` packs with their modules, passports and first-life histories.

    Parameters
    ----------
    n_packs : int
        Number of packs [-].
    seed : int
        Random seed; the same seed and ``today`` give the same fleet.
    today : date or None
        The generation date; histories stop before it (default: today).

    Returns
    -------
    DemoFleet
        The whole fleet in memory, events in time order (see :func:`iter_fleet` for large fleets).
    """
    fleet = DemoFleet(organisations=list(ORGANISATIONS))
    for part in iter_fleet(n_packs, seed=seed, today=today):
        fleet.passports.extend(part.passports)
        fleet.events.extend(part.events)
    fleet.events.sort(key=lambda e: e.occurred_at)
    return fleet


def iter_fleet(n_packs: int = 20_000, *, seed: int = 2026, today: dt.date | None = None,
               chunk_packs: int = 1_000) -> Iterator[DemoFleet]:
    """The fleet of :func:`generate_fleet`, ``chunk_packs`` packs at a time (bounded memory).

    Each part holds its packs, their modules and their histories (each battery's events in time
    order); the same seed and ``today`` give the same parts.
    """
    if n_packs < 1:
        raise ValueError("n_packs must be at least 1")
    today = today or dt.date.today()
    now = dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC) - dt.timedelta(days=1)
    params = fleet_parameters()
    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    fleet = DemoFleet(organisations=list(ORGANISATIONS))
    if chunk_packs < 1:
        raise ValueError("chunk_packs must be at least 1")

    regions = list(params["regions"]["shares"])
    region_p = np.array(list(params["regions"]["shares"].values()), dtype=float)
    region_p /= region_p.sum()
    years_all = {int(y): float(s) for y, s in params["production_years"]["shares"].items() if int(y) <= today.year}
    models = params["models"]
    ageing = params["ageing"]
    incidents = params["incidents"]

    # Choose (model, production year) jointly: a model's weight spreads over its production years,
    # weighted by the market size of each year.
    combos, weights = [], []
    for mi, m in enumerate(models):
        for year in range(m["years"][0], m["years"][1] + 1):
            if year in years_all:
                combos.append((mi, year))
                weights.append(m["weight"] * years_all[year] / (m["years"][1] - m["years"][0] + 1))
    w = np.array(weights)
    picks = rng.choice(len(combos), size=n_packs, p=w / w.sum())
    region_idx = rng.choice(len(regions), size=n_packs, p=region_p)
    months = rng.integers(1, 13, size=n_packs)
    vehicle_factor = rng.lognormal(0.0, ageing["sigma"], size=n_packs)
    usage_factor = rng.lognormal(0.0, ageing["sigma"], size=n_packs)
    serial_base = 1_000_000

    for i in range(n_packs):
        mi, year = combos[picks[i]]
        m = models[mi]
        month = int(months[i])
        if (year, month) > (now.year, now.month):
            month = now.month
        mfg = _month_start(year, month)
        maker_org = MAKER_ORG[m["maker"]]
        chem = chemistry_records()[m["chemistry"]]
        serial = serial_base + i
        pack = _pack_passport(m, chem, year, month, serial, maker_org, prng, rng)
        fleet.passports.append(pack)
        for k in range(m["modules"]):
            fleet.passports.append(_module_passport(pack, m, chem, k, serial, prng))
        fleet.events.extend(
            _history(pack, m, mfg, now, regions[region_idx[i]], float(vehicle_factor[i]), float(usage_factor[i]),
                     ageing, incidents, maker_org, rng, serial)
        )
        if (i + 1) % chunk_packs == 0 or i + 1 == n_packs:
            yield fleet
            fleet = DemoFleet(organisations=list(ORGANISATIONS))


def _pack_passport(m: dict, chem: dict, year: int, month: int, serial: int, maker_org: str,
                   prng: random.Random, rng: np.random.Generator) -> Passport:
    n_series = m["series_cells"]
    v_nom = n_series * float(chem["cell_nominal_voltage_v"])
    energy_kwh = float(m["pack_kwh"])
    capacity_ah = energy_kwh * 1000.0 / v_nom
    mass_kg = energy_kwh * 1000.0 / float(chem["pack_specific_energy_wh_per_kg"]) * float(rng.uniform(0.95, 1.05))
    gtin = f"{4_012_345_000_000 + zlib.crc32(m['model'].encode()) % 999_999:013d}"
    battery_id = mint_gs1_digital_link(gtin, f"P{serial}")
    gb = mint_gbt34014("0AB", "P", GB_BATTERY_TYPE[m["chemistry"]], "01", f"{serial % 10_000_000:07d}",
                       dt.date(year, month, 1), serial % 9_999_999 + 1)
    metals = _metals_per_kwh()[m["chemistry"]]
    design = fleet_parameters()["pack_design"]
    cf_mean = design["carbon_footprint_mean_kg_co2e_per_kwh"]
    footprint = float(rng.normal(cf_mean.get(m["chemistry"], cf_mean["default"]),
                                 design["carbon_footprint_sd_kg_co2e_per_kwh"]))
    doc = {
        "passport_id": mint_passport_id(prng),
        "battery_id": battery_id,
        "identifiers": [gb],
        "level": "pack",
        "category": "EV",
        "chemistry": m["chemistry"],
        "model": f"{m['maker']} {m['model']} {energy_kwh:g} kWh pack",
        "manufacturer": {"id": maker_org, "name": m["maker"], "address": PLANT_BY_MAKER[m["maker"]]},
        "operator": {"id": maker_org, "name": m["maker"]},
        "manufacturing_place": PLANT_BY_MAKER[m["maker"]],
        "manufacturing_date": f"{year:04d}-{month:02d}",
        "mass_kg": round(mass_kg, 1),
        "rated_capacity_ah": round(capacity_ah, 2),
        "rated_energy_kwh": energy_kwh,
        "nominal_voltage_v": round(v_nom, 1),
        "min_voltage_v": round(n_series * float(chem["cell_min_voltage_v"]), 1),
        "max_voltage_v": round(n_series * float(chem["cell_max_voltage_v"]), 1),
        "original_power_w": round(energy_kwh * design["power_c_rate"] * 1000.0, 0),
        "internal_resistance_ohm": round(n_series * design["cell_resistance_ohm_per_60ah"] * float(rng.uniform(0.9, 1.1))
                                         / max(1.0, capacity_ah / 60.0), 4),
        "expected_lifetime_years": design["expected_lifetime_years"].get(
            m["chemistry"], design["expected_lifetime_years"]["default"]),
        "expected_lifetime_cycles": int(chem["typical_cycle_life"]),
        "warranty_years": design["warranty_years"],
        "materials": {
            "lithium_kg": round(metals["li_kg_per_kwh"] * energy_kwh, 2),
            "nickel_kg": round(metals["ni_kg_per_kwh"] * energy_kwh, 2),
            "cobalt_kg": round(metals["co_kg_per_kwh"] * energy_kwh, 2),
            "manganese_kg": round(metals["mn_kg_per_kwh"] * energy_kwh, 2),
            "natural_graphite_kg": round(energy_kwh * float(rng.uniform(*design["natural_graphite_kg_per_kwh"])), 2),
            "lead_kg": 0.0,
            "critical_raw_materials": [x for x, k in (("Lithium", "li"), ("Nickel", "ni"), ("Cobalt", "co"),
                                                       ("Manganese", "mn")) if metals[f"{k}_kg_per_kwh"] > 0]
            + ["Natural graphite"],
            "cathode_materials": [chem["cathode"]],
            "anode_materials": [chem["anode"]],
            "electrolyte_materials": ["LiPF6", "ethylene carbonate", "dimethyl carbonate"],
        },
        "carbon_footprint": {"total_kg_co2e_per_kwh": round(max(design["carbon_footprint_floor_kg_co2e_per_kwh"],
                                                                 footprint), 1)},
        "recycled_content": {
            f"{metal}_post_consumer_fraction": 0.0 if year < design["recycled_content_from_year"]
            else round(float(rng.uniform(0.0, top)), 3)
            for metal, top in design["post_consumer_fraction_max"].items()
        },
        "dismantling": {
            "manual_urls": [f"https://docs.example.com/{maker_org.lower()}/dismantling/{m['model'].replace(' ', '-').lower()}.pdf"],
            "part_numbers": [{"part_name": "module", "part_number": f"{maker_org}-M{m['modules']:02d}"}],
        },
    }
    _complete(doc, maker_org, m["model"], float(doc["carbon_footprint"]["total_kg_co2e_per_kwh"]), year, month)
    return Passport.model_validate(doc)


def _complete(doc: dict[str, Any], maker_org: str, model: str, footprint: float, year: int, month: int) -> None:
    """Fill the remaining Annex XIII attributes as an OEM would at placing on the market.

    Dynamic values start at their beginning-of-life values, stamped with the manufacturing
    month; BMS snapshots in the ledger update them. URLs point to the maker's (fictional) site.
    """
    design = fleet_parameters()["pack_design"]
    slug = model.replace(" ", "-").lower()
    base = f"https://docs.example.com/{maker_org.lower()}/{slug}"
    service_month = month + 2
    service = f"{year + (service_month - 1) // 12:04d}-{(service_month - 1) % 12 + 1:02d}"
    at = f"{year:04d}-{month:02d}-01T00:00:00+00:00"
    energy, capacity = doc["rated_energy_kwh"], doc["rated_capacity_ah"]
    power = doc.get("original_power_w") or energy * 2500.0
    doc.update({
        "putting_into_service_date": service if service <= f"{dt.date.today():%Y-%m}" else doc["manufacturing_date"],
        "max_permitted_power_w": round(power * design["max_power_over_original"], 0),
        "cycle_life_reference_test": "urn:iec:std:iec:62660-1:2018",
        "c_rate_cycle_life_test": design["cycle_life_test_c_rate"],
        "capacity_threshold_for_exhaustion_pct": design["capacity_threshold_for_exhaustion_pct"],
        "temperature_idle_min_c": design["temperature_idle_c"][0],
        "temperature_idle_max_c": design["temperature_idle_c"][1],
        "initial_round_trip_efficiency_pct": design["round_trip_efficiency_pct"]["initial"],
        "round_trip_efficiency_at_50pct_cycle_life_pct": design["round_trip_efficiency_pct"]["at_half_life"],
        "initial_self_discharge_pct_per_month": design["self_discharge_pct_per_month"],
        "due_diligence_report_url": f"{base}/due-diligence-{year}.pdf",
        "declaration_of_conformity_url": f"{base}/declaration-of-conformity.pdf",
        "test_report_url": f"{base}/test-report.pdf",
        "extinguishing_agent": ["water, large quantities (fire class A)"],
        "end_of_life": {
            "waste_prevention_url": f"{base}/eol/prevention",
            "separate_collection_url": f"{base}/eol/collection",
            "collection_info_url": f"{base}/eol/take-back",
        },
    })
    shares = design["footprint_stage_shares"]
    raw, prod, dist = (round(footprint * shares[k], 1) for k in ("raw_materials", "production", "distribution"))
    doc["carbon_footprint"] = {
        "total_kg_co2e_per_kwh": footprint,
        "raw_materials_kg_co2e_per_kwh": raw,
        "production_kg_co2e_per_kwh": prod,
        "distribution_kg_co2e_per_kwh": dist,
        "end_of_life_kg_co2e_per_kwh": round(footprint - raw - prod - dist, 1),
        "performance_class": "B" if footprint < 70 else "C" if footprint < 85 else "D",
        "study_url": f"{base}/carbon-footprint-study.pdf",
    }
    rc = doc.setdefault("recycled_content", {})
    for metal in ("nickel", "cobalt", "lithium", "lead"):
        rc.setdefault(f"{metal}_pre_consumer_fraction", 0.0)
        rc.setdefault(f"{metal}_post_consumer_fraction", 0.0)
    rc.setdefault("renewable_content_fraction", 0.0)
    dis = doc.setdefault("dismantling", {})
    dis.setdefault("manual_urls", [f"{base}/dismantling.pdf"])
    dis["safety_measures_url"] = f"{base}/safety.pdf"
    zero = ("full_cycles", "energy_throughput_kwh", "capacity_throughput_ah", "deep_discharge_events",
            "overcharge_events", "time_above_max_temp_h", "time_below_min_temp_h", "time_charging_above_max_temp_h",
            "time_charging_below_min_temp_h", "internal_resistance_increase_pct")
    dyn: dict[str, Any] = {k: {"value": 0, "updated_at": at} for k in zero}
    dyn.update({
        "soh_pct": {"value": 100.0, "updated_at": at},
        "remaining_capacity_ah": {"value": capacity, "updated_at": at},
        "remaining_energy_kwh": {"value": energy, "updated_at": at},
        "remaining_power_w": {"value": power, "updated_at": at},
        "soc_pct": {"value": 30.0, "updated_at": at},
        "round_trip_efficiency_pct": {"value": design["round_trip_efficiency_pct"]["initial"], "updated_at": at},
        "self_discharge_pct_per_month": {"value": design["self_discharge_pct_per_month"], "updated_at": at},
    })
    doc["dynamic"] = dyn


def _module_passport(pack: Passport, m: dict, chem: dict, k: int, serial: int, prng: random.Random) -> Passport:
    n_mod = m["modules"]
    n_series = m["series_cells"] // n_mod
    v_nom = n_series * float(chem["cell_nominal_voltage_v"])
    energy = pack.rated_energy_kwh / n_mod
    gtin = pack.battery_id.split("/01/")[1].split("/")[0]
    doc = {
        "passport_id": mint_passport_id(prng),
        "battery_id": mint_gs1_digital_link(gtin, f"M{serial}-{k + 1:02d}"),
        "level": "module",
        "parent_battery_id": pack.battery_id,
        "category": "EV",
        "chemistry": pack.chemistry,
        "model": f"{m['maker']} module {energy:.2f} kWh",
        "manufacturer": pack.manufacturer.model_dump(),
        "operator": pack.operator.model_dump(),
        "manufacturing_place": pack.manufacturing_place,
        "manufacturing_date": pack.manufacturing_date,
        "mass_kg": round(pack.mass_kg * fleet_parameters()["pack_design"]["module_mass_share_of_pack"] / n_mod, 2),
        "rated_capacity_ah": pack.rated_capacity_ah,
        "rated_energy_kwh": round(energy, 3),
        "nominal_voltage_v": round(v_nom, 2),
        "min_voltage_v": round(n_series * float(chem["cell_min_voltage_v"]), 2),
        "max_voltage_v": round(n_series * float(chem["cell_max_voltage_v"]), 2),
        "expected_lifetime_years": pack.expected_lifetime_years,
        "expected_lifetime_cycles": pack.expected_lifetime_cycles,
        "warranty_years": pack.warranty_years,
        "original_power_w": round((pack.original_power_w or 0.0) / n_mod, 0) or None,
        "internal_resistance_ohm": round((pack.internal_resistance_ohm or 0.1) / n_mod, 5),
        "materials": {k: (round(v / n_mod, 3) if isinstance(v, float) else v)
                      for k, v in pack.materials.model_dump(exclude_none=True).items()},
        "recycled_content": pack.recycled_content.model_dump(exclude_none=True) if pack.recycled_content else {},
        "dismantling": {"part_numbers": [{"part_name": "module", "part_number": f"{pack.manufacturer.id}-M{n_mod:02d}"}]},
    }
    year, month = map(int, pack.manufacturing_date.split("-"))
    footprint = pack.carbon_footprint.total_kg_co2e_per_kwh if pack.carbon_footprint else 75.0
    _complete(doc, pack.manufacturer.id, m["model"] + " module", footprint, year, month)
    return Passport.model_validate(doc)


def _history(pack: Passport, m: dict, mfg: dt.datetime, now: dt.datetime, region: str, vf: float, uf: float,
             ageing: dict, incidents: dict, maker_org: str, rng: np.random.Generator, serial: int) -> list[LedgerEvent]:
    chem = pack.chemistry
    bid = pack.battery_id
    bms = fleet_parameters()["bms_events"]
    out: list[LedgerEvent] = []

    def ev(kind: EventKind, at: dt.datetime, actor: str, site: str | None = None, **payload: Any) -> None:
        out.append(LedgerEvent(battery_id=bid, kind=kind, occurred_at=at, actor_org_id=actor, site_id=site,
                               payload=payload))

    made = min(mfg + dt.timedelta(days=int(rng.integers(0, 25))), max(mfg, now - dt.timedelta(days=1)))
    ev(EventKind.MANUFACTURED, made, maker_org, f"plant:{pack.manufacturing_place}")
    t = mfg + dt.timedelta(days=int(rng.integers(30, 90)))
    if t >= now:
        return out
    ev(EventKind.PLACED_ON_MARKET, t, maker_org, country=region)
    t += dt.timedelta(days=int(rng.integers(5, 60)))
    if t >= now:
        return out
    vin = f"DEMO{serial:013d}"
    ev(EventKind.INSTALLED, t, maker_org, f"dealer:{region}", region=region, vehicle_id=vin)
    cal = ageing["calendar_pct_per_year"][chem] * vf
    cyc = ageing["cycle_pct_per_100"][chem] / 100.0 * uf
    cycles_per_year = ageing["full_cycles_per_year"] * uf
    start = t
    soh = 100.0
    deep = over = 0
    hot_h = 0.0
    retire_reason = None
    year = 0
    while True:
        year += 1
        t = start + dt.timedelta(days=365 * year + int(rng.integers(-20, 20)))
        if t >= now:
            break
        age = year
        cycles = cycles_per_year * age
        soh = 100.0 - cal * age - cyc * cycles + float(rng.normal(0.0, 0.4))
        deep += int(rng.poisson(bms["deep_discharge_per_year"]))
        over += int(rng.poisson(bms["overcharge_per_year"]))
        hot_h += float(rng.gamma(bms["hot_hours_gamma_shape"], bms["hot_hours_gamma_scale_h"]))
        u = rng.random(3)
        if u[1] < incidents["thermal_per_year"]:
            ev(EventKind.BMS_SNAPSHOT, t, maker_org, None, soh_pct=round(max(soh, 1.0), 2), full_cycles=round(cycles, 1),
               deep_discharge_events=deep, overcharge_events=over, time_above_max_temp_h=round(hot_h + 40.0, 1),
               accident={"kind": "thermal", "description": "BMS thermal runaway warning, cell venting suspected"})
            retire_reason = "thermal_event"
            break
        if u[0] < incidents["crash_per_year"]:
            ev(EventKind.BMS_SNAPSHOT, t, maker_org, None, soh_pct=round(max(soh, 1.0), 2), full_cycles=round(cycles, 1),
               deep_discharge_events=deep, overcharge_events=over, time_above_max_temp_h=round(hot_h, 1),
               accident={"kind": "crash", "description": "vehicle collision, underbody impact"})
            retire_reason = "crash"
            break
        n_mod = m["modules"]
        module_soh = np.clip(soh + rng.normal(0.0, 1.2, size=n_mod), 1.0, 105.0)
        ev(EventKind.BMS_SNAPSHOT, t, maker_org, None, soh_pct=round(soh, 2), full_cycles=round(cycles, 1),
           energy_throughput_kwh=round(cycles * pack.rated_energy_kwh, 0),
           capacity_throughput_ah=round(cycles * pack.rated_capacity_ah, 0),
           remaining_capacity_ah=round(pack.rated_capacity_ah * soh / 100.0, 2),
           remaining_energy_kwh=round(pack.rated_energy_kwh * soh / 100.0, 2),
           internal_resistance_increase_pct=round((100.0 - soh) * 1.5, 1), deep_discharge_events=deep,
           overcharge_events=over, time_above_max_temp_h=round(hot_h, 1),
           module_soh_pct=[round(float(x), 2) for x in module_soh])
        if soh < ageing["retirement_soh_pct"]:
            retire_reason = "end_of_first_life"
            break
        if u[2] < incidents["scrappage_per_year"]:
            retire_reason = "vehicle_scrapped"
            break
    if retire_reason is None:
        return out
    t += dt.timedelta(days=int(rng.integers(10, 120)))
    if t >= now:
        return out
    dismantler = DISMANTLERS[serial % len(DISMANTLERS)]
    ev(EventKind.REMOVED, t, dismantler, f"{dismantler}:yard", reason=retire_reason)
    t += dt.timedelta(days=int(rng.integers(1, 30)))
    if t >= now:
        return out
    ev(EventKind.COLLECTED, t, dismantler, f"{dismantler}:yard",
       damaged=retire_reason in ("thermal_event", "crash"))
    t += dt.timedelta(days=int(rng.integers(5, 60)))
    if t >= now or rng.random() < 0.3:
        return out
    recycler = RECYCLERS[serial % len(RECYCLERS)]
    ev(EventKind.SHIPPED, t, dismantler, f"{dismantler}:yard", to_org_id=recycler, un_number="UN3480" if
       retire_reason not in ("thermal_event", "crash") else "UN3480 SP376")
    t += dt.timedelta(days=int(rng.integers(1, 10)))
    if t >= now:
        return out
    ev(EventKind.RECEIVED, t, recycler, f"{recycler}:intake")
    return out
