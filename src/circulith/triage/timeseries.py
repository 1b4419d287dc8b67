"""The canonical measurement frame and its validation.

Canonical columns (one row per sample): ``time_s`` [s] from the start of the test, ``voltage_v`` [V],
``current_a`` [A] with **positive = charging**; optional ``temperature_c`` [degC], ``step`` and
``cycle`` (integers). Readers in ``triage.readers`` produce it from native cycler files; the
checks here reject what would otherwise give a silently wrong estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.reference.chemistries import chemistry_table

REQUIRED_COLUMNS = ["time_s", "voltage_v", "current_a"]
OPTIONAL_COLUMNS = ["temperature_c", "step", "cycle"]
CANONICAL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS


def voltage_window_v(chemistry: str) -> tuple[float, float]:
    """Cell voltage window (min, max) [V] of a chemistry code (``chemistries.csv``)."""
    table = chemistry_table()
    if chemistry not in table.index:
        raise InvalidInput([Problem(None, "chemistry", f"unknown chemistry '{chemistry}'; known: "
                                    f"{', '.join(table.index)}")])
    row = table.loc[chemistry]
    return float(row["cell_min_voltage_v"]), float(row["cell_max_voltage_v"])


def validate_timeseries(frame: pd.DataFrame, *, chemistry: str | None = None, cells_in_series: int = 1,
                        rated_capacity_ah: float | None = None, min_duration_s: float = 0.0,
                        voltage_margin_v: float = 0.05, source: str | None = None) -> pd.DataFrame:
    """Check a canonical measurement frame; return it (sorted columns, float dtypes) or raise.

    Parameters
    ----------
    frame : pandas.DataFrame
        Canonical frame (see module docstring).
    chemistry : str, optional
        Chemistry code; when given, voltages must lie in its window (times ``cells_in_series``).
    cells_in_series : int
        Cells in series behind the measured voltage (module or pack) [-].
    rated_capacity_ah : float, optional
        Rated capacity [Ah]; when given, currents above 20 C are rejected as a unit error (mA as A).
    min_duration_s : float
        Shortest test that supports the intended estimate [s].
    voltage_margin_v : float
        Tolerance on the chemistry window per cell [V] (sensor offset).
    source : str, optional
        Name of the input, for messages.

    Raises
    ------
    InvalidInput
        Every problem found: missing channel, NaN, non-monotonic time, voltage outside the window,
        implausible current magnitude, current sign flipped, test too short.
    """
    problems: list[Problem] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInput([Problem(None, c, "required channel missing") for c in missing], source=source)
    out = frame.copy()
    for col in [c for c in CANONICAL_COLUMNS if c in out.columns]:
        out[col] = pd.to_numeric(out[col], errors="coerce")
    for col in REQUIRED_COLUMNS:
        nan_rows = np.flatnonzero(out[col].isna().to_numpy())
        if len(nan_rows):
            problems.append(Problem(int(nan_rows[0]) + 1, col, f"{len(nan_rows)} missing or non-numeric values"))
    if problems:
        raise InvalidInput(problems, source=source)
    t = out["time_s"].to_numpy(dtype=float)
    v = out["voltage_v"].to_numpy(dtype=float)
    i = out["current_a"].to_numpy(dtype=float)
    if len(t) < 2:
        raise InvalidInput([Problem(None, "time_s", "insufficient data: fewer than 2 samples")], source=source)
    back = np.flatnonzero(np.diff(t) < 0)
    if len(back):
        problems.append(Problem(int(back[0]) + 2, "time_s", f"time goes backwards ({len(back)} times); "
                                "not one continuous test?"))
    if chemistry is not None:
        lo, hi = voltage_window_v(chemistry)
        lo, hi = (lo - voltage_margin_v) * cells_in_series, (hi + voltage_margin_v) * cells_in_series
        bad = np.flatnonzero((v < lo) | (v > hi))
        if len(bad):
            problems.append(Problem(int(bad[0]) + 1, "voltage_v", f"{len(bad)} samples outside the {chemistry} "
                                    f"window {lo:.2f}-{hi:.2f} V (first {v[bad[0]]:.3f} V): wrong chemistry, "
                                    "cells in series or mV given as V?"))
    if rated_capacity_ah is not None:
        c_rate = np.abs(i) / rated_capacity_ah
        if np.nanmax(c_rate) > 20:
            problems.append(Problem(int(np.nanargmax(c_rate)) + 1, "current_a",
                                    f"current {np.nanmax(np.abs(i)):.1f} A exceeds 20 C of {rated_capacity_ah} Ah: "
                                    "mA given where A expected?"))
    duration = t[-1] - t[0]
    if duration < min_duration_s:
        problems.append(Problem(None, "time_s", f"insufficient data: test lasts {duration:.0f} s, the estimate "
                                f"needs at least {min_duration_s:.0f} s"))
    if current_sign_flipped(t, v, i):
        problems.append(Problem(None, "current_a", "current sign looks flipped: voltage falls while current is "
                                "positive (positive must mean charging)"))
    if problems:
        raise InvalidInput(problems, source=source)
    return out


def current_sign_flipped(time_s: np.ndarray, voltage_v: np.ndarray, current_a: np.ndarray,
                         *, min_samples: int = 20) -> bool:
    """True when the voltage mostly falls under positive current and rises under negative current.

    Under the convention positive = charging, the voltage slope during current flow has the sign of
    the current. The test uses samples with non-zero current and a non-zero voltage change, weights
    each by ``|dV|`` and calls a flip when more than 70 % of that weight disagrees. Returns False
    when there are too few such samples to tell.
    """
    dv = np.diff(voltage_v)
    cur = current_a[1:]
    thresh = 0.02 * np.nanmax(np.abs(current_a)) if len(current_a) else 0.0
    m = (np.abs(cur) > thresh) & (dv != 0) & np.isfinite(dv) & (np.diff(time_s) > 0)
    if m.sum() < min_samples:
        return False
    agree = np.sign(dv[m]) == np.sign(cur[m])
    w = np.abs(dv[m])
    return bool(w[~agree].sum() > 0.7 * w.sum())
