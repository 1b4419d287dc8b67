"""Recycling capacity against forecast feedstock: utilisation and gap per year and region.

Capacity table (``recycling_capacity.csv`` or a user file of the same shape): one row per plant with
``plant_id, country, region, stage, status, start_year, end_year, capacity_t_per_year`` (more columns
allowed; the shipped file cites each row in ``source`` and flags doubtful rows in ``certainty``).

* ``stage``: ``pretreatment`` plants take batteries (spokes, shredders, smelters that take whole
  batteries); ``refining`` plants take black mass. Comparing both with battery feedstock would count the
  same tonnes twice, so the gap uses one stage (``pretreatment`` by default).
* ``status``: ``installed`` and ``planned`` count from ``start_year``; ``closed`` counts from
  ``start_year`` up to the year before ``end_year``; ``cancelled`` never counts.
* A plant counts toward a forecast region if that region is its ``country``, else its ``region``
  (IEA-style groups: China, Europe, USA, Rest of the world); plants matching no forecast region are
  reported as unmatched, never silently added elsewhere.

The shipped table is a *partial* list of named plants with public capacity figures (see each row's
``source`` and ``certainty``); it is far from complete, notably for China (hundreds of licensed
recyclers), so a planner should supply a complete table for decisions.

Feedstock is the forecast's ``feedstock`` stream (end of life plus production scrap) in tonnes of pack
[t/yr], median and interval. Utilisation = feedstock / capacity [-]; gap = feedstock - capacity [t/yr]:
positive is a *deficit* of capacity (feedstock exceeds it), negative a *surplus* (capacity idle).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.planning.network import first_per_cell, numeric_columns

CAPACITY_COLUMNS: tuple[str, ...] = ("plant_id", "country", "region", "stage", "status", "start_year", "end_year",
                                     "capacity_t_per_year")  # fmt: skip
STATUSES: tuple[str, ...] = ("installed", "planned", "closed", "cancelled")
STAGES: tuple[str, ...] = ("pretreatment", "refining")


def validate_capacity(capacity: pd.DataFrame, *, source: str = "capacity") -> pd.DataFrame:
    """Check a capacity table; every problem named by data row (1-based), field and plant."""
    missing = [c for c in CAPACITY_COLUMNS if c not in capacity.columns]
    if missing:
        raise InvalidInput(Problem(None, ",".join(missing), "missing column(s)"), source=source)
    df = capacity.copy().reset_index(drop=True)
    for col in ("plant_id", "country", "region", "stage", "status"):
        df[col] = df[col].astype(str).str.strip()
    problems: list[Problem] = []
    numeric_columns(df, ("start_year", "end_year", "capacity_t_per_year"), df["plant_id"], problems)
    for i, r in df.iterrows():
        row, pid = int(i) + 1, str(r["plant_id"])  # data row, 1-based
        if not (np.isfinite(r["capacity_t_per_year"]) and r["capacity_t_per_year"] > 0):
            problems.append(Problem(row, "capacity_t_per_year", f"must be > 0, got {r['capacity_t_per_year']}", pid))
        if r["status"] not in STATUSES:
            problems.append(Problem(row, "status", f"unknown status {r['status']!r}; expected {STATUSES}", pid))
        if r["stage"] not in STAGES:
            problems.append(Problem(row, "stage", f"unknown stage {r['stage']!r}; expected {STAGES}", pid))
        if not (np.isfinite(r["start_year"]) and 1990 <= r["start_year"] <= 2100):
            problems.append(Problem(row, "start_year", f"must be a year in [1990, 2100], got {r['start_year']}", pid))
        if r["status"] == "closed" and not np.isfinite(r["end_year"]):
            problems.append(Problem(row, "end_year", "a closed plant needs its closing year", pid))
        if np.isfinite(r["end_year"]) and np.isfinite(r["start_year"]) and r["end_year"] < r["start_year"]:
            problems.append(Problem(row, "end_year", f"before start_year {int(r['start_year'])}", pid))
    dups = df["plant_id"][df["plant_id"].duplicated()].unique()
    problems.extend(Problem(None, "plant_id", "duplicate plant_id", str(p)) for p in dups)
    if problems:
        raise InvalidInput(first_per_cell(problems), source=source)
    return df


def plant_regions(capacity: pd.DataFrame, regions: Sequence[str]) -> pd.Series:
    """Forecast region of each plant: its country if that is a forecast region, else its region, else NA."""
    wanted = set(regions)
    out = np.where(capacity["country"].isin(wanted), capacity["country"],
                   np.where(capacity["region"].isin(wanted), capacity["region"], None))  # fmt: skip
    return pd.Series(out, index=capacity.index, dtype=object)


def capacity_by_year(
    capacity: pd.DataFrame,
    years: Sequence[int],
    regions: Sequence[str],
    *,
    stage: str = "pretreatment",
) -> pd.DataFrame:
    """Operating capacity per year and region, installed and including planned plants [t/yr].

    Returns
    -------
    pandas.DataFrame
        ``year, region, installed_t, with_planned_t, n_plants``.
    """
    if stage not in STAGES:
        raise InvalidInput(Problem(None, "stage", f"unknown stage {stage!r}; expected {STAGES}"))
    df = validate_capacity(capacity)
    df = df[(df["stage"] == stage) & (df["status"] != "cancelled")].copy()
    df["forecast_region"] = plant_regions(df, regions)
    df = df[df["forecast_region"].notna()]
    y = np.asarray(list(years), dtype=int)
    start = df["start_year"].to_numpy(float)[:, None]
    end = df["end_year"].fillna(np.inf).to_numpy(float)[:, None]
    on = (y[None, :] >= start) & (y[None, :] < end)  # (plants, years)
    cap = df["capacity_t_per_year"].to_numpy(float)[:, None] * on
    installed = cap * (df["status"] != "planned").to_numpy()[:, None]
    rows = []
    for region in regions:
        sel = (df["forecast_region"] == region).to_numpy()
        rows.append(pd.DataFrame({
            "year": y, "region": region, "installed_t": installed[sel].sum(axis=0),
            "with_planned_t": cap[sel].sum(axis=0), "n_plants": on[sel].sum(axis=0).astype(int),
        }))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def capacity_gap(
    feedstock_t: pd.DataFrame,
    capacity: pd.DataFrame,
    *,
    stage: str = "pretreatment",
    include_planned: bool = True,
) -> pd.DataFrame:
    """Utilisation and gap per year and region.

    Parameters
    ----------
    feedstock_t : pandas.DataFrame
        ``year, region, median, lower, upper`` [t/yr] (the forecast's feedstock tonnes).
    capacity : pandas.DataFrame
        Capacity table (see the module docstring).
    stage : str
        Plant stage compared with the feedstock.
    include_planned : bool
        Count planned plants from their start year (else installed ones only).

    Returns
    -------
    pandas.DataFrame
        ``year, region, feedstock_t, feedstock_lower_t, feedstock_upper_t, capacity_t, utilisation,
        utilisation_lower, utilisation_upper, gap_t, position`` with ``position`` ``deficit`` (feedstock
        above capacity, also when there is no capacity), ``surplus`` or ``balanced`` (within 1 %).
    """
    missing = [c for c in ("year", "region", "median", "lower", "upper") if c not in feedstock_t.columns]
    if missing:
        raise InvalidInput(Problem(None, ",".join(missing), "missing column(s)"), source="feedstock")
    regions = sorted(set(feedstock_t["region"]))
    years = sorted(set(feedstock_t["year"].astype(int)))
    cap = capacity_by_year(capacity, years, regions, stage=stage)
    col = "with_planned_t" if include_planned else "installed_t"
    m = feedstock_t.merge(cap[["year", "region", col]], on=["year", "region"], how="left")
    c = m[col].fillna(0.0).to_numpy(float)
    f = m["median"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(c > 0, f / c, np.nan)
        util_lo = np.where(c > 0, m["lower"].to_numpy(float) / c, np.nan)
        util_hi = np.where(c > 0, m["upper"].to_numpy(float) / c, np.nan)
    gap = f - c
    tol = 0.01 * np.maximum(c, f)
    position = np.where(gap > tol, "deficit", np.where(gap < -tol, "surplus", "balanced"))
    return pd.DataFrame({
        "year": m["year"].astype(int), "region": m["region"], "feedstock_t": f,
        "feedstock_lower_t": m["lower"].to_numpy(float), "feedstock_upper_t": m["upper"].to_numpy(float),
        "capacity_t": c, "utilisation": util, "utilisation_lower": util_lo, "utilisation_upper": util_hi,
        "gap_t": gap, "position": position,
    }).sort_values(["region", "year"]).reset_index(drop=True)  # fmt: skip


def gap_summary(gap: pd.DataFrame) -> list[dict[str, object]]:
    """Per region: years in surplus and in deficit, first deficit year, and the largest deficit [t/yr]."""
    out: list[dict[str, object]] = []
    for region, g in gap.groupby("region", sort=True):
        deficit = g[g["position"] == "deficit"]
        worst = g.loc[g["gap_t"].idxmax()]
        out.append({
            "region": region,
            "surplus_years": [int(y) for y in g.loc[g["position"] == "surplus", "year"]],
            "deficit_years": [int(y) for y in deficit["year"]],
            "first_deficit_year": int(deficit["year"].min()) if len(deficit) else None,
            "largest_deficit_t": float(worst["gap_t"]) if worst["gap_t"] > 0 else 0.0,
            "largest_deficit_year": int(worst["year"]) if worst["gap_t"] > 0 else None,
        })  # fmt: skip
    return out


def unmatched_plants(capacity: pd.DataFrame, regions: Sequence[str]) -> list[str]:
    """Plants (not cancelled) whose country and region match none of the forecast regions."""
    df = validate_capacity(capacity)
    df = df[df["status"] != "cancelled"]
    return sorted(df.loc[plant_regions(df, regions).isna(), "plant_id"].astype(str))
