"""Build sales cohorts (year x region x segment x chemistry x pack kWh) from sales series and shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem

HISTORICAL_LAST_YEAR = 2023
EUROPE = {
    "Austria", "Belgium", "Bulgaria", "Croatia", "Cyprus", "Czech Republic", "Denmark", "Estonia", "EU27",
    "Europe", "Finland", "France", "Germany", "Greece", "Hungary", "Iceland", "Ireland", "Italy", "Latvia",
    "Lithuania", "Luxembourg", "Netherlands", "Norway", "Poland", "Portugal", "Romania", "Slovakia", "Slovenia",
    "Spain", "Sweden", "Switzerland", "United Kingdom", "Turkiye",
}  # fmt: skip


def chemistry_region_group(region: str) -> str:
    """Region group of the chemistry-share table for an IEA region name (China, Europe, USA or Other)."""
    if region == "China":
        return "China"
    if region == "USA":
        return "USA"
    if region in EUROPE:
        return "Europe"
    return "Other"


def sales_series(
    iea: pd.DataFrame,
    regions: Sequence[str],
    modes: Sequence[str],
    *,
    first_year: int,
    last_year: int,
    projection: str = "Projection-STEPS",
    powertrains: Sequence[str] = ("BEV", "PHEV"),
) -> pd.DataFrame:
    """Annual EV sales per region, mode and powertrain from the IEA table.

    Historical values up to 2023; after that the chosen IEA projection (2025, 2030, 2035), linearly
    interpolated between key years (2024 between 2023 and 2025) and held flat after the last key year.
    Years before a series' first historical value count as zero sales.

    Returns
    -------
    pandas.DataFrame
        Columns ``region, mode, powertrain, year, units`` [vehicles].
    """
    known = set(iea["region"])
    unknown = [r for r in regions if r not in known]
    if unknown:
        raise InvalidInput(
            Problem(None, "regions", f"unknown region(s) {unknown}; known: {sorted(known)}"), source="scenario"
        )
    bad_modes = [m for m in modes if m not in set(iea["mode"])]
    if bad_modes:
        raise InvalidInput(Problem(None, "modes", f"unknown mode(s) {bad_modes}"), source="scenario")
    if projection not in set(iea["category"]) - {"Historical"}:
        raise InvalidInput(Problem(None, "sales_projection", f"unknown projection {projection!r}"), source="scenario")
    s = iea[(iea["parameter"] == "EV sales") & iea["region"].isin(regions) & iea["mode"].isin(modes)
            & iea["powertrain"].isin(powertrains)]  # fmt: skip
    hist = s[(s["category"] == "Historical") & (s["year"] <= HISTORICAL_LAST_YEAR)]
    proj = s[(s["category"] == projection) & (s["year"] > HISTORICAL_LAST_YEAR)]
    years = np.arange(first_year, last_year + 1)
    rows = []
    for (region, mode, pt), g in pd.concat([hist, proj]).groupby(["region", "mode", "powertrain"]):
        g = g.sort_values("year")
        ky = g["year"].to_numpy(float)
        kv = g["value"].to_numpy(float)
        h = g[g["category"] == "Historical"]
        first_hist = int(h["year"].min()) if len(h) else int(ky.min())
        vals = np.interp(years.astype(float), ky, kv)  # flat outside the key years
        vals[years < first_hist] = 0.0
        rows.append(pd.DataFrame({"region": region, "mode": mode, "powertrain": pt, "year": years, "units": vals}))
    if not rows:
        raise InvalidInput("no IEA sales rows for the chosen regions and modes", source="scenario")
    return pd.concat(rows, ignore_index=True)


def chemistry_shares_by_year(shares: pd.DataFrame, region_group: str, years: Sequence[int]) -> pd.DataFrame:
    """Chemistry shares for one region group, interpolated linearly between key years and renormalised.

    Returns
    -------
    pandas.DataFrame
        Index year, one column per chemistry, rows summing to 1.
    """
    g = shares[shares["region_group"] == region_group]
    if g.empty:
        raise InvalidInput(Problem(None, "region_group", f"no chemistry shares for {region_group!r}"))
    wide = g.pivot_table(index="year", columns="chemistry", values="share", aggfunc="sum").fillna(0.0)
    ky = wide.index.to_numpy(float)
    out = pd.DataFrame(
        {c: np.interp(np.asarray(years, float), ky, wide[c].to_numpy(float)) for c in wide.columns},
        index=pd.Index(list(years), name="year"),
    )
    return out.div(out.sum(axis=1), axis=0)


def build_cohorts(
    sales: pd.DataFrame,
    shares: pd.DataFrame,
    pack_kwh: Mapping[str, Mapping[str, float]],
) -> pd.DataFrame:
    """Split sales by chemistry share and attach the average pack energy.

    Parameters
    ----------
    sales : pandas.DataFrame
        Columns ``region, mode, powertrain, year, units`` (from :func:`sales_series`).
    shares : pandas.DataFrame
        Chemistry shares table (``region_group, year, chemistry, share``).
    pack_kwh : mapping mode -> {powertrain -> kWh}
        Average pack energy per vehicle [kWh].

    Returns
    -------
    pandas.DataFrame
        Cohorts ``year, region, segment, chemistry, units, pack_kwh`` (segment = mode; BEV and PHEV merged
        with a unit-weighted pack energy).
    """
    problems = [
        Problem(None, "pack_kwh", f"no pack energy for {m}/{p}")
        for m, p in sales[["mode", "powertrain"]].drop_duplicates().itertuples(index=False)
        if p not in pack_kwh.get(m, {})
    ]
    if problems:
        raise InvalidInput(problems, source="scenario")
    s = sales.copy()
    s["kwh"] = [float(pack_kwh[m][p]) for m, p in zip(s["mode"], s["powertrain"], strict=True)] * s["units"]
    s = s.groupby(["region", "mode", "year"], as_index=False)[["units", "kwh"]].sum()
    years = sorted(s["year"].unique())
    out = []
    for region, g in s.groupby("region"):
        sh = chemistry_shares_by_year(shares, chemistry_region_group(str(region)), years)
        long = sh.reset_index().melt(id_vars="year", var_name="chemistry", value_name="share")
        m = g.merge(long, on="year")
        m = m[m["share"] > 0]
        out.append(
            pd.DataFrame(
                {
                    "year": m["year"].astype(int),
                    "region": region,
                    "segment": m["mode"],
                    "chemistry": m["chemistry"],
                    "units": m["units"] * m["share"],
                    "pack_kwh": np.where(m["units"] > 0, m["kwh"] / m["units"].where(m["units"] > 0, 1.0), 0.0),
                }
            )
        )
    return pd.concat(out, ignore_index=True)
