"""Stream a large canonical measurement CSV in chunks: summary figures with flat memory.

Only a chunk (default 1,000,000 rows) is in memory at a time; the running state carries the last
sample across chunk boundaries, so coulomb counting, monotonic-time checks and step resistances are
exact over the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem


@dataclass
class StreamSummary:
    """Whole-file figures of a measurement stream."""

    n_samples: int = 0
    duration_s: float = 0.0
    charge_in_ah: float = 0.0
    charge_out_ah: float = 0.0
    voltage_min_v: float = np.inf
    voltage_max_v: float = -np.inf
    step_resistances_ohm: list[float] = field(default_factory=list)

    @property
    def resistance_ohm(self) -> float | None:
        """Median DC resistance over current steps [ohm] (None without steps)."""
        return float(np.median(self.step_resistances_ohm)) if self.step_resistances_ohm else None


def stream_summary(path: str | Path, *, chunksize: int = 1_000_000, min_step_a: float = 0.1,
                   max_steps_kept: int = 100_000) -> StreamSummary:
    """Summarise a canonical CSV (``time_s, voltage_v, current_a``) chunk by chunk.

    Raises
    ------
    InvalidInput
        Missing channel, NaN, or time going backwards (row number in the whole file).
    """
    s = StreamSummary()
    last: tuple[float, float, float] | None = None
    t0: float | None = None
    row0 = 0
    try:
        reader = pd.read_csv(path, usecols=["time_s", "voltage_v", "current_a"], chunksize=chunksize,
                             dtype="float64", engine="c")
    except ValueError as exc:
        raise InvalidInput(f"required channel missing: {exc}", source=str(path)) from exc
    for chunk in reader:
        t = chunk["time_s"].to_numpy()
        v = chunk["voltage_v"].to_numpy()
        i = chunk["current_a"].to_numpy()
        nan = ~(np.isfinite(t) & np.isfinite(v) & np.isfinite(i))
        if nan.any():
            raise InvalidInput([Problem(row0 + int(np.argmax(nan)) + 2, "", "missing or non-numeric value")],
                               source=str(path))
        if last is not None:
            t = np.concatenate([[last[0]], t])
            v = np.concatenate([[last[1]], v])
            i = np.concatenate([[last[2]], i])
        if t0 is None:
            t0 = float(t[0])
        dt = np.diff(t)
        if (dt < 0).any():
            k = int(np.argmax(dt < 0))
            raise InvalidInput([Problem(row0 + k + (1 if last is None else 0) + 2, "time_s", "time goes backwards")],
                               source=str(path))
        q = 0.5 * (i[1:] + i[:-1]) * dt / 3600.0
        s.charge_in_ah += float(q[q > 0].sum())
        s.charge_out_ah += float(-q[q < 0].sum())
        s.voltage_min_v = min(s.voltage_min_v, float(v.min()))
        s.voltage_max_v = max(s.voltage_max_v, float(v.max()))
        di = np.diff(i)
        m = np.abs(di) >= min_step_a
        if m.any() and len(s.step_resistances_ohm) < max_steps_kept:
            s.step_resistances_ohm.extend(np.abs(np.diff(v)[m] / di[m]).tolist())
        s.n_samples += len(chunk)
        row0 += len(chunk)
        last = (float(t[-1]), float(v[-1]), float(i[-1]))
    if last is None:
        raise InvalidInput("file holds no data rows", source=str(path))
    s.duration_s = last[0] - (t0 if t0 is not None else last[0])
    return s
