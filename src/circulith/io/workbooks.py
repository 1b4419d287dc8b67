"""Reading Excel workbooks (.xlsx): the rows of a sheet, or its table as a frame read like CSV.

The first sheet's first non-empty row is the header. A frame is built by writing the rows as CSV
text and reading that back, so a workbook and the same sheet saved as CSV give the same columns,
types and values (a date cell becomes its ISO text, a boolean ``True``/``False``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from circulith.errors import InvalidInput, Problem

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
"""Suffixes of the workbooks these readers open (Office Open XML)."""


def is_workbook(data: bytes) -> bool:
    """Whether ``data`` is an Office Open XML workbook (a zip archive)."""
    return data[:4] == b"PK\x03\x04"


def _open(data: bytes, source: str) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInput(Problem(None, "", f"not a readable Excel workbook ({exc})"), source=source) from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(Problem(None, "", f"cannot read the file ({exc.strerror})"), source=str(path)) from None


def sheet_names(path: str | Path) -> list[str]:
    """The sheet names of the workbook at ``path``."""
    p = Path(path)
    wb = _open(_read_bytes(p), str(p))
    try:
        return [str(n) for n in wb.sheetnames]
    finally:
        wb.close()


def first_sheet_rows(data: bytes, source: str) -> list[list[Any]]:
    """Every row of the first sheet of the workbook in ``data``, as cell values (None for empty)."""
    wb = _open(data, source)
    try:
        if not wb.worksheets:
            raise InvalidInput(Problem(None, "", "the workbook has no sheet"), source=source)
        return [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    finally:
        wb.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def workbook_table(path: str | Path) -> pd.DataFrame:
    """The first sheet of the workbook at ``path`` as a frame, read as :func:`pandas.read_csv` reads CSV.

    Raises
    ------
    InvalidInput
        If the file is not a readable workbook, its first sheet is empty, or a header cell is repeated.
    """
    p = Path(path)
    rows = [r for r in first_sheet_rows(_read_bytes(p), str(p)) if any(_text(c).strip() for c in r)]
    if not rows:
        raise InvalidInput(Problem(None, "", "the first sheet is empty (no header row)"), source=str(p))
    header = [_text(c).strip() for c in rows[0]]
    while header and not header[-1]:
        header.pop()
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise InvalidInput(Problem(None, ", ".join(dupes), "duplicate column in the header"), source=str(p))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for r in rows[1:]:
        writer.writerow([_text(c) for c in r[:len(header)]])
    buf.seek(0)
    return pd.read_csv(buf)
