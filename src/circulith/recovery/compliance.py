"""Compliance metrics per plant and period, computed from lot records.

* EU Regulation 2023/1542 Annex XII Part B (recycling efficiency of lithium-based batteries: 65 % by
  31 Dec 2025, 70 % by 31 Dec 2030) and Part C (material recovery: Co, Cu, Ni 90 % by end-2027 and 95 %
  by end-2031; Li 50 % and 80 %), with the counting boundary as explicit settings
  (:class:`CountingRules`) in the spirit of Delegated Regulation (EU) 2025/606 — our reading, stated
  below, to be checked against the Official Journal text by the user;
* Article 8 recycled-content minimums (2031: Co 16 %, Li 6 %, Ni 6 %; 2036: Co 26 %, Li 12 %, Ni 15 %);
* China MIIT standard conditions for the comprehensive utilisation of waste NEV traction batteries
  (2024 edition): Li ≥ 90 %, Ni/Co/Mn ≥ 98 % in smelting;
* the carbon footprint of recycling per kWh of battery capacity processed.

Targets come from ``recovery_targets.csv`` (each row with its legal source). A target "by 31 December
Y" applies to reporting years ending on or after that date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel

from circulith.errors import InvalidInput, Problem
from circulith.recovery.lots import (
    AnyLot,
    InputLot,
    IntermediateLot,
    ProductLot,
    RecycledContentShare,
    lot_yields,
)
from circulith.recovery.reference_data import load_csv


@dataclass(frozen=True)
class CountingRules:
    """What counts as input and output of a recycling process (explicit, documented settings).

    Our reading of Delegated Regulation (EU) 2025/606 (methodology for recycling efficiency and
    material recovery under Regulation (EU) 2023/1542):

    * the input fraction is the mass of waste batteries entering the process; components removed by
      dismantling (casing, cables, electronics) belong to it when ``include_dismantled_components`` is
      True — and then count as output when they are recycled;
    * only output fractions that are recycled count (``ProductLot.counts_as_recycling``); material used
      as fuel or reductant (graphite burnt in a smelter) or landfilled never counts;
    * only the battery's own elements count in an output: sulphate, hydrate water and other reagent
      elements do not (product lots carry battery-origin ``element_content``);
    * the regulation lets recyclers leave certain substances out of both input and output (the
      Commission's list includes carbon at cell level and phosphorus); name them in
      ``excluded_elements``;
    * recovered graphite counts as recycled output when ``count_graphite`` is True.
    """

    include_dismantled_components: bool = True
    count_graphite: bool = True
    excluded_elements: frozenset[str] = field(default_factory=frozenset)

    def describe(self) -> dict[str, Any]:
        """The settings as a dict, for the report."""
        d = asdict(self)
        d["excluded_elements"] = sorted(self.excluded_elements)
        return d


@dataclass(frozen=True)
class Target:
    """One legal target row."""

    regime: str
    metric: str
    material: str
    threshold_pct: float
    applies_from: dt.date
    scope: str
    source: str


def targets() -> list[Target]:
    """All targets from ``recovery_targets.csv``."""
    return [Target(r["regime"], r["metric"], r["material"], float(r["threshold_pct"]),
                   dt.date.fromisoformat(r["applies_from"]), r["scope"], r["source"])
            for r in load_csv("recovery_targets.csv")]


def applicable_targets(year: int, regime: str | None = None, metric: str | None = None) -> list[Target]:
    """The binding target of each (regime, metric, material) for a reporting year (latest in force)."""
    end = dt.date(year, 12, 31)
    best: dict[tuple[str, str, str], Target] = {}
    for t in targets():
        if (regime and t.regime != regime) or (metric and t.metric != metric) or t.applies_from > end:
            continue
        key = (t.regime, t.metric, t.material)
        if key not in best or t.applies_from > best[key].applies_from:
            best[key] = t
    return list(best.values())


def upcoming_targets(year: int) -> list[Target]:
    """Targets that come into force after the reporting year."""
    end = dt.date(year, 12, 31)
    return [t for t in targets() if t.applies_from > end]


class Check(BaseModel):
    """One metric against one target."""

    regime: str
    metric: str
    material: str
    value_pct: float | None
    threshold_pct: float
    passed: bool | None
    source: str


class ComplianceReport(BaseModel):
    """Compliance of one plant in one year."""

    plant_id: str
    year: int
    counting_rules: dict[str, Any]
    input_lots: int
    product_lots: int
    input_mass_kg: float
    counted_input_mass_kg: float
    recycled_output_kg: float
    recycling_efficiency_pct: float | None
    material_recovery_pct: dict[str, float]
    energy_mj: float
    ghg_kg_co2e: float
    water_m3: float
    input_energy_kwh: float
    carbon_footprint_kg_co2e_per_kwh: float | None
    checks: list[Check]
    upcoming: list[dict[str, Any]]
    notes: list[str]


def _in_year(lot: AnyLot, year: int) -> bool:
    d = lot.received_on if isinstance(lot, InputLot) else lot.produced_on
    return d.year == year


def compliance_report(lots: Iterable[AnyLot], plant: str, year: int, *, rules: CountingRules | None = None,
                      hardware_kg: float = 0.0) -> ComplianceReport:
    """Recycling efficiency, material recovery, MIIT conditions and carbon footprint of a plant's year.

    Parameters
    ----------
    lots : iterable of lots
        Lot records (any plants, any dates; filtered here). Input lots dated by ``received_on``,
        intermediate and product lots by ``produced_on``.
    plant : str
        Plant identifier.
    year : int
        Reporting year.
    rules : CountingRules, optional
        Counting boundary (default: :class:`CountingRules()`).
    hardware_kg : float
        Mass of dismantled components in the inputs [kg] to leave out when
        ``rules.include_dismantled_components`` is False.
    """
    rules = rules or CountingRules()
    lots = [lot for lot in lots if lot.plant_id == plant and _in_year(lot, year)]
    inputs = [lot for lot in lots if isinstance(lot, InputLot)]
    products = [lot for lot in lots if isinstance(lot, ProductLot)]
    processed = [lot for lot in lots if isinstance(lot, ProductLot | IntermediateLot)]
    if not inputs:
        raise InvalidInput(Problem(None, "lots", f"no input lots for plant '{plant}' in {year}"))
    bad = [e for e in rules.excluded_elements if e not in ("C", "P", "F", "O", "Fe", "Al", "Ti", "Na")]
    if bad:
        raise InvalidInput(Problem(None, "excluded_elements", f"cannot exclude {', '.join(bad)} from the counting"))
    y = lot_yields(inputs, processed)
    input_mass = y["input_mass_kg"]
    excluded_in = sum(y["element_input_kg"].get(e, 0.0) for e in rules.excluded_elements)
    counted_in = input_mass - excluded_in - (0.0 if rules.include_dismantled_components else hardware_kg)
    el_out: dict[str, float] = {}
    for p in products:
        if p.counts_as_recycling:
            for el, kg in p.element_kg().items():
                el_out[el] = el_out.get(el, 0.0) + kg
    # An output never counts for more of an element than entered (the excess is assay uncertainty, which the
    # conservation checks at recording allow): efficiency and recovery cannot exceed 100 %.
    capped = {el: min(kg, y["element_input_kg"].get(el, 0.0)) for el, kg in el_out.items()}
    out = sum(kg for el, kg in capped.items()
              if el not in rules.excluded_elements and not (el == "C" and not rules.count_graphite))
    re_pct = min(100.0, 100.0 * out / counted_in) if counted_in > 0 else None
    recovery = {el: 100.0 * capped.get(el, 0.0) / kg_in for el, kg_in in y["element_input_kg"].items()
                if el in ("Li", "Ni", "Co", "Mn", "Cu") and kg_in > 0}
    checks: list[Check] = []
    for t in applicable_targets(year):
        if t.metric == "recycling_efficiency":
            v = re_pct
        elif t.metric == "material_recovery":
            v = recovery.get(t.material)
        else:
            continue  # recycled content: see recycled_content_checks; MIIT powder/repair: not from lots
        checks.append(Check(regime=t.regime, metric=t.metric, material=t.material, value_pct=v,
                            threshold_pct=t.threshold_pct, passed=None if v is None else v >= t.threshold_pct,
                            source=t.source))
    energy_kwh = sum(i.energy_kwh() for i in inputs)
    notes = [
        "Input element masses are estimated from the catalogue compositions of the input lots (passport-declared "
        "metals applied); a measured input assay would replace them.",
        "Targets 'by 31 December Y' are checked for reporting years ending on or after that date.",
        "China MIIT thresholds apply to smelting recoveries; the plant-level recovery shown is a proxy.",
    ]
    return ComplianceReport(
        plant_id=plant, year=year, counting_rules=rules.describe(), input_lots=len(inputs), product_lots=len(products),
        input_mass_kg=input_mass, counted_input_mass_kg=counted_in, recycled_output_kg=out, recycling_efficiency_pct=re_pct,
        material_recovery_pct=recovery, energy_mj=y["energy_mj"], ghg_kg_co2e=y["ghg_kg_co2e"], water_m3=y["water_m3"],
        input_energy_kwh=energy_kwh,
        carbon_footprint_kg_co2e_per_kwh=y["ghg_kg_co2e"] / energy_kwh if energy_kwh > 0 else None,
        checks=checks,
        upcoming=[{"regime": t.regime, "metric": t.metric, "material": t.material, "threshold_pct": t.threshold_pct,
                   "applies_from": t.applies_from.isoformat()} for t in upcoming_targets(year)],
        notes=notes,
    )


def material_recovery_check(recovery: Mapping[str, float], year: int | None = None) -> list[Check]:
    """Element recoveries [fraction] of a route against the EU Annex XII Part C targets.

    With ``year`` None, both target sets (end-2027 and end-2031) are checked.
    """
    rows = [t for t in targets() if t.regime == "EU" and t.metric == "material_recovery"]
    if year is not None:
        rows = applicable_targets(year, "EU", "material_recovery")
    return [Check(regime=t.regime, metric=f"material_recovery by {t.applies_from.isoformat()}", material=t.material,
                  value_pct=100.0 * recovery[t.material] if t.material in recovery else None,
                  threshold_pct=t.threshold_pct,
                  passed=(100.0 * recovery[t.material] >= t.threshold_pct) if t.material in recovery else None,
                  source=t.source) for t in rows]


def recycled_content_checks(shares: Sequence[RecycledContentShare], year: int) -> list[Check]:
    """Recycled-content shares of new batteries (mass-weighted) against Article 8 minimums in force."""
    out = []
    for t in applicable_targets(year, "EU", "recycled_content"):
        el = t.material.lower()
        num = sum(getattr(s, f"{el}_recycled_kg") for s in shares)
        den = sum(getattr(s, f"{el}_kg") for s in shares)
        v = 100.0 * num / den if den > 0 else 0.0
        out.append(Check(regime="EU", metric="recycled_content", material=t.material, value_pct=v,
                         threshold_pct=t.threshold_pct, passed=v >= t.threshold_pct, source=t.source))
    return out
