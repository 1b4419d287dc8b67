"""What makes a recycling offer trustworthy: damaged-battery handling costs, price age, plausibility.

- Handling costs of damaged and quarantined batteries come line by line from the shipped table
  ``reference/data/damaged_handling_costs.csv`` (item, damage state, per kg or per unit, each with
  its source), keyed by the damage state of ``transport_rules.csv`` (``damaged`` / ``critical``).
- Price age: an offer whose newest metal price is older than ``max_price_age_days`` of
  ``reference/data/offer_checks.toml`` (default 90 days) carries a warning.
- Plausibility: a stated mass far from the passport's declared mass, a chemistry different from
  the passport's, a mass above the physical limit of a battery or heavier than its rated energy
  allows (``chemistries.csv`` pack specific energy) is refused by row, naming the battery.

Pure functions on frames: the registry figures are passed in by the service layer.
"""

from __future__ import annotations

import csv
import datetime as dt
import tomllib
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.reference.chemistries import chemistry_table

DAMAGE_STATES = ("intact", "damaged", "critical")


COST_UNITS = {"per_kg": "USD/kg", "per_unit": "USD/unit"}
"""The unit of ``cost`` for each basis: the table is in US dollars, like the offers it is deducted from."""
COST_STATUSES = ("sourced", "derived", "assumption")
"""``sourced``: the published figure as is; ``derived``: computed from a published figure as ``source_figure``
says (any assumed factor named there); ``assumption``: no published figure found, said so in ``source``."""


@cache
def load_handling_costs() -> pd.DataFrame:
    """The damaged-battery handling cost table (``damaged_handling_costs.csv``).

    Each row: ``item, damage_state, basis`` (per_kg or per_unit), ``cost`` [USD per kg or per battery],
    ``unit``, ``status`` (see :data:`COST_STATUSES`), ``source_figure`` (the published figure and its
    conversion, for derived rows) and ``source``.

    Raises
    ------
    InvalidInput
        If a row's basis, unit, status or source is missing or inconsistent (naming the row).
    """
    with resources.files("circulith.reference").joinpath("data/damaged_handling_costs.csv").open(
            "r", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for k, r in enumerate(rows, start=1):
        problem = _row_problem(r)
        if problem is not None:
            raise InvalidInput(Problem(k, problem[0], problem[1]), source="damaged_handling_costs.csv")
    frame = pd.DataFrame(rows)
    frame["cost"] = frame["cost"].astype(float)
    return frame


def _row_problem(r: dict[str, str]) -> tuple[str, str] | None:
    """(field, reason) of what is wrong with one row of the handling cost table, or None."""
    basis, status, source = r.get("basis", ""), r.get("status", ""), (r.get("source") or "").strip()
    if basis not in COST_UNITS:
        return "basis", "must be per_kg or per_unit"
    if r.get("unit") != COST_UNITS[basis]:
        return "unit", f"must be {COST_UNITS[basis]} for basis {basis}"
    try:
        if float(r.get("cost", "")) < 0:
            return "cost", "must not be negative"
    except ValueError:
        return "cost", f"'{r.get('cost')}' is not a number"
    if status not in COST_STATUSES:
        return "status", f"must be one of {', '.join(COST_STATUSES)}"
    if not source:
        return "source", "every cost needs its source"
    if (status == "assumption") != source.startswith("assumption:"):
        return "source", "an assumption says so ('assumption: ...'); a sourced or derived cost cites its source"
    if status == "derived" and not (r.get("source_figure") or "").strip():
        return "source_figure", "a derived cost states the published figure and how it was converted"
    return None


@cache
def load_offer_checks() -> dict[str, Any]:
    """Limits of the offer checks (``offer_checks.toml``), each with its source."""
    with resources.files("circulith.reference").joinpath("data/offer_checks.toml").open("rb") as fh:
        return tomllib.load(fh)


def handling_lines(units: pd.DataFrame, costs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Handling cost lines of every damaged or critical battery.

    Parameters
    ----------
    units : pandas.DataFrame
        ``battery_id``, ``mass_kg`` [kg], ``damage_state`` (intact, damaged, critical).
    costs : pandas.DataFrame, optional
        Cost table (default: the shipped one).

    Returns
    -------
    pandas.DataFrame
        ``battery_id, item, damage_state, quantity, unit, rate, cost_usd, source``: one line per
        battery and item; intact batteries have none.
    """
    costs = load_handling_costs() if costs is None else costs
    bad = units[~units["damage_state"].isin(DAMAGE_STATES)]
    if not bad.empty:
        raise InvalidInput([Problem(int(i) + 1, "damage_state", f"'{s}' is not one of {', '.join(DAMAGE_STATES)}",
                                    str(b)) for i, b, s in zip(bad.index, bad["battery_id"], bad["damage_state"],
                                                               strict=True)][:20])
    merged = units[["battery_id", "mass_kg", "damage_state"]].merge(costs, on="damage_state", how="inner")
    per_kg = merged["basis"] == "per_kg"
    merged["quantity"] = merged["mass_kg"].where(per_kg, 1.0).astype(float)
    merged["unit"] = merged["unit"]
    merged["rate"] = merged["cost"]
    merged["cost_usd"] = (merged["quantity"] * merged["rate"]).round(2)
    return merged[["battery_id", "item", "damage_state", "quantity", "unit", "rate", "cost_usd", "source"]]


def price_age_warning(newest_price: dt.date, as_of: dt.date, max_age_days: int | None = None) -> str | None:
    """A warning when the newest price is older than ``max_age_days`` on ``as_of`` [days]."""
    limit = int(load_offer_checks()["max_price_age_days"] if max_age_days is None else max_age_days)
    age = (as_of - newest_price).days
    if age <= limit:
        return None
    return (f"the newest price is dated {newest_price.isoformat()}, {age} days before {as_of.isoformat()} "
            f"(more than {limit}): load a current price file (--prices FILE, columns of prices.csv)")


def plausibility_problems(units: pd.DataFrame, declared: pd.DataFrame) -> list[Problem]:
    """Problems of stated figures against the registry's declarations and physical limits.

    Parameters
    ----------
    units : pandas.DataFrame
        ``battery_id``, ``chemistry``, ``mass_kg`` [kg] as stated for the offer; optional ``form``.
    declared : pandas.DataFrame
        ``battery_id``, ``chemistry``, ``mass_kg`` [kg], ``rated_energy_kwh`` [kWh] from the passports
        (batteries absent from it are checked against physical limits only).
    """
    checks = load_offer_checks()
    tol = float(checks["declared_mass_tolerance_rel"])
    max_mass = float(checks["max_battery_mass_kg"])
    min_rel = float(checks["min_pack_specific_energy_rel"])
    chem = chemistry_table()
    dec = declared.set_index("battery_id") if not declared.empty else pd.DataFrame()
    out: list[Problem] = []
    for k, r in enumerate(units.to_dict(orient="records"), start=1):
        bid = str(r["battery_id"])
        mass = float(r["mass_kg"]) if r.get("mass_kg") is not None and pd.notna(r.get("mass_kg")) else None
        d = dec.loc[bid] if bid in dec.index else None
        if d is not None and r.get("chemistry") and str(r["chemistry"]) != str(d["chemistry"]):
            out.append(Problem(k, "chemistry", f"'{r['chemistry']}' but the passport declares '{d['chemistry']}'",
                               bid))
        if mass is None:
            continue
        if d is not None and abs(mass - float(d["mass_kg"])) > tol * float(d["mass_kg"]):
            beyond = "" if 0 < mass <= max_mass else f"; beyond the physical limit of a battery ({max_mass:g} kg)"
            out.append(Problem(k, "mass_kg", f"{mass:g} kg but the passport declares {float(d['mass_kg']):g} kg "
                               f"(more than {tol:.0%} apart: a typo or the wrong battery?){beyond}", bid))
            continue
        if not 0 < mass <= max_mass:
            out.append(Problem(k, "mass_kg", f"{mass:g} kg is outside (0, {max_mass:g}] kg, the physical limit of a "
                               "battery (offer_checks.toml)", bid))
            continue
        code = str(d["chemistry"]) if d is not None else str(r.get("chemistry") or "")
        energy = d.get("rated_energy_kwh") if d is not None else r.get("rated_energy_kwh")
        if code in chem.index and energy is not None and pd.notna(energy):
            implied = float(energy) * 1000.0 / float(chem.loc[code, "pack_specific_energy_wh_per_kg"])
            if mass > implied / min_rel:
                out.append(Problem(k, "mass_kg", f"{mass:g} kg is more than {1 / min_rel:.1f} x the {implied:.0f} kg "
                                   f"its {float(energy):g} kWh imply for {code}", bid))
    return out
