"""Rolling-origin backtest of first-life exits against observed exits, with a naive baseline.

Observed exits come either from the registry (retirement events counted by year and region) or, by
default, from the IEA fleet balance: ``exits(t) = stock(t-1) + sales(t) - stock(t)`` (vehicles that left
the EV fleet: scrapping, crash total losses, and net exports, which the balance cannot separate).

For each origin year ``T`` and region the backtest predicts the cumulative exits of the window
``T+1 .. T+h``:

* **model**: the competing-risks lifetime law (:mod:`circulith.planning.lifetime`) convolved with the
  observed sales of every cohort, as an ensemble: median and interval. Against fleet exits the battery
  law is switched off (a battery replacement does not remove the vehicle from the fleet): only vehicle
  scrapping and crash count.
* **baseline** (naive constant share): the exit rate of the ``lookback`` years up to ``T``
  (exits / stock at the start of the year) held constant, applied to the stock rolled forward with the
  observed sales.

Both use the sales observed after ``T`` (a *conditional* backtest: it tests the retirement law, not a sales
forecast). Scores: MAPE over windows with positive observed exits, WAPE (sum of absolute errors / sum of
absolute observed exits, all windows), bias, and the share of windows whose observed value lies in the
model interval (coverage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.planning.forecast import _convolve_shared
from circulith.planning.lifetime import CompetingRisks, retirement_kernel

AGGREGATE_REGIONS = frozenset({"World", "Europe", "EU27", "Rest of the world"})
_NO_BATTERY = {"battery_shape": 15.0, "battery_scale_years": 1.0e6}


def fleet_balance_from_iea(iea: pd.DataFrame, mode: str = "Cars", regions: Sequence[str] | None = None) -> pd.DataFrame:
    """Historical sales, stock and fleet exits per region and year from the IEA table.

    Parameters
    ----------
    iea : pandas.DataFrame
        The IEA Global EV Outlook table (``load_iea_ev_sales``).
    mode : str
        Vehicle mode (Cars, Vans, Buses, Trucks).
    regions : sequence of str, optional
        Regions; default: every country (aggregates such as World and Europe left out).

    Returns
    -------
    pandas.DataFrame
        ``region, year, sales, stock, exits`` [vehicles]; ``exits`` is NaN in each region's first year.
    """
    h = iea[(iea["category"] == "Historical") & (iea["mode"] == mode) & iea["powertrain"].isin(["BEV", "PHEV"])]
    if regions is not None:
        unknown = sorted(set(regions) - set(h["region"]))
        if unknown:
            raise InvalidInput(Problem(None, "regions", f"no IEA history for {unknown}"), source="backtest")
        h = h[h["region"].isin(regions)]
    else:
        h = h[~h["region"].isin(AGGREGATE_REGIONS)]
    p = h.pivot_table(index=["region", "year"], columns="parameter", values="value", aggfunc="sum").reset_index()
    p = p.rename(columns={"EV sales": "sales", "EV stock": "stock"}).dropna(subset=["sales", "stock"])
    out = []
    for _, g in p.groupby("region", sort=True):
        g = g.sort_values("year")
        years = g["year"].to_numpy()
        if years.size and years.size != years[-1] - years[0] + 1:
            continue  # a region whose series has gaps cannot give a fleet balance
        g = g.assign(exits=g["stock"].shift(1) + g["sales"] - g["stock"])
        out.append(g[["region", "year", "sales", "stock", "exits"]])
    if not out:
        raise InvalidInput("no region with a gap-free sales and stock history", source="backtest")
    return pd.concat(out, ignore_index=True)


@dataclass
class BacktestResult:
    """Result of :func:`rolling_origin_backtest`.

    Attributes
    ----------
    windows : pandas.DataFrame
        One row per (region, origin): ``region, origin, first_year, last_year, observed, model_median,
        model_lower, model_upper, baseline``.
    scores : dict
        ``model`` and ``baseline`` scores (``mape``, ``wape``, ``bias``; ``coverage`` for the model),
        ``n_windows``, ``n_mape_windows``.
    settings : dict
        Horizon, origins, interval, lookback and the lifetime law used.
    """

    windows: pd.DataFrame
    scores: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {"scores": self.scores, "settings": self.settings,
                "windows": self.windows.to_dict(orient="records")}  # fmt: skip


def _scores(obs: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    pos = obs > 0
    mape = float(np.mean(np.abs(pred[pos] - obs[pos]) / obs[pos])) if pos.any() else None
    denom = float(np.abs(obs).sum())
    wape = float(np.abs(pred - obs).sum() / denom) if denom > 0 else None
    bias = float((pred - obs).sum() / denom) if denom > 0 else None
    return {"mape": mape, "wape": wape, "bias": bias}


def rolling_origin_backtest(
    balance: pd.DataFrame,
    risks: CompetingRisks,
    *,
    origins: Sequence[int],
    horizon: int = 3,
    lookback: int = 3,
    interval: tuple[float, float] = (0.05, 0.95),
    vehicle_exits_only: bool = True,
) -> BacktestResult:
    """Rolling-origin backtest of cumulative exits over ``horizon`` years after each origin.

    Parameters
    ----------
    balance : pandas.DataFrame
        ``region, year, sales, stock, exits`` [vehicles] (e.g. :func:`fleet_balance_from_iea`, or the
        registry's sales and observed retirements with a stock column).
    risks : CompetingRisks
        Lifetime law, scalars or ensemble arrays ``(m,)``.
    origins : sequence of int
        Origin years ``T``; a window is scored only if ``T+horizon`` and the lookback are observed.
    horizon : int
        Years per window [year].
    lookback : int
        Years of observed exit rate behind the baseline [year].
    interval : (float, float)
        Quantiles of the model interval.
    vehicle_exits_only : bool
        Switch off the battery law (right for fleet exits; False for observed battery retirements).

    Returns
    -------
    BacktestResult
    """
    missing = [c for c in ("region", "year", "sales", "stock", "exits") if c not in balance.columns]
    if missing:
        raise InvalidInput(Problem(None, ",".join(missing), "missing column(s)"), source="backtest")
    if horizon < 1 or lookback < 1:
        raise InvalidInput(Problem(None, "horizon", "horizon and lookback must be >= 1"), source="backtest")
    if not 0.0 <= interval[0] < interval[1] <= 1.0:
        raise InvalidInput(Problem(None, "interval", f"need 0 <= lower < upper <= 1, got {interval}"))
    law = replace(risks, **_NO_BATTERY) if vehicle_exits_only else risks
    rows: list[dict[str, Any]] = []
    preds: list[np.ndarray] = []
    for region, g in balance.groupby("region", sort=True):
        g = g.sort_values("year")
        years = g["year"].to_numpy(int)
        y0 = int(years[0])
        sales = g["sales"].to_numpy(float)
        stock = g["stock"].to_numpy(float)
        exits = g["exits"].to_numpy(float)
        b, v, c = retirement_kernel(law, years.size)
        ens = _convolve_shared(sales[None, :], b + v + c)[:, 0, :]  # (m, years): predicted exits
        for t0 in origins:
            i0 = int(t0) - y0
            if i0 - lookback < 0 or i0 + horizon >= years.size:
                continue
            win = slice(i0 + 1, i0 + horizon + 1)
            past = slice(i0 - lookback + 1, i0 + 1)
            obs = float(exits[win].sum())
            if not np.isfinite(obs):
                continue
            base_stock = stock[i0 - lookback : i0]
            rate = float(np.nansum(exits[past]) / base_stock.sum()) if base_stock.sum() > 0 else 0.0
            rate = min(max(rate, 0.0), 1.0)
            s, base = stock[i0], 0.0
            for k in range(i0 + 1, i0 + horizon + 1):
                e = rate * s
                base += e
                s = s + sales[k] - e
            m = ens[:, win].sum(axis=1)
            preds.append(m)
            rows.append({
                "region": str(region), "origin": int(t0), "first_year": int(years[win.start]),
                "last_year": int(years[win.stop - 1]), "observed": obs, "model_median": float(np.median(m)),
                "model_lower": float(np.quantile(m, interval[0])), "model_upper": float(np.quantile(m, interval[1])),
                "baseline": base,
            })  # fmt: skip
    windows = pd.DataFrame(rows)
    if windows.empty:
        raise InvalidInput("no backtest window: origins, horizon and lookback leave no observed years",
                           source="backtest")  # fmt: skip
    obs = windows["observed"].to_numpy(float)
    covered = (obs >= windows["model_lower"].to_numpy()) & (obs <= windows["model_upper"].to_numpy())
    scores = {
        "model": {**_scores(obs, windows["model_median"].to_numpy(float)), "coverage": float(covered.mean())},
        "baseline": _scores(obs, windows["baseline"].to_numpy(float)),
        "n_windows": int(len(windows)),
        "n_mape_windows": int((obs > 0).sum()),
    }
    settings = {"origins": [int(o) for o in origins], "horizon": horizon, "lookback": lookback,
                "interval": list(interval), "vehicle_exits_only": vehicle_exits_only,
                "n_members": int(ens.shape[0]) if len(rows) else 0}  # fmt: skip
    return BacktestResult(windows, scores, settings)


def backtest_scenario_law(lifetime: Mapping[str, CompetingRisks], mode: str) -> CompetingRisks:
    """The lifetime law of one segment, with a clear error if the scenario has none."""
    if mode not in lifetime:
        raise InvalidInput(Problem(None, "mode", f"no lifetime law for {mode!r}; have {sorted(lifetime)}"))
    return lifetime[mode]
