"""Read pulse-feature tables (the retired-LFP pulse dataset format) into one long frame.

Format (Tao, Xia & Zou 2026, data MIT-licensed): one workbook per pulse width ``W`` [ms]
(``..._W_<ms>.xlsx``), sheets ``SOC5`` ... ``SOC90`` with one row per cell, columns ``Qn`` nominal
capacity [Ah], ``Q`` measured capacity [Ah], ``SOH`` = Q/Qn [-], ``SOC`` [%], ``U1`` ... ``U41`` [V]
and ``Fai_<rate>`` descriptors. The same columns as CSV must add ``cell_id`` and ``pulse_width_ms``.

Cell identity in the workbooks: the dataset's note says the row order within a SOC sheet is the cell
order. The high-SOC sheets, however, hold *fewer* rows (cells stopped by voltage protection), so the
row index there is not the cell index. The measured reference capacity ``Q`` is unique per cell and
identical across sheets and width files, so a row is assigned to the cell of the first complete sheet
whose ``Q`` it equals; this equals row order wherever the sheet is complete. Rows whose ``Q`` matches
no cell are rejected with :class:`~circulith.errors.InvalidInput`.

Every numeric cell must be a number (U2..U41, ``Q`` and ``SOH`` may be empty): a cell holding its unit
(``3.3 V``), a decimal comma or other text is refused naming the row (1-based data row, the header is
not a row; in a workbook, the row of its sheet, which is named), the column and what to write, never
read as a missing value.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.io.number_cells import coerce_numeric
from circulith.io.text_files import read_text_file

U_COLUMNS = [f"U{i}" for i in range(1, 42)]
#: Columns of the canonical pulse table (one row per cell, SOC level and pulse width).
PULSE_TABLE_COLUMNS = ["cell_id", "pulse_width_ms", "Qn", "SOC", *U_COLUMNS]
#: Optional label columns (present in training tables).
LABEL_COLUMNS = ["Q", "SOH"]

_SHEET, _SHEET_ROW = "_sheet", "_sheet_row"
_CSV = "CSV text (a workbook must be named .xlsx to be read as one)"
_WIDTH_RE = re.compile(r"_W_(\d+(?:\.\d+)?)", re.IGNORECASE)
_SOC_SHEET_RE = re.compile(r"^SOC\s*(\d+)$", re.IGNORECASE)


def read_pulse_table(path: str | Path, *, pulse_width_ms: float | None = None) -> pd.DataFrame:
    """Read one pulse-feature table (xlsx workbook or CSV) into the canonical long frame.

    Parameters
    ----------
    path : str or Path
        ``.xlsx`` workbook with ``SOC<n>`` sheets, or ``.csv`` with the canonical columns.
    pulse_width_ms : float, optional
        Pulse width [ms] for a workbook whose name does not carry ``_W_<ms>``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PULSE_TABLE_COLUMNS`, plus ``Q`` [Ah] and ``SOH`` [-] when present and
        ``source_file``. U columns left empty by the cycler (early stop at high rate) stay NaN.

    Raises
    ------
    InvalidInput
        Unknown format, missing columns, no width, rows that match no cell.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm", ".xls"}:
        frame = _read_workbook(path, pulse_width_ms)
    elif suffix in {".csv", ".txt"}:
        frame = _read_csv(path)
        if pulse_width_ms is not None and "pulse_width_ms" not in frame:
            frame["pulse_width_ms"] = float(pulse_width_ms)
        _check_columns(frame, PULSE_TABLE_COLUMNS, str(path))
        frame["cell_id"] = frame["cell_id"].astype(str)
    elif suffix == ".parquet":
        frame = pd.read_parquet(path)
        _check_columns(frame, PULSE_TABLE_COLUMNS, str(path))
        frame["cell_id"] = frame["cell_id"].astype(str)
    else:
        raise InvalidInput(f"unknown pulse-table format '{suffix}' (expected .xlsx, .csv or .parquet)",
                           source=str(path))
    frame["source_file"] = path.name
    return _check_values(frame, str(path))


def read_pulse_tables(paths: list[str | Path]) -> pd.DataFrame:
    """Read and stack several pulse tables (e.g. one workbook per pulse width) [see read_pulse_table]."""
    if not paths:
        raise InvalidInput("no pulse table given")
    return pd.concat([read_pulse_table(p) for p in paths], ignore_index=True)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO(read_text_file(path, _CSV)))
    except ValueError as exc:
        raise InvalidInput(Problem(None, "", f"not a readable CSV table ({exc})"), source=str(path)) from None


def _read_workbook(path: Path, pulse_width_ms: float | None) -> pd.DataFrame:
    if pulse_width_ms is None:
        match = _WIDTH_RE.search(path.stem)
        if not match:
            raise InvalidInput([Problem(None, "pulse_width_ms", "file name has no '_W_<ms>' and no width given")],
                               source=str(path))
        pulse_width_ms = float(match.group(1))
    sheets = pd.read_excel(path, sheet_name=None)
    soc_sheets = [(int(_SOC_SHEET_RE.match(name.strip()).group(1)), df)  # type: ignore[union-attr]
                  for name, df in sheets.items() if _SOC_SHEET_RE.match(name.strip())]
    soc_sheets = [(soc, df) for soc, df in sorted(soc_sheets, key=lambda t: t[0]) if len(df)]
    if not soc_sheets:
        raise InvalidInput("workbook has no non-empty 'SOC<n>' sheet", source=str(path))
    for soc, df in soc_sheets:
        _check_columns(df, ["Qn", "Q", "SOC", *U_COLUMNS], str(path))
        problems = coerce_numeric(df, "Q", "Ah", required=True)
        if problems:
            raise InvalidInput([replace(p, reason=f"sheet SOC{soc}: {p.reason}") for p in problems], source=str(path))
    # the reference cell order: the first sheet with the most rows
    reference = max(soc_sheets, key=lambda t: len(t[1]))[1]
    ref_q = reference["Q"].to_numpy(dtype=float)
    if len(np.unique(ref_q)) != len(ref_q):
        raise InvalidInput([Problem(None, "Q", "measured capacity is not unique per cell; cannot identify cells")],
                           source=str(path))
    order = np.argsort(ref_q)
    prefix = _WIDTH_RE.split(path.stem)[0] or path.stem
    parts = []
    for soc, df in soc_sheets:
        q = df["Q"].to_numpy(dtype=float)
        pos = np.searchsorted(ref_q[order], q)
        pos = np.clip(pos, 0, len(ref_q) - 1)
        idx = order[pos]
        bad = ref_q[idx] != q
        if bad.any():
            rows = np.flatnonzero(bad)
            raise InvalidInput([Problem(int(r) + 1, "Q", f"sheet SOC{soc}: capacity {q[r]} matches no cell")
                                for r in rows], source=str(path))
        part = df.copy()
        part.insert(0, "cell_id", [f"{prefix}-{i:03d}" for i in idx])
        part.insert(1, "pulse_width_ms", float(pulse_width_ms))
        part[_SHEET], part[_SHEET_ROW] = f"SOC{soc}", np.arange(1, len(part) + 1)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _check_columns(frame: pd.DataFrame, required: list[str], source: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InvalidInput([Problem(None, c, "required column missing") for c in missing], source=source)


#: Units of the numeric columns, for the reasons given when a cell is not a number.
COLUMN_UNITS = {"Qn": "Ah", "SOC": "%", "pulse_width_ms": "ms", **dict.fromkeys(U_COLUMNS, "V"), "Q": "Ah",
                "SOH": "-"}


def _check_values(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Every numeric cell a number (U2..U41, Q, SOH may be empty), voltages in 0.5-5.5 V; rows are data rows."""
    problems: list[Problem] = []
    ids = frame["cell_id"].astype(str)
    for col, unit in COLUMN_UNITS.items():
        problems += coerce_numeric(frame, col, unit, required=col in {"Qn", "SOC", "U1", "pulse_width_ms"}, ids=ids)
    uv = frame[U_COLUMNS].to_numpy(dtype=float)
    out = np.isfinite(uv) & ((uv < 0.5) | (uv > 5.5))
    for r, c in zip(*np.nonzero(out), strict=True):
        problems.append(Problem(int(r) + 1, U_COLUMNS[c], f"voltage {uv[r, c]} V outside 0.5-5.5 V (mV given?)",
                                str(ids.iloc[r])))
    if "SOH" in frame:
        soh = frame["SOH"].to_numpy(dtype=float)
        if np.nanmax(soh, initial=0.0) > 1.5:  # percent given: normalise to fraction
            soh = soh / 100.0
        frame["SOH"] = soh
    if _SHEET in frame:  # a workbook: name the sheet and the row within it
        sheet, row = frame.pop(_SHEET).to_numpy(), frame.pop(_SHEET_ROW).to_numpy()
        problems = [replace(p, row=int(row[p.row - 1]), reason=f"sheet {sheet[p.row - 1]}: {p.reason}")
                    if p.row is not None else p for p in problems]
    if problems:
        raise InvalidInput(problems, source=source)
    return frame
