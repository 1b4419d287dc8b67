"""Retirement and feedstock forecast: sales cohorts -> first-life exits -> second life -> end of life.

Model
-----
A cohort is the set of vehicles sold in one year, region, segment (mode) and chemistry, with ``units`` and
an average pack energy ``pack_kwh``. Each cohort leaves first life according to the competing-risks law of
its segment (:class:`~circulith.planning.lifetime.CompetingRisks`), by calendar year
(:func:`~circulith.planning.lifetime.retirement_kernel`). Exits by crash are end of life at once and counted
as *damaged*; a ``second_life_share`` of the healthy exits (battery at its retirement SOH, or vehicle
scrapped) goes to stationary second life for ``second_life_years`` and then to end of life; the rest goes to
end of life at once. Production scrap is a separate stream: ``s/(1-s)`` times the pack energy sold in a
year, with ``s`` the scrap share of cell production in that year (same chemistry mix as the sales).

Ensembles: each lifetime parameter may be an array of ``m`` members (bootstrap of a fit, or sampled
around defaults by :func:`sample_lifetime_ensemble`); every output is reported as the median and an
interval over the members.

Units: energy in kWh internally and GWh in the output; mass from pack energy and the pack specific energy
of the chemistry [Wh/kg]; contained metal from a ``contained_kg_per_kwh`` table [kg/kWh]; value at a price
mapping [USD/kg of element], reported in million USD.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from circulith.errors import InvalidInput, Problem
from circulith.planning.lifetime import CompetingRisks, retirement_kernel

METALS: tuple[str, ...] = ("Li", "Ni", "Co", "Mn")
STREAMS: tuple[str, ...] = (
    "first_life_exit",
    "second_life_entry",
    "eol",
    "eol_damaged",
    "production_scrap",
    "feedstock",
)
METRICS: tuple[str, ...] = ("units", "gwh", "tonnes", "li_t", "ni_t", "co_t", "mn_t", "value_musd")
COHORT_COLUMNS: tuple[str, ...] = ("year", "region", "segment", "chemistry", "units", "pack_kwh")


def sample_lifetime_ensemble(
    base: Mapping[str, CompetingRisks], n_members: int, *, relative_sd: float, seed: int | None = 0
) -> dict[str, CompetingRisks]:
    """Ensemble of lifetime laws around central values (lognormal multiplicative perturbation).

    Parameters
    ----------
    base : mapping of segment -> CompetingRisks
        Central (scalar) parameters per segment.
    n_members : int
        Number of ensemble members.
    relative_sd : float
        Standard deviation of the log of each multiplier [-] (≈ relative standard deviation).
    seed : int, optional
        Random seed.

    Returns
    -------
    dict of segment -> CompetingRisks
        Each parameter an array of shape ``(n_members,)``; member 0 is the central value.
    """
    if n_members < 1:
        raise InvalidInput(Problem(None, "ensemble_members", f"must be >= 1, got {n_members}"))
    if not 0 <= relative_sd <= 1:
        raise InvalidInput(Problem(None, "relative_sd", f"must lie in [0, 1], got {relative_sd}"))
    rng = np.random.default_rng(seed)
    out: dict[str, CompetingRisks] = {}
    for seg, r in base.items():
        mult = np.exp(rng.normal(0.0, relative_sd, size=(5, n_members)) - 0.5 * relative_sd**2)
        mult[:, 0] = 1.0
        out[seg] = CompetingRisks(
            np.asarray(r.battery_shape, float) * mult[0],
            np.asarray(r.battery_scale_years, float) * mult[1],
            np.asarray(r.vehicle_shape, float) * mult[2],
            np.asarray(r.vehicle_scale_years, float) * mult[3],
            np.asarray(r.crash_hazard_per_year, float) * mult[4],
        )
    return out


def validate_cohorts(cohorts: pd.DataFrame, *, source: str = "cohorts") -> pd.DataFrame:
    """Check a cohort frame and return it with clean dtypes.

    Refuses missing columns, negative or non-finite units and pack energies, and sales series with gaps
    (a region-segment-chemistry series that skips a year between its first and last year).
    """
    missing = [c for c in COHORT_COLUMNS if c not in cohorts.columns]
    if missing:
        raise InvalidInput(Problem(None, ",".join(missing), "missing column(s)"), source=source)
    df = cohorts.loc[:, list(COHORT_COLUMNS)].copy()
    problems: list[Problem] = []
    for col in ("units", "pack_kwh"):
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = ~np.isfinite(vals.to_numpy(float)) | (vals.to_numpy(float) < 0)
        problems.extend(
            Problem(int(i) + 1, col, f"must be a finite number >= 0, got {df[col].iloc[i]!r}")
            for i in np.flatnonzero(bad)[:20]
        )
        df[col] = vals
    years = pd.to_numeric(df["year"], errors="coerce")
    problems.extend(
        Problem(int(i) + 1, "year", f"not a year: {df['year'].iloc[i]!r}") for i in np.flatnonzero(years.isna())[:20]
    )
    if problems:
        raise InvalidInput(problems, source=source)
    df["year"] = years.astype(int)
    dup = df.duplicated(["year", "region", "segment", "chemistry"], keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InvalidInput(Problem(i + 1, "year", "duplicate cohort (year, region, segment, chemistry)"), source=source)
    # gaps: each (region, segment) series must cover every year between its first and last year
    for (region, seg), g in df.groupby(["region", "segment"], sort=False):
        ys = np.unique(g["year"].to_numpy())
        if ys.size and ys.size != ys[-1] - ys[0] + 1:
            missing_years = sorted(set(range(int(ys[0]), int(ys[-1]) + 1)) - set(ys.tolist()))
            problems.append(
                Problem(None, "year", f"sales series has gaps: missing {missing_years[:10]}", f"{region}/{seg}")
            )
    if problems:
        raise InvalidInput(problems, source=source)
    return df


@dataclass
class ForecastResult:
    """Forecast output.

    Attributes
    ----------
    summary : pandas.DataFrame
        Long frame: ``year, <group columns>, stream, metric, median, lower, upper, mean``.
    years : ndarray
        Calendar years covered.
    n_members : int
        Ensemble size.
    interval : tuple of float
        Quantiles of the reported interval.
    group_by : tuple of str
        Grouping columns of ``summary``.
    assumptions : dict
        Parameters in effect (second life, scrap, prices), for the report.
    """

    summary: pd.DataFrame
    years: NDArray[np.int64]
    n_members: int
    interval: tuple[float, float]
    group_by: tuple[str, ...]
    assumptions: dict[str, Any] = field(default_factory=dict)

    def table(self, stream: str, metric: str) -> pd.DataFrame:
        """Rows of one stream and metric."""
        s = self.summary
        return s[(s["stream"] == stream) & (s["metric"] == metric)].reset_index(drop=True)

    def to_records(self) -> list[dict[str, Any]]:
        """Summary as JSON-ready records."""
        return self.summary.to_dict(orient="records")


def _scrap_factor(years: NDArray[np.int64], scrap_share_by_year: Mapping[int, float] | None) -> NDArray[np.float64]:
    if not scrap_share_by_year:
        return np.zeros(years.size)
    ky = np.array(sorted(scrap_share_by_year), dtype=float)
    kv = np.array([scrap_share_by_year[int(y)] for y in ky], dtype=float)
    if np.any((kv < 0) | (kv >= 0.9)):
        raise InvalidInput(Problem(None, "production_scrap.share", f"shares must lie in [0, 0.9), got {kv.tolist()}"))
    s = np.interp(years.astype(float), ky, kv)
    return s / (1.0 - s)


def _convolve_shared(x: NDArray[np.float64], kernels: NDArray[np.float64]) -> NDArray[np.float64]:
    """``out[m, p, t] = sum_a x[p, t-a] * kernels[m, a]``: every series against every kernel (one GEMM)."""
    p, t = x.shape
    n = min(kernels.shape[-1], t)
    padded = np.concatenate([np.zeros((p, n - 1)), x], axis=1)
    idx = np.arange(t)[:, None] - np.arange(n)[None, :] + (n - 1)
    xt = padded[:, idx].reshape(p * t, n)  # Toeplitz rows: xt[(p, t), a] = x[p, t-a]
    out = xt @ kernels[:, :n].T  # (p * t, m)
    return np.ascontiguousarray(out.T).reshape(kernels.shape[0], p, t)


def forecast_flows(
    cohorts: pd.DataFrame,
    lifetimes: Mapping[str, CompetingRisks],
    *,
    end_year: int,
    contained_kg_per_kwh: pd.DataFrame,
    prices_usd_per_kg: Mapping[str, float],
    pack_wh_per_kg: Mapping[str, float] | pd.Series,
    second_life_share: float,
    second_life_years: int,
    scrap_share_by_year: Mapping[int, float] | None = None,
    group_by: Sequence[str] = ("region",),
    interval: tuple[float, float] = (0.05, 0.95),
) -> ForecastResult:
    """Forecast first-life exits, second life, end-of-life flows and production scrap with ranges.

    Parameters
    ----------
    cohorts : pandas.DataFrame
        Columns ``year, region, segment, chemistry, units [vehicles], pack_kwh [kWh per vehicle]``.
    lifetimes : mapping of segment -> CompetingRisks
        Lifetime law per segment; parameters scalars or arrays of ``m`` ensemble members (same ``m``).
    end_year : int
        Last calendar year of the output.
    contained_kg_per_kwh : pandas.DataFrame
        Indexed by chemistry, columns ``Li, Ni, Co, Mn`` [kg/kWh].
    prices_usd_per_kg : mapping
        Price of each contained element [USD/kg].
    pack_wh_per_kg : mapping or Series
        Pack specific energy by chemistry [Wh/kg].
    second_life_share : float
        Share of healthy first-life exits repurposed [-].
    second_life_years : int
        Second-life duration [year].
    scrap_share_by_year : mapping of year -> share, optional
        Scrap share of cell production [-] at key years (linear interpolation, constant outside).
    group_by : sequence of str
        Any of ``region``, ``chemistry``, ``segment`` (empty for a single total).
    interval : (float, float)
        Lower and upper quantiles of the reported interval.

    Returns
    -------
    ForecastResult
    """
    df = validate_cohorts(cohorts)
    problems: list[Problem] = []
    if not 0.0 <= second_life_share <= 1.0:
        problems.append(Problem(None, "second_life.share", f"must lie in [0, 1], got {second_life_share}"))
    if not 0 <= int(second_life_years) <= 30:
        problems.append(Problem(None, "second_life.duration_years", f"must lie in [0, 30], got {second_life_years}"))
    if not 0.0 <= interval[0] < interval[1] <= 1.0:
        problems.append(Problem(None, "interval", f"need 0 <= lower < upper <= 1, got {interval}"))
    bad_groups = [g for g in group_by if g not in ("region", "chemistry", "segment")]
    if bad_groups:
        problems.append(Problem(None, "group_by", f"unknown grouping {bad_groups}"))
    segs_missing = sorted(set(df["segment"]) - set(lifetimes))
    if segs_missing:
        problems.append(Problem(None, "lifetime", f"no lifetime law for segment(s) {segs_missing}"))
    chems = sorted(set(df["chemistry"]))
    chem_missing = [c for c in chems if c not in contained_kg_per_kwh.index]
    if chem_missing:
        problems.append(Problem(None, "chemistry", f"no contained-metal row for {chem_missing}"))
    whkg = pd.Series(pack_wh_per_kg, dtype=float)
    spe_missing = [c for c in chems if c not in whkg.index or not whkg[c] > 0]
    if spe_missing:
        problems.append(Problem(None, "chemistry", f"no pack specific energy for {spe_missing}"))
    price_missing = [m for m in METALS if m not in prices_usd_per_kg]
    if price_missing:
        problems.append(Problem(None, "prices_usd_per_kg", f"missing price for {price_missing}"))
    if problems:
        raise InvalidInput(problems, source="forecast")
    for seg, risks in lifetimes.items():
        risks.validate(where=f"lifetime.{seg}")

    y0 = int(df["year"].min())
    years = np.arange(y0, int(end_year) + 1)
    n_t = years.size
    if n_t < 1:
        raise InvalidInput(Problem(None, "end_year", f"must be >= first cohort year {y0}, got {end_year}"))
    df = df[df["year"] <= end_year]

    keys = ["region", "segment", "chemistry"]
    groups = df[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    groups["g"] = np.arange(len(groups))
    df = df.merge(groups, on=keys)
    n_g = len(groups)
    units = np.zeros((n_g, n_t))
    kwh = np.zeros((n_g, n_t))
    units[df["g"].to_numpy(), df["year"].to_numpy() - y0] = df["units"].to_numpy(float)
    kwh[df["g"].to_numpy(), df["year"].to_numpy() - y0] = (df["units"] * df["pack_kwh"]).to_numpy(float)

    # output groups
    gb = tuple(group_by)
    if gb:
        out_keys = groups[list(gb)].drop_duplicates().sort_values(list(gb)).reset_index(drop=True)
        out_keys["o"] = np.arange(len(out_keys))
        o_of_g = groups.merge(out_keys, on=list(gb), how="left")["o"].to_numpy()
    else:
        out_keys = pd.DataFrame({"o": [0]})
        o_of_g = np.zeros(n_g, dtype=int)
    n_o = len(out_keys)

    # per-group conversion factors from kWh to each metric
    chem_of_g = groups["chemistry"].to_numpy()
    t_per_kwh = 1.0 / whkg.reindex(chem_of_g).to_numpy(float)  # kWh / (Wh/kg) = t
    metal = contained_kg_per_kwh.reindex(chem_of_g)[list(METALS)].to_numpy(float) / 1000.0  # t/kWh
    price = np.array([float(prices_usd_per_kg[m]) for m in METALS]) * 1000.0 / 1e6  # MUSD per t
    kwh_factors = np.column_stack([np.full(n_g, 1e-6), t_per_kwh, metal, metal @ price])  # (g, 7)
    n_k = len(METRICS)

    # Everything downstream of the sales is linear, and the lifetime law depends on the segment only:
    # aggregate the groups to (output group, segment) pairs and metrics *before* the member-level algebra.
    seg_names = sorted(set(groups["segment"]))
    seg_of_g = groups["segment"].to_numpy()
    pair_of_g = o_of_g * len(seg_names) + np.searchsorted(seg_names, seg_of_g)
    n_p = n_o * len(seg_names)
    base = np.zeros((n_p, n_k, n_t))  # sales by pair, metric and year, in metric units
    np.add.at(base[:, 0, :], pair_of_g, units)
    np.add.at(base[:, 1:, :], pair_of_g, kwh[:, None, :] * kwh_factors[:, :, None])

    kernels = {seg: retirement_kernel(lifetimes[seg], n_t) for seg in seg_names}
    n_m = max(k[0].shape[0] for k in kernels.values())
    for seg in seg_names:
        if kernels[seg][0].shape[0] not in (1, n_m):
            raise InvalidInput(Problem(None, f"lifetime.{seg}", "ensemble sizes differ between segments"))
    healthy = np.zeros((n_m, n_o, n_k, n_t))
    crash = np.zeros((n_m, n_o, n_k, n_t))
    for s_idx, seg in enumerate(seg_names):
        b, v, c = kernels[seg]
        x = base[s_idx :: len(seg_names)].reshape(n_o * n_k, n_t)  # pairs of this segment, in o order
        ker = np.concatenate([np.broadcast_to(b + v, (n_m, n_t)), np.broadcast_to(c, (n_m, n_t))], axis=0)
        conv = _convolve_shared(x, ker).reshape(2, n_m, n_o, n_k, n_t)
        healthy += conv[0]
        crash += conv[1]

    p = float(second_life_share)
    d = int(second_life_years)
    sl = p * healthy
    delayed = np.zeros_like(sl)
    if d < n_t:
        delayed[..., d:] = sl[..., : n_t - d]
    eol = crash + (1.0 - p) * healthy + delayed
    scrap = np.zeros((1, n_o, n_k, n_t))
    scrap_kwh = kwh * _scrap_factor(years, scrap_share_by_year)[None, :]
    for o in range(n_o):
        sel = o_of_g == o
        scrap[0, o, 1:, :] = kwh_factors[sel].T @ scrap_kwh[sel]
    streams = {
        "first_life_exit": crash + healthy,
        "second_life_entry": sl,
        "eol": eol,
        "eol_damaged": crash,
        "production_scrap": scrap,
        "feedstock": eol + scrap,
    }

    lo_q, hi_q = interval
    o_idx = np.repeat(np.arange(n_o), n_k * n_t)
    metric_col = np.tile(np.repeat(np.array(METRICS, dtype=object), n_t), n_o)
    year_col = np.tile(years, n_o * n_k)
    frames = []
    for stream, arr in streams.items():
        qs = np.quantile(arr, [0.5, lo_q, hi_q], axis=0)  # (3, o, k, t)
        frame = pd.DataFrame({
            "o": o_idx, "year": year_col, "stream": stream, "metric": metric_col,
            "median": qs[0].ravel(), "lower": qs[1].ravel(), "upper": qs[2].ravel(), "mean": arr.mean(axis=0).ravel(),
        })  # fmt: skip
        if stream == "production_scrap":
            frame = frame[frame["metric"] != "units"]
        frames.append(frame)
    summary = pd.concat(frames, ignore_index=True).merge(out_keys, on="o").drop(columns="o")
    summary = summary[["year", *gb, "stream", "metric", "median", "lower", "upper", "mean"]]
    summary = summary.sort_values(["stream", "metric", *gb, "year"]).reset_index(drop=True)
    return ForecastResult(
        summary=summary,
        years=years,
        n_members=n_m,
        interval=(lo_q, hi_q),
        group_by=gb,
        assumptions={
            "second_life_share": p,
            "second_life_years": d,
            "scrap_share_by_year": dict(scrap_share_by_year or {}),
            "prices_usd_per_kg": {m: float(prices_usd_per_kg[m]) for m in METALS},
        },
    )
