"""Weekly lot routing: this week's inventory of batteries assigned to destinations and trucks.

Input: an inventory frame, one row per battery, with ``battery_id, site_id, mass_kg, grade, damage_state,
chemistry`` (``site_id`` is where the battery is now; it must be a site of the sites frame, of any kind),
and a sites frame in the network format (:mod:`circulith.planning.network`).

Rules applied, in order:

1. *Path*. ``grade`` reuse or repurpose **and** ``damage_state`` intact: the reuse path (``reuse`` sites).
   Grade recycle, or any damaged or critical battery: the recycling path (first-echelon sites: spokes and
   dismantlers). Grade quarantine: held at its site until re-inspected (never shipped).
2. *Destination*. Per lot (origin, path, damage state, chemistry), the permitted destinations (site kind;
   the damage-state permit ``accepts_damaged`` / ``accepts_critical``; the site's chemistry list) ranked by
   cost per tonne (variable cost plus truck cost per km over payload, carbon priced); each in turn takes
   the heaviest remaining batteries of the lot until the next does not fit in the capacity left
   (``capacity_t``, read as the intake available this period). What fits nowhere is held with the reason.
3. *Trucks*. Per origin and destination, batteries are packed first-fit decreasing into trucks, each
   battery using ``mass / payload(damage state)`` of a truck; two damage states share a truck only where
   ``load_compatibility.csv`` allows it (critical travels alone by default). A truck whose lithium-battery
   load exceeds the ADR 1.1.3.6 threshold (``transport_rules.csv``, 333 kg) is carried under full ADR.

The function is pure: plain frames in, plain frames out; the registry query that produces the inventory
lives with the storage layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.planning.network import (
    DAMAGE_STATES,
    FIRST_ECHELON,
    REUSE,
    NetworkParams,
    first_per_cell,
    haversine_km,
    numeric_columns,
    permitted_modes,
    site_accepts,
    transport_regimes,
    validate_sites,
)
from circulith.planning.reference_data import load_load_compatibility, load_transport_rules

INVENTORY_COLUMNS: tuple[str, ...] = ("battery_id", "site_id", "mass_kg", "grade", "damage_state", "chemistry")
GRADES: tuple[str, ...] = ("reuse", "repurpose", "recycle", "quarantine")
_STATE_RANK = {s: i for i, s in enumerate(DAMAGE_STATES)}


def compatibility_matrix(table: pd.DataFrame | None = None) -> np.ndarray:
    """Symmetric boolean matrix over :data:`DAMAGE_STATES`: True where two states may share a vehicle.

    Pairs missing from the table are not allowed (the safe default).
    """
    t = load_load_compatibility() if table is None else table
    m = np.zeros((len(DAMAGE_STATES), len(DAMAGE_STATES)), dtype=bool)
    for a, b, ok in t[["state_a", "state_b", "same_vehicle"]].itertuples(index=False):
        if a in _STATE_RANK and b in _STATE_RANK:
            v = str(ok).strip().lower() in ("true", "1", "yes")
            m[_STATE_RANK[a], _STATE_RANK[b]] = m[_STATE_RANK[b], _STATE_RANK[a]] = v
    return m


@dataclass
class LotRouting:
    """Result of :func:`route_lots`.

    Attributes
    ----------
    assignments : pandas.DataFrame
        One row per shipped battery: ``battery_id, from_site, to_site, path, damage_state, chemistry,
        mass_kg, truck_id, distance_km``.
    trucks : pandas.DataFrame
        One row per truck: ``truck_id, from_site, to_site, n_batteries, mass_kg, states, load_share,
        regime, full_adr, distance_km, cost_usd, emissions_kg_co2e``.
    held : pandas.DataFrame
        Batteries not shipped: ``battery_id, site_id, damage_state, grade, reason``.
    summary : dict
        Totals (batteries, kg, trucks, cost, emissions) and the rules in effect.
    """

    assignments: pd.DataFrame
    trucks: pd.DataFrame
    held: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "summary": self.summary,
            "trucks": self.trucks.to_dict(orient="records"),
            "assignments": self.assignments.to_dict(orient="records"),
            "held": self.held.to_dict(orient="records"),
        }


def validate_inventory(inventory: pd.DataFrame, site_ids: set[str], *, source: str = "inventory") -> pd.DataFrame:
    """Check an inventory frame; every problem named by data row (1-based), field and battery."""
    missing = [c for c in INVENTORY_COLUMNS if c not in inventory.columns]
    if missing:
        raise InvalidInput(Problem(None, ",".join(missing), "missing column(s)"), source=source)
    df = inventory.loc[:, list(INVENTORY_COLUMNS)].copy().reset_index(drop=True)
    for col in ("battery_id", "site_id", "grade", "damage_state", "chemistry"):
        df[col] = df[col].astype(str).str.strip()
    df["grade"] = df["grade"].str.lower()
    df["damage_state"] = df["damage_state"].str.lower()
    problems: list[Problem] = []
    numeric_columns(df, ("mass_kg",), df["battery_id"], problems)
    line = df.index.to_numpy() + 1  # data row, 1-based (as every planning reader)
    checks = [
        (~(np.isfinite(df["mass_kg"].to_numpy(float)) & (df["mass_kg"].to_numpy(float) > 0)), "mass_kg",
         lambda r: f"must be a number > 0, got {r['mass_kg']}"),
        (~df["grade"].isin(GRADES).to_numpy(), "grade", lambda r: f"unknown grade {r['grade']!r}; expected {GRADES}"),
        (~df["damage_state"].isin(DAMAGE_STATES).to_numpy(), "damage_state",
         lambda r: f"unknown damage state {r['damage_state']!r}; expected {DAMAGE_STATES}"),
        (~df["site_id"].isin(site_ids).to_numpy(), "site_id", lambda r: f"unknown site {r['site_id']!r}"),
    ]  # fmt: skip
    for bad, fld, why in checks:
        for i in np.flatnonzero(bad)[:50]:
            problems.append(Problem(int(line[i]), fld, why(df.iloc[i]), str(df["battery_id"].iloc[i])))
    for b in df["battery_id"][df["battery_id"].duplicated()].unique()[:50]:
        problems.append(Problem(None, "battery_id", "duplicate battery_id", str(b)))
    if problems:
        raise InvalidInput(first_per_cell(problems), source=source)
    return df


def _pack_trucks(usage: np.ndarray, states: np.ndarray, compat: np.ndarray) -> np.ndarray:
    """First-fit decreasing: truck index of each item (``usage`` in truck shares, items pre-sorted)."""
    loads: list[float] = []
    members: list[set[int]] = []
    out = np.empty(usage.size, dtype=int)
    for k in range(usage.size):
        u, s = usage[k], int(states[k])
        for t in range(len(loads)):
            if loads[t] + u <= 1.0 + 1e-9 and all(compat[s, o] for o in members[t]):
                loads[t] += u
                members[t].add(s)
                out[k] = t
                break
        else:
            loads.append(u)
            members.append({s})
            out[k] = len(loads) - 1
    return out


def route_lots(
    inventory: pd.DataFrame,
    sites: pd.DataFrame,
    params: NetworkParams | None = None,
    *,
    jurisdiction: str = "ADR",
    rules: pd.DataFrame | None = None,
    compatibility: pd.DataFrame | None = None,
) -> LotRouting:
    """Assign an inventory of batteries to destinations and trucks under the transport rules.

    Parameters
    ----------
    inventory : pandas.DataFrame
        ``battery_id, site_id, mass_kg [kg], grade, damage_state, chemistry`` (extra columns ignored).
    sites : pandas.DataFrame
        Network sites (format of :mod:`circulith.planning.network`); origins may be of any kind.
    params : NetworkParams, optional
        Payloads, truck cost, multipliers, carbon price (default: shipped ``network_defaults.toml``).
    jurisdiction : str
        ``ADR`` (Europe) or ``US`` (49 CFR); selects the rules that permit modes and the 333 kg threshold.
    rules : pandas.DataFrame, optional
        Transport rules (default: shipped ``transport_rules.csv``).
    compatibility : pandas.DataFrame, optional
        Which damage states may share a vehicle (default: shipped ``load_compatibility.csv``).

    Returns
    -------
    LotRouting
    """
    params = params or NetworkParams.from_defaults()
    rules = load_transport_rules() if rules is None else rules
    regimes = transport_regimes(rules)
    s_df = validate_sites(sites)
    inv = validate_inventory(inventory, set(s_df["site_id"]))
    prefix = {"ADR": "ADR", "US": "US"}.get(jurisdiction)
    if prefix is None:
        raise InvalidInput(Problem(None, "jurisdiction", f"unknown jurisdiction {jurisdiction!r}; expected ADR or US"))
    for st in sorted(set(inv["damage_state"])):
        if "road" not in permitted_modes(rules, st, prefix):
            raise InvalidInput(Problem(None, "transport_rules", f"road transport not permitted for {st} batteries "
                                       f"under {jurisdiction}"))  # fmt: skip
    thr = rules.loc[rules["rule_id"] == "ADR-1.1.3.6", "threshold_kg"]
    threshold_kg = float(thr.iloc[0]) if prefix == "ADR" and len(thr) else 0.0
    compat = compatibility_matrix(compatibility)

    site_index = {sid: k for k, sid in enumerate(s_df["site_id"])}
    kinds = s_df["kind"].to_numpy()
    dist = haversine_km(s_df["lat"].to_numpy(float), s_df["lon"].to_numpy(float), s_df["lat"].to_numpy(float),
                        s_df["lon"].to_numpy(float)) * params.road_circuity  # fmt: skip
    var_cost = s_df["variable_cost_usd_per_t"].to_numpy(float)
    resid_kg = np.nan_to_num(s_df["capacity_t"].to_numpy(float), nan=0.0) * 1000.0

    inv["path"] = np.where(inv["grade"].isin(["reuse", "repurpose"]) & (inv["damage_state"] == "intact"),
                           "reuse", "recycle")  # fmt: skip
    inv.loc[inv["grade"] == "quarantine", "path"] = "held"
    inv["to"] = -1
    held_reason = pd.Series("", index=inv.index, dtype=object)
    held_reason[inv["path"] == "held"] = "grade quarantine: held at site until re-inspected"
    dest_kinds = {"reuse": REUSE, "recycle": FIRST_ECHELON}
    for (origin, path, state, chem), g in inv[inv["path"] != "held"].groupby(
        ["site_id", "path", "damage_state", "chemistry"], sort=True
    ):
        o = site_index[origin]
        ok = np.isin(kinds, list(dest_kinds[path])) & site_accepts(s_df, state, chem)
        ok[o] = False
        cand = np.flatnonzero(ok)
        if cand.size == 0:
            held_reason[g.index] = f"no {path} site accepts {state} {chem} batteries"
            continue
        tstate = "intact" if path == "reuse" else state
        per_t = var_cost[cand] + dist[o, cand] * params.truck_cost_per_km(tstate) / params.payload_t[tstate]
        order = cand[np.argsort(per_t, kind="stable")]
        g = g.sort_values("mass_kg", ascending=False)
        mass = g["mass_kg"].to_numpy(float)
        to = np.full(mass.size, -1)
        for d in order:  # each site in turn takes the heaviest remaining batteries until the next does not fit
            free = np.flatnonzero(to < 0)
            if free.size == 0:
                break
            fits = free[np.cumsum(mass[free]) <= resid_kg[d] + 1e-9]
            to[fits] = d
            resid_kg[d] -= mass[fits].sum()
        inv.loc[g.index, "to"] = to
        short = g.index[to < 0]
        held_reason[short] = f"no capacity left at permitted {path} sites for {state} {chem} batteries"

    shipped = inv[inv["to"] >= 0].copy()
    held = inv[inv["to"] < 0].assign(reason=held_reason[inv["to"] < 0])
    held = held[["battery_id", "site_id", "damage_state", "grade", "reason"]].reset_index(drop=True)

    truck_rows: list[dict[str, Any]] = []
    shipped["truck_id"] = ""
    n_truck = 0
    for (origin, to), g in shipped.groupby(["site_id", "to"], sort=True):
        o = site_index[origin]
        st_rank = g["damage_state"].map(_STATE_RANK).to_numpy()
        pay_t = np.where(g["path"].to_numpy() == "reuse", params.payload_t["intact"],
                         np.array([params.payload_t[s] for s in g["damage_state"]]))  # fmt: skip
        usage = g["mass_kg"].to_numpy(float) / 1000.0 / pay_t
        order = np.argsort(-usage, kind="stable")
        t_of = _pack_trucks(usage[order], st_rank[order], compat)
        idx = g.index.to_numpy()[order]
        km = float(dist[o, int(to)])
        for t in range(int(t_of.max()) + 1):
            sel = idx[t_of == t]
            rows = shipped.loc[sel]
            worst = DAMAGE_STATES[int(rows["damage_state"].map(_STATE_RANK).max())]
            is_reuse = bool((rows["path"] == "reuse").all())
            tid = f"T{n_truck + 1:04d}"
            n_truck += 1
            shipped.loc[sel, "truck_id"] = tid
            mass_kg = float(rows["mass_kg"].sum())
            states = sorted(set(rows["damage_state"]), key=_STATE_RANK.__getitem__)
            truck_rows.append({
                "truck_id": tid, "from_site": origin, "to_site": str(s_df["site_id"][int(to)]),
                "n_batteries": int(len(sel)), "mass_kg": mass_kg, "states": ";".join(states),
                "load_share": float(usage[order][t_of == t].sum()),
                "regime": regimes["reusable"] if is_reuse else "; ".join(regimes[s] for s in states),
                "full_adr": bool(prefix == "ADR" and mass_kg > threshold_kg),
                "distance_km": km,
                "cost_usd": km * params.truck_cost_per_km("intact" if is_reuse else worst),
                "emissions_kg_co2e": km * params.truck_emissions_kg_co2e_per_km,
            })  # fmt: skip
    trucks = pd.DataFrame(truck_rows, columns=["truck_id", "from_site", "to_site", "n_batteries", "mass_kg",
                                               "states", "load_share", "regime", "full_adr", "distance_km",
                                               "cost_usd", "emissions_kg_co2e"])  # fmt: skip
    shipped["to_site"] = s_df["site_id"].to_numpy()[shipped["to"].to_numpy(int)] if len(shipped) else []
    shipped["distance_km"] = dist[shipped["site_id"].map(site_index).to_numpy(int), shipped["to"].to_numpy(int)] \
        if len(shipped) else []  # fmt: skip
    assignments = shipped.rename(columns={"site_id": "from_site"})[
        ["battery_id", "from_site", "to_site", "path", "damage_state", "chemistry", "mass_kg", "truck_id",
         "distance_km"]
    ].reset_index(drop=True)  # fmt: skip
    handling = float((assignments["mass_kg"] / 1000.0 * var_cost[shipped["to"].to_numpy(int)]).sum()) \
        if len(shipped) else 0.0  # fmt: skip
    summary = {
        "batteries": int(len(inv)),
        "shipped": int(len(assignments)),
        "held": int(len(held)),
        "shipped_kg": float(assignments["mass_kg"].sum()),
        "trucks": int(len(trucks)),
        "full_adr_trucks": int(trucks["full_adr"].sum()) if len(trucks) else 0,
        "transport_cost_usd": float(trucks["cost_usd"].sum()),
        "handling_cost_usd": handling,
        "emissions_t_co2e": float(trucks["emissions_kg_co2e"].sum()) / 1000.0,
        "jurisdiction": jurisdiction,
        "adr_threshold_kg": threshold_kg if prefix == "ADR" else None,
        "rules": "transport_rules.csv, load_compatibility.csv, network_defaults.toml",
    }
    return LotRouting(assignments, trucks, held, summary)
