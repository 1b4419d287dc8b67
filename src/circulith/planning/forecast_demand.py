"""Network demand from a forecast: a scenario's feedstock of one year spread over collection points.

When a scenario names no demand file, the collection volumes of its network plan follow its forecast. The
forecast gives feedstock per region and chemistry for each year [t/yr]; the collection points (a template
demand table: the shipped ``example_demand.csv`` unless the planner gives other points) say *where* it is
collected. Each point belongs to the forecast region whose countries (``region_states.csv``, ISO 3166-1
alpha-2) include the point's ``state``; a region's tonnes of each chemistry are shared among its points in
proportion to the template's tonnes (equally where the template has none), so the volumes are proportional
to the forecast::

    tonnes[point, chemistry] = feedstock[region(point), chemistry, year] * w[point] / sum(w over the region)

The points keep their damaged, critical and reusable shares. A point in no forecast region is left out, and a
forecast region without a point is named (its feedstock has nowhere to be collected), so nothing is silently
dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from circulith.errors import InvalidInput, Problem


@dataclass(frozen=True)
class ForecastDemand:
    """Demand rows built from a forecast and what they leave out.

    Attributes
    ----------
    demand : pandas.DataFrame
        Demand rows in the network format (one per collection point and chemistry with tonnes > 0) [t/yr].
    year : int
        Forecast year whose feedstock the rows carry [year].
    total_t : float
        Tonnes placed at the points [t/yr].
    points_without_region : list of str
        Template points whose state lies in no forecast region (left out).
    regions_without_points : list of str
        Forecast regions with feedstock but no collection point (their tonnes are not in the plan).
    unplaced_t : float
        Feedstock of those regions [t/yr].
    """

    demand: pd.DataFrame
    year: int
    total_t: float
    points_without_region: list[str] = field(default_factory=list)
    regions_without_points: list[str] = field(default_factory=list)
    unplaced_t: float = 0.0

    def note(self, points: str) -> str:
        """One sentence saying which demand the plan used."""
        text = (f"demand from the forecast: median feedstock of {self.year}, {self.total_t:,.0f} t, over the "
                f"collection points of {points}")  # fmt: skip
        if self.points_without_region:
            text += f"; points outside the forecast regions left out: {', '.join(self.points_without_region)}"
        if self.regions_without_points:
            text += (f"; {self.unplaced_t:,.0f} t of {', '.join(self.regions_without_points)} not placed "
                     "(no collection point there)")  # fmt: skip
        return text


def _region_of(state: str, region_states: Mapping[str, frozenset[str]], regions: list[str]) -> str | None:
    """The forecast region a state belongs to: the region itself, or the smallest group that contains it.

    Region names match case-insensitively (``germany`` is ``Germany``); a region may also be a state code.
    """
    codes = {k.casefold(): v for k, v in region_states.items()}
    hits = [r for r in regions if r.upper() == state or state in codes.get(r.casefold(), frozenset())]
    return min(hits, key=lambda r: len(codes.get(r.casefold(), frozenset()))) if hits else None


def demand_from_forecast(feedstock: pd.DataFrame, points: pd.DataFrame, *, year: int,
                         region_states: Mapping[str, frozenset[str]]) -> ForecastDemand:  # fmt: skip
    """Spread the forecast feedstock of ``year`` over collection points (formula in the module docstring).

    Parameters
    ----------
    feedstock : pandas.DataFrame
        Forecast rows ``year, region, median`` and optionally ``chemistry`` [t/yr].
    points : pandas.DataFrame
        Validated demand table used as the template of collection points (``source_id, lat, lon, tonnes,
        damaged_share, critical_share, reusable_share, chemistry, state``).
    year : int
        Forecast year [year].
    region_states : mapping of str to frozenset of str
        ISO codes of each region (:func:`circulith.planning.reference_data.load_region_states`).

    Raises
    ------
    InvalidInput
        The year is outside the forecast, or no collection point lies in any forecast region.
    """
    rows = feedstock[feedstock["year"] == year]
    if rows.empty:
        years = sorted(set(feedstock["year"]))
        raise InvalidInput(Problem(None, "year", f"no forecast for {year}; the forecast covers "
                                   f"{years[0] if years else '?'}-{years[-1] if years else '?'}"))  # fmt: skip
    regions = sorted(set(rows["region"].astype(str)))
    pts = points.copy()
    pts["region"] = [_region_of(str(s).strip().upper(), region_states, regions) for s in pts["state"]]
    outside = sorted(pts.loc[pts["region"].isna(), "source_id"].astype(str))
    pts = pts[pts["region"].notna()]
    if pts.empty:
        raise InvalidInput(Problem(None, "network_demand", f"no collection point lies in the forecast regions "
                                   f"{regions}: regions are countries or groups of region_states.csv (or state "
                                   "codes such as DE) and points need their state code"))  # fmt: skip
    weight = pts["tonnes"].astype(float)
    share = pd.Series(0.0, index=pts.index)
    for _region, g in pts.groupby("region"):
        w = weight[g.index]
        share[g.index] = w / w.sum() if w.sum() > 0 else 1.0 / len(g)
    by_chem = "chemistry" in rows.columns
    out = []
    for _, r in rows.iterrows():
        here = pts[pts["region"] == str(r["region"])]
        for idx, p in here.iterrows():
            tonnes = float(r["median"]) * float(share[idx])
            if tonnes <= 0:
                continue
            chem = str(r["chemistry"]) if by_chem else str(p["chemistry"])
            out.append({**{k: p[k] for k in points.columns if k not in ("source_id", "tonnes", "chemistry")},
                        "source_id": f"{p['source_id']}/{chem}" if by_chem else str(p["source_id"]),
                        "tonnes": tonnes, "chemistry": chem})  # fmt: skip
    missing = rows[~rows["region"].astype(str).isin(set(pts["region"]))]
    demand = pd.DataFrame(out, columns=list(points.columns))
    return ForecastDemand(
        demand=demand.reset_index(drop=True), year=int(year), total_t=float(demand["tonnes"].sum()),
        points_without_region=outside, regions_without_points=sorted(set(missing["region"].astype(str))),
        unplaced_t=float(missing["median"].sum()),
    )  # fmt: skip
