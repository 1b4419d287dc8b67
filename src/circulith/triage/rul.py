"""Remaining useful life under a second-life duty, with an interval.

Linear fade model: SOH falls by ``cycle_fade`` points per 1000 equivalent full cycles (EFC) and by
``calendar_fade`` points per year; the duty sets EFC per year = cycles_per_year x depth_of_discharge.
RUL ends at the application's end-of-life SOH. The interval combines the SOH interval with a
+/-30 % uncertainty on the fade rates (assumption: spread of fade rates among cells of one type).
Parameters come from the rules file (``[applications.*]``, ``[chemistry.*]``) with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circulith.errors import InvalidInput
from circulith.triage.rules import chemistry_family

FADE_RATE_UNCERTAINTY = 0.30


@dataclass(frozen=True)
class RulResult:
    """Remaining useful life arrays (one value per battery)."""

    years: np.ndarray
    years_low: np.ndarray
    years_high: np.ndarray
    cycles: np.ndarray
    cycles_low: np.ndarray
    cycles_high: np.ndarray


def remaining_useful_life(soh_pct: np.ndarray, soh_low_pct: np.ndarray, soh_high_pct: np.ndarray,
                          chemistry: np.ndarray, application: str, rules: dict) -> RulResult:
    """RUL in years and full cycles under ``application``'s duty.

    Parameters
    ----------
    soh_pct, soh_low_pct, soh_high_pct : numpy.ndarray
        SOH estimate and interval [%].
    chemistry : numpy.ndarray
        Chemistry codes (``chemistries.csv``).
    application : str
        Key of ``[applications]`` in the rules.
    rules : dict
        Loaded rules (:func:`circulith.triage.rules.load_rules`).

    Returns
    -------
    RulResult
        Years and equivalent full cycles [-]; zero when already below end of life.
    """
    if application not in rules["applications"]:
        raise InvalidInput(f"unknown application '{application}'; known: {', '.join(rules['applications'])}")
    app = rules["applications"][application]
    codes = np.asarray(chemistry).astype(str)
    uniq, inv = np.unique(codes, return_inverse=True)
    params = [rules["chemistry"].get(chemistry_family(c), rules["chemistry"]["default"]) for c in uniq]
    cyc = np.array([p["cycle_fade_pct_per_1000_efc"] for p in params])[inv] / 1000.0
    cal = np.array([p["calendar_fade_pct_per_year"] for p in params])[inv]
    efc_per_year = app["cycles_per_year"] * app["depth_of_discharge"]
    eol = app["eol_soh_pct"]

    def years(soh: np.ndarray, k: float) -> np.ndarray:
        rate = (cyc * efc_per_year + cal) * k  # points per year
        return np.clip((np.asarray(soh, dtype=float) - eol) / rate, 0.0, None)

    y = years(soh_pct, 1.0)
    y_lo = years(soh_low_pct, 1.0 + FADE_RATE_UNCERTAINTY)
    y_hi = years(soh_high_pct, 1.0 - FADE_RATE_UNCERTAINTY)
    return RulResult(y, y_lo, y_hi, y * efc_per_year, y_lo * efc_per_year, y_hi * efc_per_year)
