"""Regroup graded cells or modules into second-life packs of consistent capacity and resistance.

Greedy on units sorted by capacity: a window of ``units_per_group`` consecutive units forms a group
when its capacity spread ``(max - min) / max`` and resistance spread ``(max - min) / median`` are
within the application's limits (``[applications.*] max_capacity_spread_pct`` and
``max_resistance_spread_pct`` of the rules file); otherwise the lowest unit becomes a leftover and
the window slides on. Usable energy of a series group = n x min capacity x nominal voltage x DoD
(the weakest unit limits a series string).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.triage.rules import load_rules


@dataclass
class RegroupResult:
    """Groups (lists of battery ids) with their figures, and the leftovers."""

    application: str
    groups: list[dict] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    @property
    def usable_energy_kwh(self) -> float:
        """Total expected usable energy of all groups [kWh]."""
        return float(sum(g["usable_energy_kwh"] for g in self.groups))


def regroup(units: pd.DataFrame, *, application: str = "stationary_storage", units_per_group: int = 4,
            rules: dict | None = None, max_capacity_spread_pct: float | None = None,
            max_resistance_spread_pct: float | None = None) -> RegroupResult:
    """Match units into groups.

    Parameters
    ----------
    units : pandas.DataFrame
        Columns ``battery_id``, ``capacity_ah`` [Ah], ``nominal_voltage_v`` [V]; optional
        ``resistance_ohm`` [ohm]; optional ``grade`` (only 'reuse'/'repurpose' units are grouped).
    application : str
        Application whose limits apply.
    units_per_group : int
        Units in series per group.
    max_capacity_spread_pct, max_resistance_spread_pct : float, optional
        Override the rule-file limits [%].

    Returns
    -------
    RegroupResult
    """
    rules = rules or load_rules()
    if application not in rules["applications"]:
        raise InvalidInput([Problem(None, "application", f"unknown '{application}'")])
    need = [c for c in ["battery_id", "capacity_ah", "nominal_voltage_v"] if c not in units]
    if need:
        raise InvalidInput([Problem(None, c, "required column missing") for c in need], source="regroup input")
    if units_per_group < 1:
        raise InvalidInput([Problem(None, "units_per_group", "must be >= 1")])
    cfg = rules["applications"][application]
    cap_lim = (max_capacity_spread_pct if max_capacity_spread_pct is not None else cfg["max_capacity_spread_pct"]) / 100
    res_lim = (max_resistance_spread_pct if max_resistance_spread_pct is not None
               else cfg["max_resistance_spread_pct"]) / 100
    df = units.copy()
    result = RegroupResult(application)
    if "grade" in df:
        bad = ~df["grade"].isin(["reuse", "repurpose"])
        result.leftovers.extend(df.loc[bad, "battery_id"].astype(str))
        df = df[~bad]
    df = df.sort_values("capacity_ah", ascending=False, kind="stable").reset_index(drop=True)
    cap = df["capacity_ah"].to_numpy(float)
    res = df["resistance_ohm"].to_numpy(float) if "resistance_ohm" in df else np.full(len(df), np.nan)
    ids = df["battery_id"].astype(str).to_numpy()
    volt = df["nominal_voltage_v"].to_numpy(float)
    k, n = 0, units_per_group
    dod = cfg["depth_of_discharge"]
    while k + n <= len(cap):  # cap shrinks as units are dropped
        w = slice(k, k + n)
        cs = (cap[w].max() - cap[w].min()) / cap[w].max()
        rw = res[w]
        rs = 0.0 if np.isnan(rw).all() else (np.nanmax(rw) - np.nanmin(rw)) / np.nanmedian(rw)
        if cs <= cap_lim and rs <= res_lim:
            result.groups.append({
                "battery_ids": ids[w].tolist(), "min_capacity_ah": float(cap[w].min()),
                "capacity_spread_pct": float(100 * cs), "resistance_spread_pct": float(100 * rs),
                "nominal_voltage_v": float(volt[w].sum()),
                "usable_energy_kwh": float(cap[w].min() * volt[w].sum() * dod / 1000.0),
            })
            k += n
        else:
            # drop the unit that breaks the window: resistance outlier if that failed, else the first
            if rs > res_lim:
                med = np.nanmedian(rw)
                drop = k + int(np.nanargmax(np.abs(rw - med)))
            else:
                drop = k
            result.leftovers.append(ids[drop])
            keep = np.ones(len(cap), bool)
            keep[drop] = False
            cap, res, ids, volt = cap[keep], res[keep], ids[keep], volt[keep]
    result.leftovers.extend(ids[k:].tolist())
    return result
