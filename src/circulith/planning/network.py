"""Network data: sites, demand, distances and the transport rules that restrict damaged flows.

Sites file columns (extra columns allowed): ``site_id, kind, lat, lon, capacity_t, fixed_cost_usd,
variable_cost_usd_per_t, accepts_damaged, chemistries`` and optionally ``accepts_critical`` (default: same as
``accepts_damaged``) and ``state``. Kinds: ``collection, dealer, dismantler, spoke, hub, reuse, refiner``;
``spoke`` and ``dismantler`` form the first echelon, ``hub`` and ``refiner`` the second, ``reuse`` takes
batteries graded reusable; collection points and dealers are sources and are given in the demand file.
``chemistries`` is ``*`` (or empty) for all, else codes separated by ``;``.

Demand file columns: ``source_id, lat, lon, tonnes, damaged_share, chemistry`` and optionally
``critical_share`` (share of the tonnes that is damaged *and* critical, within ``damaged_share``),
``reusable_share`` (share of the intact tonnes graded reusable) and ``state`` (for cost multipliers).
All tonnes and capacities refer to the same planning period; fixed costs are per period.

Errors name the data row (1-based: the first row under the header is row 1), as every planning reader does,
and a number typed with its unit (``4000 t``) is refused with the column it belongs in.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from circulith.errors import InvalidInput, Problem

DAMAGE_STATES: tuple[str, ...] = ("intact", "damaged", "critical")
FIRST_ECHELON = frozenset({"spoke", "dismantler"})
SECOND_ECHELON = frozenset({"hub", "refiner"})
REUSE = frozenset({"reuse"})
SOURCE_KINDS = frozenset({"collection", "dealer"})
SITE_KINDS = FIRST_ECHELON | SECOND_ECHELON | REUSE | SOURCE_KINDS
EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius
SITE_COLUMNS = ("site_id", "kind", "lat", "lon", "capacity_t", "fixed_cost_usd", "variable_cost_usd_per_t",
                "accepts_damaged", "chemistries")  # fmt: skip
DEMAND_COLUMNS = ("source_id", "lat", "lon", "tonnes", "damaged_share", "chemistry")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def _defaults() -> dict[str, Any]:
    with resources.files("circulith.reference").joinpath("data", "network_defaults.toml").open("rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True)
class NetworkParams:
    """Cost, payload and emission parameters (build with :meth:`from_defaults`: ``network_defaults.toml``).

    Attributes
    ----------
    road_circuity : float
        Road / great-circle distance ratio [-].
    truck_cost_usd_per_km : float
        Cost of one loaded truck per km [USD/km].
    truck_emissions_kg_co2e_per_km : float
        Emissions of one truck per km [kg CO2e/km].
    payload_t : mapping
        Payload per truck by damage state (and ``processed`` for spoke -> hub) [t].
    cost_multiplier : mapping
        Transport cost multiplier by damage state [-].
    carbon_price_usd_per_t : float
        Price on transport emissions [USD/t CO2e].
    unmet_penalty_usd_per_t : float
        Penalty on unserved tonnes (diagnostic device) [USD/t].
    period_weeks : float
        Length of the planning period that tonnes, capacities and fixed costs refer to [weeks].
    state_cost_multiplier : mapping
        Per-state (or province) transport cost multiplier for flows leaving a source in that state [-].
    """

    road_circuity: float
    truck_cost_usd_per_km: float
    truck_emissions_kg_co2e_per_km: float
    payload_t: Mapping[str, float]
    cost_multiplier: Mapping[str, float]
    carbon_price_usd_per_t: float
    unmet_penalty_usd_per_t: float
    period_weeks: float
    state_cost_multiplier: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_defaults(cls, **overrides: Any) -> NetworkParams:
        """Parameters from the shipped defaults file, with keyword overrides."""
        d = _defaults()
        payload = {k: float(v) for k, v in d["payload_t"].items() if k != "source"}
        payload.setdefault("processed", payload["intact"])
        mult = {k: float(v) for k, v in d["cost_multiplier"].items() if k != "source"}
        mult.setdefault("processed", 1.0)
        base: dict[str, Any] = {
            "road_circuity": float(d["distance"]["road_circuity"]),
            "truck_cost_usd_per_km": float(d["truck"]["cost_usd_per_km"]),
            "truck_emissions_kg_co2e_per_km": float(d["truck"]["emissions_kg_co2e_per_km"]),
            "payload_t": payload,
            "cost_multiplier": mult,
            "carbon_price_usd_per_t": float(d["carbon"]["price_usd_per_t_co2e"]),
            "unmet_penalty_usd_per_t": float(d["unmet"]["penalty_usd_per_t"]),
            "period_weeks": float(d["period"]["weeks"]),
        }
        base.update(overrides)
        return cls(**base)  # values typed by construction above

    def truck_cost_per_km(self, state: str) -> float:
        """All-in cost of one truck-km for a damage state, carbon included [USD/km]."""
        return (self.truck_cost_usd_per_km * self.cost_multiplier[state]
                + self.truck_emissions_kg_co2e_per_km / 1000.0 * self.carbon_price_usd_per_t)  # fmt: skip


def haversine_km(lat1: NDArray[np.float64], lon1: NDArray[np.float64], lat2: NDArray[np.float64],
                 lon2: NDArray[np.float64]) -> NDArray[np.float64]:  # fmt: skip
    """Great-circle distance matrix between two point sets [km] (inputs in degrees)."""
    p1, p2 = np.radians(lat1)[:, None], np.radians(lat2)[None, :]
    dphi = p2 - p1
    dl = np.radians(lon2)[None, :] - np.radians(lon1)[:, None]
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _parse_bool(v: Any) -> bool | None:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | float | np.integer | np.floating) and not pd.isna(v):
        return bool(v)
    s = "" if pd.isna(v) else str(v).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    return None


_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)\s*$")


def numeric_columns(df: pd.DataFrame, columns: tuple[str, ...], ids: pd.Series,
                    problems: list[Problem]) -> None:  # fmt: skip
    """Convert ``columns`` of ``df`` to numbers in place; name each cell that is text, not a number.

    A value with a unit (``"4000 t"``) is refused as ``unit in value: write 4000 in column capacity_t``; other
    text as ``not a number``. Blank cells become NaN for the caller's own checks (:func:`first_per_cell` then
    keeps one problem per cell). Rows are data rows, 1-based.
    """
    for col in columns:
        raw = df[col]
        num = pd.to_numeric(raw, errors="coerce")
        for i in np.flatnonzero(num.isna().to_numpy() & raw.notna().to_numpy()):
            text = str(raw.iloc[i]).strip()
            if not text:
                continue
            m = _NUMBER_WITH_UNIT.match(text)
            why = (f"unit in value {text!r}: write {m.group(1).replace(',', '')} in column {col}" if m
                   else f"not a number: {text!r}")  # fmt: skip
            problems.append(Problem(int(i) + 1, col, why, str(ids.iloc[i])))
        df[col] = num


def first_per_cell(problems: list[Problem]) -> list[Problem]:
    """The first problem named for each (row, field) cell (a text value is not also "out of range")."""
    seen: set[tuple[int | None, str]] = set()
    out = []
    for p in problems:
        if p.row is None or (p.row, p.field) not in seen:
            out.append(p)
            seen.add((p.row, p.field))
    return out


def validate_sites(sites: pd.DataFrame, *, source: str = "sites") -> pd.DataFrame:
    """Check a sites frame; return it with parsed types and a ``chem_set`` column (frozenset or None = all).

    Refuses: missing columns, unknown kinds, duplicate IDs, coordinates out of range, zero or negative
    capacity, negative costs, unreadable booleans.
    """
    missing = [c for c in SITE_COLUMNS if c not in sites.columns]
    if missing:
        raise InvalidInput(Problem(None, ",".join(missing), "missing column(s)"), source=source)
    df = sites.copy().reset_index(drop=True)
    df["site_id"] = df["site_id"].astype(str).str.strip()
    df["kind"] = df["kind"].astype(str).str.strip().str.lower()
    problems: list[Problem] = []
    numeric_columns(df, ("lat", "lon", "capacity_t", "fixed_cost_usd", "variable_cost_usd_per_t"),
                            df["site_id"], problems)  # fmt: skip
    for i, r in df.iterrows():
        row, sid = int(i) + 1, r["site_id"]  # data row, 1-based
        if r["kind"] not in SITE_KINDS:
            problems.append(Problem(row, "kind", f"unknown kind {r['kind']!r}; expected one of {sorted(SITE_KINDS)}", sid))
        if not (np.isfinite(r["lat"]) and -90 <= r["lat"] <= 90):
            problems.append(Problem(row, "lat", f"must be in [-90, 90], got {r['lat']}", sid))
        if not (np.isfinite(r["lon"]) and -180 <= r["lon"] <= 180):
            problems.append(Problem(row, "lon", f"must be in [-180, 180], got {r['lon']}", sid))
        if r["kind"] not in SOURCE_KINDS and not (np.isfinite(r["capacity_t"]) and r["capacity_t"] > 0):
            problems.append(Problem(row, "capacity_t", f"must be > 0, got {r['capacity_t']}", sid))
        for col in ("fixed_cost_usd", "variable_cost_usd_per_t"):
            if not (np.isfinite(r[col]) and r[col] >= 0):
                problems.append(Problem(row, col, f"must be a number >= 0, got {r[col]}", sid))
        if _parse_bool(r["accepts_damaged"]) is None:
            problems.append(Problem(row, "accepts_damaged", f"not a boolean: {r['accepts_damaged']!r}", sid))
        if "accepts_critical" in df.columns and not pd.isna(r["accepts_critical"]) and _parse_bool(r["accepts_critical"]) is None:
            problems.append(Problem(row, "accepts_critical", f"not a boolean: {r['accepts_critical']!r}", sid))
    dups = df["site_id"][df["site_id"].duplicated()].unique()
    problems.extend(Problem(None, "site_id", "duplicate site_id", str(s)) for s in dups)
    if problems:
        raise InvalidInput(first_per_cell(problems), source=source)
    df["accepts_damaged"] = [bool(_parse_bool(v)) for v in df["accepts_damaged"]]
    if "accepts_critical" in df.columns:
        df["accepts_critical"] = [
            bool(_parse_bool(c)) if not pd.isna(c) else d for c, d in zip(df["accepts_critical"], df["accepts_damaged"], strict=True)
        ]
    else:
        df["accepts_critical"] = df["accepts_damaged"]

    def chem_set(v: Any) -> frozenset[str] | None:
        s = "" if pd.isna(v) else str(v).strip()
        if s in ("", "*", "all"):
            return None
        return frozenset(c.strip() for c in s.replace(",", ";").split(";") if c.strip())

    df["chem_set"] = [chem_set(v) for v in df["chemistries"]]
    return df


def validate_demand(demand: pd.DataFrame, *, source: str = "demand") -> pd.DataFrame:
    """Check a demand frame; fill optional columns (``critical_share``, ``reusable_share``, ``state``)."""
    missing = [c for c in DEMAND_COLUMNS if c not in demand.columns]
    if missing:
        raise InvalidInput(Problem(None, ",".join(missing), "missing column(s)"), source=source)
    df = demand.copy().reset_index(drop=True)
    df["source_id"] = df["source_id"].astype(str).str.strip()
    df["chemistry"] = df["chemistry"].astype(str).str.strip()
    for col in ("critical_share", "reusable_share"):
        if col not in df.columns:
            df[col] = 0.0
    if "state" not in df.columns:
        df["state"] = ""
    df["state"] = df["state"].fillna("").astype(str)
    problems: list[Problem] = []
    numeric_columns(df, ("lat", "lon", "tonnes", "damaged_share", "critical_share", "reusable_share"),
                            df["source_id"], problems)  # fmt: skip
    df[["critical_share", "reusable_share"]] = df[["critical_share", "reusable_share"]].fillna(0.0)
    for i, r in df.iterrows():
        row, sid = int(i) + 1, r["source_id"]  # data row, 1-based
        if not (np.isfinite(r["lat"]) and -90 <= r["lat"] <= 90):
            problems.append(Problem(row, "lat", f"must be in [-90, 90], got {r['lat']}", sid))
        if not (np.isfinite(r["lon"]) and -180 <= r["lon"] <= 180):
            problems.append(Problem(row, "lon", f"must be in [-180, 180], got {r['lon']}", sid))
        if not (np.isfinite(r["tonnes"]) and r["tonnes"] >= 0):
            problems.append(Problem(row, "tonnes", f"must be >= 0, got {r['tonnes']}", sid))
        for col in ("damaged_share", "reusable_share"):
            if not (np.isfinite(r[col]) and 0 <= r[col] <= 1):
                problems.append(Problem(row, col, f"must lie in [0, 1], got {r[col]}", sid))
        if not (np.isfinite(r["critical_share"]) and 0 <= r["critical_share"] <= r["damaged_share"]):
            problems.append(Problem(row, "critical_share", f"must lie in [0, damaged_share], got {r['critical_share']}", sid))
    if problems:
        raise InvalidInput(first_per_cell(problems), source=source)
    return df


def split_by_state(demand: pd.DataFrame) -> NDArray[np.float64]:
    """Tonnes per source and damage state, shape ``(n_sources, 3)`` in the order of :data:`DAMAGE_STATES`."""
    t = demand["tonnes"].to_numpy(float)
    crit = t * demand["critical_share"].to_numpy(float)
    dam = t * demand["damaged_share"].to_numpy(float) - crit
    intact = t - dam - crit
    return np.column_stack([intact, dam, crit])


def site_accepts(sites: pd.DataFrame, state: str, chemistry: str) -> NDArray[np.bool_]:
    """Which sites may receive batteries of a damage state and chemistry (site permit and chemistry list)."""
    if state == "intact":
        ok = np.ones(len(sites), dtype=bool)
    elif state == "damaged":
        ok = sites["accepts_damaged"].to_numpy(bool)
    elif state == "critical":
        ok = sites["accepts_critical"].to_numpy(bool)
    else:
        raise InvalidInput(Problem(None, "damage_state", f"unknown damage state {state!r}; expected {DAMAGE_STATES}"))
    chem_ok = np.array([cs is None or chemistry in cs for cs in sites["chem_set"]], dtype=bool)
    return ok & chem_ok


def permitted_modes(rules: pd.DataFrame, state: str, jurisdiction_prefix: str = "ADR") -> set[str]:
    """Transport modes permitted for a damage state under the rules table (recycling purpose).

    A mode is permitted when a rule for the state lists it and no rule for the state forbids it.
    """
    applies = rules[rules["damage_state"].astype(str).str.split(";").apply(lambda s: state in s)]
    if jurisdiction_prefix:
        applies = applies[applies["jurisdiction"].astype(str).str.startswith(jurisdiction_prefix)
                          | applies["jurisdiction"].astype(str).str.startswith("IATA")]  # fmt: skip
    allowed: set[str] = set()
    forbidden: set[str] = set()
    for _, r in applies.iterrows():
        if isinstance(r["modes_permitted"], str):
            allowed |= set(r["modes_permitted"].split(";"))
        if isinstance(r["modes_forbidden"], str):
            forbidden |= set(r["modes_forbidden"].split(";"))
    return allowed - forbidden


PROCESSED_REGIME = "processed output of the spoke (black mass or modules; not a battery consignment)"


def transport_regimes(rules: pd.DataFrame) -> dict[str, str]:
    """Carriage regime of each flow kind, read from the transport rules table.

    For ``intact``, ``damaged``, ``critical`` and ``reusable`` the ADR/RID rule of that state (its UN number,
    special provision and packing instructions) and, where the table has one, the US 49 CFR rule; the
    spoke's processed output is not a battery consignment (``processed``).
    """
    out: dict[str, str] = {}
    states = rules["damage_state"].astype(str).str.split(";")
    for state in (*DAMAGE_STATES, "reusable"):
        rows = rules[states.apply(lambda s, st=state: st in s) & (rules["purpose"].astype(str) != "any")]
        adr = rows[rows["jurisdiction"].astype(str).str.startswith("ADR")]
        us = rows[rows["jurisdiction"].astype(str).str.startswith("US")]
        if adr.empty:
            raise InvalidInput(Problem(None, "transport_rules", f"no ADR rule for {state} batteries"))
        r = adr.iloc[0]
        provision = str(r["provision"]) if isinstance(r["provision"], str) else ""
        packing = str(r["packing"]).replace(";", "-") if isinstance(r["packing"], str) else ""
        label = " ".join(x for x in (str(r["un_numbers"]).split(";")[0], provision,
                                     "/" if provision and packing else "", packing) if x)  # fmt: skip
        if not us.empty:
            label += f" ({us.iloc[0]['provision']} in the US)"
        if str(r["purpose"]) == "reuse":
            label += " (not waste)"
        out[state] = label
    out["processed"] = PROCESSED_REGIME
    return out
