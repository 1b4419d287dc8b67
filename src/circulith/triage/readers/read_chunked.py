"""Whole-file figures of a large text measurement file, block by block, with flat memory.

The same :class:`~circulith.triage.readers.read_measurements.TextLayout` that a whole-file read uses
maps each block of native rows onto canonical columns; only one block is in memory at a time. The
last sample of a block is carried into the next, so the trapezoidal charge totals are exactly those
of a whole-file read; the instrument's own coulomb count (BioLogic ``dq/mA.h``) is summed when the
file records it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput
from circulith.triage.readers.read_measurements import LAYOUTS
from circulith.triage.readers.summary import MeasurementFigures


def stream_figures(path: Path, fmt: str, *, chunk_rows: int = 200_000) -> MeasurementFigures:
    """Totals over a text measurement file of format ``fmt`` (a key of ``LAYOUTS``), block by block.

    Parameters
    ----------
    path : Path
        The file.
    fmt : str
        Reader name (``canonical``, ``arbin``, ``maccor``, ``biologic_text``, ``bdf``).
    chunk_rows : int
        Rows per block [-].

    Raises
    ------
    InvalidInput
        As the whole-file reader: missing channels, no data rows.
    """
    layout = LAYOUTS[fmt](path)
    rows = 0
    t_first = t_last = np.nan
    last: tuple[float, float] | None = None
    charge = discharge = dq_in = dq_out = 0.0
    has_dq = False
    vmin, vmax = np.inf, -np.inf
    steps: set[float] = set()
    cycles: set[float] = set()
    seen_step = seen_cycle = False
    for block in pd.read_csv(**layout.kwargs, chunksize=chunk_rows):
        out = layout.mapper(block)
        t = pd.to_numeric(out["time_s"], errors="coerce").to_numpy(dtype=float)
        v = pd.to_numeric(out["voltage_v"], errors="coerce").to_numpy(dtype=float)
        i = pd.to_numeric(out["current_a"], errors="coerce").to_numpy(dtype=float)
        if not len(t):
            continue
        if rows == 0:
            t_first = t[0]
        tt, ii = (np.concatenate([[last[0]], t]), np.concatenate([[last[1]], i])) if last else (t, i)
        q = np.nan_to_num(0.5 * (ii[1:] + ii[:-1]) * np.diff(tt) / 3600.0)
        charge += float(q[q > 0].sum())
        discharge += float(-q[q < 0].sum())
        if "dq_ah" in out:
            has_dq = True
            dq = np.nan_to_num(pd.to_numeric(out["dq_ah"], errors="coerce").to_numpy(dtype=float))
            dq_in += float(dq[dq > 0].sum())
            dq_out += float(-dq[dq < 0].sum())
        if np.isfinite(v).any():
            vmin, vmax = min(vmin, float(np.nanmin(v))), max(vmax, float(np.nanmax(v)))
        if "step" in out:
            seen_step = True
            steps.update(pd.to_numeric(out["step"], errors="coerce").dropna().unique().tolist())
        if "cycle" in out:
            seen_cycle = True
            cycles.update(pd.to_numeric(out["cycle"], errors="coerce").dropna().unique().tolist())
        rows += len(t)
        t_last = t[-1]
        last = (float(t[-1]), float(i[-1]))
    if rows == 0:
        raise InvalidInput("file holds no data rows", source=str(path))
    if has_dq:
        charge, discharge = dq_in, dq_out
    return MeasurementFigures(rows=rows, duration_s=float(t_last - t_first), charge_ah=charge + 0.0,
                              discharge_ah=discharge + 0.0, steps=len(steps) if seen_step else None,
                              cycles=len(cycles) if seen_cycle else None, voltage_min_v=vmin,
                              voltage_max_v=vmax)
