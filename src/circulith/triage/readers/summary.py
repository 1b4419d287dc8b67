"""Whole-file figures of a canonical measurement frame: what a reader read, in numbers.

Charge totals are the instrument's own coulomb count when the reader found one (BioLogic
``dq/mA.h``: ``attrs["instrument_charge_ah"]``/``["instrument_discharge_ah"]``), so a binary file and
its text export give the same totals. Otherwise they integrate the current over time. When the reader derived the current from the
instrument's own per-point charge increments (BioLogic GCPL ``dq/mA.h``; ``attrs["current_basis"]
== "dq"``), each increment is ``I_k * (t_k - t_{k-1})`` exactly (backward rectangle), so the totals
equal the instrument's; otherwise the trapezoidal rule is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Units of the canonical columns (see :mod:`circulith.triage.timeseries`).
CANONICAL_UNITS = {"time_s": "s", "voltage_v": "V", "current_a": "A", "temperature_c": "degC",
                   "step": "1", "cycle": "1"}


@dataclass(frozen=True)
class MeasurementFigures:
    """Totals over a measurement file.

    Parameters
    ----------
    rows : int
        Samples read [-].
    duration_s : float
        Last minus first time stamp [s].
    charge_ah, discharge_ah : float
        Charge put in (positive current) and taken out (negative current) over the file [Ah].
    steps, cycles : int or None
        Distinct step and cycle numbers, when the file records them [-].
    voltage_min_v, voltage_max_v : float
        Voltage range [V].
    """

    rows: int
    duration_s: float
    charge_ah: float
    discharge_ah: float
    steps: int | None
    cycles: int | None
    voltage_min_v: float
    voltage_max_v: float


def charge_increments_ah(frame: pd.DataFrame) -> np.ndarray:
    """Charge passed between consecutive samples [Ah] (length ``len(frame) - 1``)."""
    t = frame["time_s"].to_numpy(dtype=float)
    i = frame["current_a"].to_numpy(dtype=float)
    dt = np.diff(t)
    if frame.attrs.get("current_basis") == "dq":
        return np.asarray(i[1:] * dt / 3600.0)
    return np.asarray(0.5 * (i[1:] + i[:-1]) * dt / 3600.0)


def measurement_figures(frame: pd.DataFrame) -> MeasurementFigures:
    """Totals of a canonical frame (see the module notes on integration)."""
    q = np.nan_to_num(charge_increments_ah(frame))
    charge_ah = float(frame.attrs.get("instrument_charge_ah", q[q > 0].sum()))
    discharge_ah = float(frame.attrs.get("instrument_discharge_ah", -q[q < 0].sum()))
    v = frame["voltage_v"].to_numpy(dtype=float)
    t = frame["time_s"].to_numpy(dtype=float)

    def distinct(col: str) -> int | None:
        return int(frame[col].dropna().nunique()) if col in frame else None

    return MeasurementFigures(
        rows=len(frame), duration_s=float(t[-1] - t[0]) if len(t) else 0.0,
        charge_ah=charge_ah + 0.0, discharge_ah=discharge_ah + 0.0,  # + 0.0: no negative zero
        steps=distinct("step"), cycles=distinct("cycle"),
        voltage_min_v=float(np.nanmin(v)), voltage_max_v=float(np.nanmax(v)))
