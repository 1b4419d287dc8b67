"""DC resistance from current steps (R = dV / dI) and the power SOH derived from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem


@dataclass(frozen=True)
class ResistanceEstimate:
    """DC resistance from the current steps of a test."""

    resistance_ohm: float
    resistance_low_ohm: float
    resistance_high_ohm: float
    n_steps: int
    power_soh_pct: float | None = None
    power_soh_low_pct: float | None = None
    power_soh_high_pct: float | None = None


def step_resistances(time_s: np.ndarray, voltage_v: np.ndarray, current_a: np.ndarray,
                     *, min_step_a: float = 0.1) -> np.ndarray:
    """Instantaneous ``|dV/dI|`` [ohm] at every current step larger than ``min_step_a`` [A]."""
    di = np.diff(current_a)
    dv = np.diff(voltage_v)
    m = np.abs(di) >= min_step_a
    return np.abs(dv[m] / di[m])


def dc_resistance(frame: pd.DataFrame, *, min_step_a: float = 0.1,
                  beginning_of_life_ohm: float | None = None) -> ResistanceEstimate:
    """DC resistance of a pulse test (median over steps; interval: 2.5-97.5 % of the steps).

    With ``beginning_of_life_ohm`` the power SOH = 100 x R_bol / R [%] is returned too.
    """
    r = step_resistances(frame["time_s"].to_numpy(float), frame["voltage_v"].to_numpy(float),
                         frame["current_a"].to_numpy(float), min_step_a=min_step_a)
    if len(r) == 0:
        raise InvalidInput([Problem(None, "current_a", f"insufficient data: no current step >= {min_step_a} A")])
    med, lo, hi = float(np.median(r)), float(np.quantile(r, 0.025)), float(np.quantile(r, 0.975))
    if beginning_of_life_ohm:
        return ResistanceEstimate(med, lo, hi, len(r), 100 * beginning_of_life_ohm / med,
                                  100 * beginning_of_life_ohm / hi, 100 * beginning_of_life_ohm / lo)
    return ResistanceEstimate(med, lo, hi, len(r))


def pulse_table_resistance(table: pd.DataFrame) -> pd.DataFrame:
    """Charge/discharge DC resistance per row of a pulse table at each rate [ohm].

    ``R_chg = (U[b] - U1) / I`` and ``R_dis = (U[b+3] - U[b+4]) / I`` with ``I = rate x Qn``.
    """
    from circulith.triage.pulse_features import RATES_C

    u = table[[f"U{k}" for k in range(1, 42)]].to_numpy(float)
    qn = table["Qn"].to_numpy(float)
    cols = {}
    for j, rate in enumerate(RATES_C):
        b = 1 + 8 * j
        cols[f"r_chg_{rate:g}C_ohm"] = (u[:, b] - u[:, 0]) / (rate * qn)
        cols[f"r_dis_{rate:g}C_ohm"] = (u[:, b + 3] - u[:, b + 4]) / (rate * qn)
    return pd.DataFrame(cols, index=table.index)
