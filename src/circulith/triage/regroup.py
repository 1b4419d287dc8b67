"""Regroup graded cells or modules into second-life packs of like units with consistent capacity and resistance.

Two steps, as in incoming sorting for repurposing (UL 1974, 2nd ed. 2023: sorting and grading; see
``reference/data/regroup_matching.toml`` for the sources):

1. **Like units only.** Units are sorted into classes of like units: same chemistry and level (where
   the table says), nominal voltage within ``max_nominal_voltage_diff_pct`` and rated capacity within
   ``max_rated_capacity_diff_pct`` of the class's first unit (the tolerances of
   ``regroup_matching.toml``). A series string never mixes classes: modules of another cell count or
   another capacity class would be over- or under-driven by the string's current.
2. **Matching within a class.** Greedy on units sorted by capacity: a window of ``units_per_group``
   consecutive units forms a group when its capacity spread ``(max - min) / max`` and resistance
   spread ``(max - min) / median`` are within the application's limits (``[applications.*]
   max_capacity_spread_pct`` and ``max_resistance_spread_pct`` of the rules file); otherwise the
   unit that breaks the window becomes a leftover and the window slides on.

A series string is only as strong as its weakest element: a group's capacity is its lowest unit
capacity, its rated capacity the lowest rated capacity of its units, and its usable energy
``min capacity x sum of nominal voltages x DoD``. Every unit that is not grouped is a leftover with
its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.reference.loader import read_toml
from circulith.triage.rules import load_rules

REGROUP_GRADES = ("reuse", "repurpose")
"""Grades whose units may be regrouped."""


@lru_cache(maxsize=1)
def load_matching() -> dict[str, Any]:
    """The shipped like-unit tolerances (``reference/data/regroup_matching.toml``)."""
    return read_toml("regroup_matching.toml").data


@dataclass
class RegroupResult:
    """Groups (lists of battery ids) with their figures, and the leftovers with their reasons."""

    application: str
    groups: list[dict[str, Any]] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    """Why each leftover was not grouped (battery id -> reason)."""

    @property
    def usable_energy_kwh(self) -> float:
        """Total expected usable energy of all groups [kWh]."""
        return float(sum(g["usable_energy_kwh"] for g in self.groups))

    def leave(self, battery_id: str, reason: str) -> None:
        """Record ``battery_id`` as a leftover for ``reason``."""
        self.leftovers.append(battery_id)
        self.reasons[battery_id] = reason


def _within(value: float, ref: float, tol_pct: float) -> bool:
    """``value`` within ``tol_pct`` [%] of ``ref`` (two unknowns match; an unknown never matches a known)."""
    if np.isnan(value) or np.isnan(ref):
        return bool(np.isnan(value) and np.isnan(ref))
    return abs(value - ref) <= tol_pct / 100.0 * max(abs(ref), abs(value))


def like_classes(units: pd.DataFrame, matching: dict[str, Any] | None = None) -> list[tuple[str, pd.DataFrame]]:
    """Split ``units`` into classes of like units that may share a series string.

    Parameters
    ----------
    units : pandas.DataFrame
        ``nominal_voltage_v`` [V]; optional ``rated_capacity_ah`` [Ah], ``chemistry``, ``level``.
    matching : dict, optional
        Tolerances (default: ``regroup_matching.toml``).

    Returns
    -------
    list of (str, pandas.DataFrame)
        Per class its description (e.g. ``"NMC622 module 43.8 V 182.65 Ah"``) and its rows, in the
        order of the classes' first units sorted by nominal voltage and rated capacity.
    """
    cfg = matching or load_matching()
    v_tol = float(cfg["max_nominal_voltage_diff_pct"])
    c_tol = float(cfg["max_rated_capacity_diff_pct"])
    keys = [c for c, on in (("chemistry", cfg.get("same_chemistry", True)), ("level", cfg.get("same_level", True)))
            if on and c in units]
    volt = pd.to_numeric(units["nominal_voltage_v"], errors="coerce").to_numpy(float)
    rated = (pd.to_numeric(units["rated_capacity_ah"], errors="coerce").to_numpy(float)
             if "rated_capacity_ah" in units else np.full(len(units), np.nan))
    labels = [tuple(str(units[c].iloc[i]) for c in keys) for i in range(len(units))]
    order = sorted(range(len(units)), key=lambda i: (labels[i], -np.nan_to_num(volt[i]), -np.nan_to_num(rated[i])))
    refs: list[tuple[tuple[str, ...], float, float]] = []
    members: list[list[int]] = []
    for i in order:
        for k, (lab, v_ref, c_ref) in enumerate(refs):
            if lab == labels[i] and _within(volt[i], v_ref, v_tol) and _within(rated[i], c_ref, c_tol):
                members[k].append(i)
                break
        else:
            refs.append((labels[i], volt[i], rated[i]))
            members.append([i])
    out = []
    for (lab, v_ref, c_ref), idx in zip(refs, members, strict=True):
        words = [*lab, f"{v_ref:g} V"] + ([] if np.isnan(c_ref) else [f"{c_ref:g} Ah"])
        out.append((" ".join(words), units.iloc[idx]))
    return out


def regroup(units: pd.DataFrame, *, application: str = "stationary_storage", units_per_group: int = 4,
            rules: dict[str, Any] | None = None, max_capacity_spread_pct: float | None = None,
            max_resistance_spread_pct: float | None = None, matching: dict[str, Any] | None = None) -> RegroupResult:
    """Match like units into groups.

    Parameters
    ----------
    units : pandas.DataFrame
        Columns ``battery_id``, ``capacity_ah`` [Ah], ``nominal_voltage_v`` [V]; optional
        ``rated_capacity_ah`` [Ah], ``chemistry`` and ``level`` (units are only grouped with like
        units, see :func:`like_classes`), ``resistance_ohm`` [ohm] and ``grade`` (only
        'reuse'/'repurpose' units are grouped).
    application : str
        Application whose limits apply.
    units_per_group : int
        Units in series per group.
    max_capacity_spread_pct, max_resistance_spread_pct : float, optional
        Override the rule-file limits [%].
    matching : dict, optional
        Like-unit tolerances (default: ``regroup_matching.toml``).

    Returns
    -------
    RegroupResult
        Each group carries ``battery_ids``, ``min_capacity_ah`` [Ah], ``rated_capacity_ah`` [Ah] (None
        when the table has none), ``capacity_spread_pct`` and ``resistance_spread_pct`` [%],
        ``nominal_voltage_v`` [V] (sum over the string), ``usable_energy_kwh`` [kWh] and ``like_class``.
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
        bad = ~df["grade"].isin(REGROUP_GRADES)
        for bid, grade in zip(df.loc[bad, "battery_id"].astype(str), df.loc[bad, "grade"], strict=True):
            result.leave(bid, f"graded {grade}: only {' or '.join(REGROUP_GRADES)} units are regrouped")
        df = df[~bad]
    unknown = pd.to_numeric(df["capacity_ah"], errors="coerce").isna() | pd.to_numeric(
        df["nominal_voltage_v"], errors="coerce").isna()
    for bid in df.loc[unknown, "battery_id"].astype(str):
        result.leave(bid, "capacity or nominal voltage unknown")
    df = df[~unknown]
    if df.empty:
        return result
    for label, members in like_classes(df, matching):
        _match_class(members, label, result, n=units_per_group, cap_lim=cap_lim, res_lim=res_lim,
                     dod=float(cfg["depth_of_discharge"]))
    return result


def _match_class(df: pd.DataFrame, label: str, result: RegroupResult, *, n: int, cap_lim: float, res_lim: float,
                 dod: float) -> None:
    """Greedy capacity/resistance matching of one class of like units, adding groups and leftovers to ``result``."""
    if len(df) < n:
        for bid in df["battery_id"].astype(str):
            result.leave(bid, f"only {len(df)} like unit(s) ({label}): a series string needs {n}")
        return
    df = df.sort_values("capacity_ah", ascending=False, kind="stable").reset_index(drop=True)
    cap = df["capacity_ah"].to_numpy(float)
    res = (pd.to_numeric(df["resistance_ohm"], errors="coerce").to_numpy(float) if "resistance_ohm" in df
           else np.full(len(df), np.nan))
    rated = (pd.to_numeric(df["rated_capacity_ah"], errors="coerce").to_numpy(float) if "rated_capacity_ah" in df
             else np.full(len(df), np.nan))
    ids = df["battery_id"].astype(str).to_numpy()
    volt = df["nominal_voltage_v"].to_numpy(float)
    k = 0
    while k + n <= len(cap):  # cap shrinks as units are dropped
        w = slice(k, k + n)
        cs = (cap[w].max() - cap[w].min()) / cap[w].max()
        rw = res[w]
        rs = 0.0 if np.isnan(rw).all() else (np.nanmax(rw) - np.nanmin(rw)) / np.nanmedian(rw)
        if cs <= cap_lim and rs <= res_lim:
            rated_w = rated[w]
            result.groups.append({
                "battery_ids": ids[w].tolist(), "min_capacity_ah": float(cap[w].min()),
                "rated_capacity_ah": None if np.isnan(rated_w).any() else float(rated_w.min()),
                "capacity_spread_pct": float(100 * cs), "resistance_spread_pct": float(100 * rs),
                "nominal_voltage_v": float(volt[w].sum()),
                "usable_energy_kwh": float(cap[w].min() * volt[w].sum() * dod / 1000.0),
                "like_class": label,
            })
            k += n
            continue
        # drop the unit that breaks the window: resistance outlier if that failed, else the first
        if rs > res_lim:
            med = np.nanmedian(rw)
            drop = k + int(np.nanargmax(np.abs(rw - med)))
            why = (f"resistance {res[drop] * 1000:.3g} mOhm: its string would spread {100 * rs:.1f} % in resistance "
                   f"(limit {100 * res_lim:g} %)")
        else:
            drop = k
            why = (f"capacity {cap[drop]:.4g} Ah: the next like units spread {100 * cs:.1f} % in capacity "
                   f"(limit {100 * cap_lim:g} %)")
        result.leave(str(ids[drop]), why)
        keep = np.ones(len(cap), bool)
        keep[drop] = False
        cap, res, rated, ids, volt = cap[keep], res[keep], rated[keep], ids[keep], volt[keep]
    for bid in ids[k:]:
        result.leave(str(bid), f"{len(ids) - k} like unit(s) ({label}) left after the full strings of {n}")
