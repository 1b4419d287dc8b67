"""Honest forecast ranges: the ensemble's parameter band widened by observation noise, calibrated on backtests.

The lifetime ensemble (:func:`circulith.planning.forecast.sample_lifetime_ensemble`) only carries parameter
uncertainty; on the shipped backtest its 90 % band covers 7 % of observed fleet exits. Observed values also
scatter around the model for reasons the law does not describe (net exports, stock revisions, registration
timing). This module measures that scatter as relative residuals of held-out backtest windows,
``e = (observed - median) / median``, and widens each band by their empirical quantiles, added in quadrature
to the parameter band (independent errors)::

    lower' = median - sqrt((median - lower)^2 + (median * max(-q_lo, 0))^2)
    upper' = median + sqrt((upper - median)^2 + (median * max(q_hi, 0))^2)

with ``q_lo, q_hi`` the interval's quantiles of ``e``. The residuals describe vehicle exits, so a forecast
widens only the retirement part of a stream (the feedstock's end of life; production scrap follows the sales
and is not widened). In the backtest each window is widened only with the
residuals of windows that had ended by its origin year (rolling origin: no look-ahead); the coverage of those
widened bands is the honest figure reported with every forecast. A forecast is widened with the residuals of
every backtest window. The same formula is used in both places, so the reported coverage measures the method
the forecast uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from circulith.planning.backtest import BacktestResult


@dataclass(frozen=True)
class Calibration:
    """Residual quantiles and the backtest coverage before and after widening.

    Attributes
    ----------
    q_lo, q_hi : float
        Interval quantiles of the relative residual over every window with a positive median [-].
    n_windows : int
        Windows behind ``q_lo, q_hi``.
    coverage_parameter_only : float
        Share of backtest windows inside the ensemble's own band [-].
    coverage_calibrated : float or None
        Share of rolling-origin-calibrated windows inside their widened band [-] (None: no window had
        enough history).
    n_calibrated_windows : int
        Windows scored for ``coverage_calibrated``.
    width_parameter_only, width_calibrated : float or None
        Median band width relative to the median, before and after widening, on the scored windows [-].
    interval : tuple of float
        Nominal interval.
    target_coverage : tuple of float
        Acceptable coverage of the nominal interval.
    status : str
        ``ok`` or ``poor`` (coverage outside the target or too few windows).
    message : str
        One sentence a planner can act on.
    """

    q_lo: float
    q_hi: float
    n_windows: int
    coverage_parameter_only: float
    coverage_calibrated: float | None
    n_calibrated_windows: int
    width_parameter_only: float | None
    width_calibrated: float | None
    interval: tuple[float, float]
    target_coverage: tuple[float, float]
    status: str
    message: str
    basis: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        from dataclasses import asdict

        return asdict(self)


def widen(median: NDArray[np.float64], lower: NDArray[np.float64], upper: NDArray[np.float64], q_lo: float,
          q_hi: float, exposed: NDArray[np.float64] | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:  # fmt: skip
    """The parameter band widened by the residual quantiles, in quadrature (formula in the module docstring).

    ``exposed`` is the part of the median the residuals apply to (default: all of it); the widening is
    ``exposed * q`` instead of ``median * q``.
    """
    med = np.asarray(median, float)
    scale = np.abs(med if exposed is None else np.asarray(exposed, float))
    lo = med - np.sqrt((med - np.asarray(lower, float)) ** 2 + (scale * max(-q_lo, 0.0)) ** 2)
    hi = med + np.sqrt((np.asarray(upper, float) - med) ** 2 + (scale * max(q_hi, 0.0)) ** 2)
    return lo, hi


def _residuals(w: pd.DataFrame) -> NDArray[np.float64]:
    ok = w["model_median"].to_numpy(float) > 0
    return ((w["observed"].to_numpy(float) - w["model_median"].to_numpy(float)) / w["model_median"].to_numpy(float))[ok]


def calibrate(backtest: BacktestResult, *, target_coverage: tuple[float, float], min_windows: int) -> Calibration:
    """Residual quantiles of a backtest and the honest (rolling-origin) coverage of the widened bands.

    Parameters
    ----------
    backtest : BacktestResult
        From :func:`circulith.planning.backtest.rolling_origin_backtest`.
    target_coverage : (float, float)
        Acceptable coverage of the nominal interval (``lifetime_defaults.toml [calibration]``).
    min_windows : int
        Fewest earlier windows a window needs to be calibrated (and the fewest in all for ``ok``).
    """
    w = backtest.windows
    interval = (float(backtest.settings["interval"][0]), float(backtest.settings["interval"][1]))
    obs = w["observed"].to_numpy(float)
    med = w["model_median"].to_numpy(float)
    lo0, hi0 = w["model_lower"].to_numpy(float), w["model_upper"].to_numpy(float)
    raw_cov = float(((obs >= lo0) & (obs <= hi0)).mean())
    covered, width0, width1 = [], [], []
    for k, row in enumerate(w.itertuples(index=False)):
        past = w[w["last_year"] <= row.origin]
        e = _residuals(past)
        if e.size < min_windows or med[k] <= 0:
            continue
        lo, hi = widen(med[k:k + 1], lo0[k:k + 1], hi0[k:k + 1], float(np.quantile(e, interval[0])),
                       float(np.quantile(e, interval[1])))  # fmt: skip
        covered.append(bool(lo[0] <= obs[k] <= hi[0]))
        width0.append((hi0[k] - lo0[k]) / med[k])
        width1.append(float(hi[0] - lo[0]) / med[k])
    e_all = _residuals(w)
    q_lo = float(np.quantile(e_all, interval[0])) if e_all.size else 0.0
    q_hi = float(np.quantile(e_all, interval[1])) if e_all.size else 0.0
    cov = float(np.mean(covered)) if covered else None
    nominal = f"{interval[1] - interval[0]:.0%}"
    if cov is None or len(covered) < min_windows:
        status = "poor"
        message = (f"calibration poor: only {len(covered)} backtest windows had {min_windows} earlier windows to "
                   f"calibrate on; treat the {nominal} band as indicative")  # fmt: skip
    elif target_coverage[0] <= cov <= target_coverage[1]:
        status = "ok"
        message = (f"the {nominal} band covered {cov:.0%} of {len(covered)} held-out backtest windows "
                   f"(target {target_coverage[0]:.0%}-{target_coverage[1]:.0%})")  # fmt: skip
    else:
        status = "poor"
        side = "too narrow" if cov < target_coverage[0] else "wider than needed"
        message = (f"calibration poor: the {nominal} band covered {cov:.0%} of {len(covered)} held-out backtest "
                   f"windows (target {target_coverage[0]:.0%}-{target_coverage[1]:.0%}): the band is {side}")  # fmt: skip
    if width0 and width1:
        message += (f"; on those windows the median band width was {np.median(width1):.1f} x the median after "
                    f"calibration ({np.median(width0):.2f} x before; backtest bands may reach below zero, a "
                    "forecast's stop at zero)")  # fmt: skip
    return Calibration(
        q_lo=q_lo, q_hi=q_hi, n_windows=int(e_all.size), coverage_parameter_only=raw_cov, coverage_calibrated=cov,
        n_calibrated_windows=len(covered), width_parameter_only=float(np.median(width0)) if width0 else None,
        width_calibrated=float(np.median(width1)) if width1 else None, interval=interval,
        target_coverage=target_coverage, status=status, message=message,
        basis=f"{backtest.settings.get('observed', 'observed exits')}, mode {backtest.settings.get('mode', '')}, "
              f"horizon {backtest.settings.get('horizon')} y, origins {backtest.settings.get('origins')}",
    )  # fmt: skip


def calibrate_summary(summary: pd.DataFrame, calibration: Calibration,
                      exposed: NDArray[np.float64] | None = None) -> pd.DataFrame:  # fmt: skip
    """A forecast summary with ``lower``/``upper`` widened (kept as ``param_lower``/``param_upper``), >= 0.

    ``exposed`` is, per row, the part of the median that the backtest residuals describe (retirements): the
    feedstock's end-of-life part, not its production scrap, whose amount follows the sales and is not a
    vehicle exit (default: the whole median).
    """
    out = summary.copy()
    out["param_lower"], out["param_upper"] = out["lower"], out["upper"]
    lo, hi = widen(out["median"].to_numpy(float), out["lower"].to_numpy(float), out["upper"].to_numpy(float),
                   calibration.q_lo, calibration.q_hi, exposed)  # fmt: skip
    out["lower"] = np.maximum(lo, 0.0)
    out["upper"] = hi
    return out
