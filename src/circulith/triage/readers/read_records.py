"""Read BMS-summary, capacity-test and inspection tables (CSV, Excel .xlsx, Parquet) into frames.

Schemas: ``triage.grading.BMS_SUMMARY_COLUMNS`` (BMS summary), :data:`CAPACITY_COLUMNS`,
:data:`INSPECTION_COLUMNS`. A CSV file must be UTF-8 text (a workbook saved under a ``.csv`` name is
refused in one line); an ``.xlsx`` workbook is read from its first sheet like the same sheet saved as
CSV. Rows are 1-based data rows (the header is not a row). A numeric cell holding a unit (``85 %``), a
decimal comma or other text is refused with its row, column and what to write, never read as missing.
"""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.io.number_cells import coerce_numeric
from circulith.io.text_files import read_text_file
from circulith.io.workbooks import WORKBOOK_SUFFIXES, sheet_names, workbook_table
from circulith.triage.grading import BMS_SUMMARY_COLUMNS

#: Inspection record columns [unit]: battery_id, swelling, leakage, damage (bool),
#: insulation_resistance_mohm [MOhm], ocv_after_rest_v [V], self_discharge_mv_per_day [mV/day] or
#: (ocv_start_v [V], ocv_end_v [V], rest_days [day]), calendar_expiry_date (ISO date), inspection_date.
INSPECTION_COLUMNS = ["battery_id", "swelling", "leakage", "damage", "insulation_resistance_mohm",
                      "ocv_after_rest_v", "self_discharge_mv_per_day", "calendar_expiry_date"]
#: Units of the numeric inspection columns.
INSPECTION_UNITS = {"insulation_resistance_mohm": "MOhm", "ocv_after_rest_v": "V", "self_discharge_mv_per_day":
                    "mV/day", "ocv_start_v": "V", "ocv_end_v": "V", "rest_days": "day"}
#: Capacity-test result columns [unit]: battery_id, capacity_ah [Ah] (required), capacity_low_ah and
#: capacity_high_ah [Ah] (optional bounds of its interval).
CAPACITY_COLUMNS = {"capacity_ah": "Ah", "capacity_low_ah": "Ah", "capacity_high_ah": "Ah"}

_BMS_UNITS = {c.name: c.unit for c in BMS_SUMMARY_COLUMNS if c.dtype in {"float", "int"}}
_BMS_REQUIRED = [c.name for c in BMS_SUMMARY_COLUMNS if c.required]
_BMS_BOOL = [c.name for c in BMS_SUMMARY_COLUMNS if c.dtype == "bool"]
_BMS_DATES = [c.name for c in BMS_SUMMARY_COLUMNS if c.dtype == "date"]
_TRUE = {"true", "1", "yes", "y", "t", "1.0"}
_FALSE = {"false", "0", "no", "n", "f", "0.0"}
_SOC_SHEET = re.compile(r"^\s*SOC\s*\d+\s*$", re.IGNORECASE)
_CSV = "CSV text (a workbook must be named .xlsx to be read as one)"


def _read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in WORKBOOK_SUFFIXES:
        return workbook_table(path)
    if suffix == ".xls":
        raise InvalidInput(Problem(None, "", "an Excel 97-2003 workbook (.xls): save it as .xlsx or CSV (UTF-8)"),
                           source=str(path))
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(io.StringIO(read_text_file(path, _CSV)))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read table: {exc}", source=str(path)) from exc


def table_columns(path: str | Path) -> list[str]:
    """The header of a table file (for a workbook with ``SOC<n>`` sheets, a pulse workbook: ``["U1", "cell_id"]``)."""
    p = Path(path)
    if p.suffix.lower() in WORKBOOK_SUFFIXES:
        if any(_SOC_SHEET.match(n) for n in sheet_names(p)):
            return ["cell_id", "U1"]
        return [str(c) for c in workbook_table(p).columns]
    if p.suffix.lower() == ".parquet":
        return [str(c) for c in _read_table(p).columns]
    try:
        return [str(c) for c in pd.read_csv(io.StringIO(read_text_file(p, _CSV)), nrows=0).columns]
    except ValueError as exc:
        raise InvalidInput(Problem(None, "", f"not a readable table ({exc})"), source=str(p)) from None


def table_kind(path: str | Path) -> str:
    """``pulse``, ``bms``, ``capacity`` or ``inspection``: what a triage input file holds, from its header.

    A header with ``soh_pct``, or with three or more other BMS-summary columns (``level``, ``chemistry``,
    ``full_cycles``...), is a BMS summary; a BMS summary lacking required columns is refused by
    :func:`read_bms_summary`, not taken for an inspection file.
    """
    cols = set(table_columns(path))
    if "U1" in cols and "cell_id" in cols:
        return "pulse"
    if "soh_pct" in cols or len(cols & (set(_BMS_REQUIRED) - {"battery_id"})) >= 3:
        return "bms"
    if {"battery_id", "capacity_ah"} <= cols:
        return "capacity"
    if "battery_id" in cols:
        return "inspection"
    raise InvalidInput("not a BMS summary (battery_id, soh_pct...), capacity test results (battery_id, "
                       "capacity_ah...), inspection (battery_id, swelling...) or pulse table (cell_id, U1...)",
                       source=str(path))


def _initials(name: str) -> str:
    return "".join(w[0] for w in re.split(r"[_\s.-]+", name.lower()) if w)


def _likeness(wanted: str, header: str) -> float:
    a, b = wanted.lower(), header.lower()
    score = difflib.SequenceMatcher(None, a, b).ratio()
    tokens = set(re.split(r"[_\s.-]+", a))
    if len(_initials(b)) > 1 and _initials(b) in tokens:  # soh_pct <- state_of_health
        score = max(score, 0.8)
    return score


def missing_column_problems(columns: list[str], required: list[str], known: list[str]) -> list[Problem]:
    """The required columns absent from ``columns`` (one problem naming them all), each with the nearest
    header of the file that is not in the schema, if one is alike (``did you mean soh_pct?``).

    Parameters
    ----------
    columns : list of str
        The header found.
    required : list of str
        Columns the file must have.
    known : list of str
        Every column of the schema (headers among them are not offered as the missing one).
    """
    missing = [c for c in required if c not in columns]
    if not missing:
        return []
    spare = [c for c in columns if c not in known]
    hints: list[str] = []
    for want in missing:
        scored = sorted(((_likeness(want, h), h) for h in spare), reverse=True)
        if scored and (scored[0][0] >= 0.6 or (len(missing) == 1 and len(spare) == 1)):
            spare.remove(scored[0][1])
            hints.append(f"'{scored[0][1]}': did you mean {want}?")
    what = "required column missing" if len(missing) == 1 else "required columns missing"
    found = f"; the header has {', '.join(hints)}" if hints else ""
    return [Problem(None, ", ".join(missing), what + found)]


def _filled(series: pd.Series) -> np.ndarray:
    return (series.notna() & (series.astype(str).str.strip() != "")).to_numpy()


def _bool_problems(frame: pd.DataFrame, column: str, ids: pd.Series) -> list[Problem]:
    if column not in frame or frame[column].dtype == bool:
        return []
    col = frame[column]
    text = col.astype(str).str.strip().str.lower()
    bad = np.flatnonzero(_filled(col) & ~text.isin(_TRUE | _FALSE).to_numpy())
    return [Problem(int(r) + 1, column, f"'{col.iloc[r]}' is not true or false (write true/false, yes/no or 1/0)",
                    str(ids.iloc[r])) for r in bad[:50]]


def _date_problems(frame: pd.DataFrame, column: str, ids: pd.Series) -> list[Problem]:
    """Cells that grading would read as no date (the same :func:`pandas.to_datetime` call)."""
    if column not in frame:
        return []
    col = frame[column]
    bad = np.flatnonzero(_filled(col) & pd.to_datetime(col, errors="coerce").isna().to_numpy())
    return [Problem(int(r) + 1, column, f"'{col.iloc[r]}' is not a date (write YYYY-MM-DD)", str(ids.iloc[r]))
            for r in bad[:50]]


def _ids(frame: pd.DataFrame, path: Path) -> pd.Series:
    if "battery_id" not in frame:
        raise InvalidInput(missing_column_problems([str(c) for c in frame.columns], ["battery_id"],
                                                   [c.name for c in BMS_SUMMARY_COLUMNS]), source=str(path))
    frame["battery_id"] = frame["battery_id"].astype(str)
    return frame["battery_id"]


def read_bms_summary(path: str | Path, *, complete: bool = False) -> pd.DataFrame:
    """Read a BMS-summary table (CSV, .xlsx or Parquet; columns ``triage.grading.BMS_SUMMARY_COLUMNS``).

    Parameters
    ----------
    path : str or Path
        The file.
    complete : bool
        Require every required column of the schema (grading input), naming the nearest header found
        for a missing one, and a value in each required numeric cell. Without it any table of units
        with ``battery_id`` is read (e.g. a grade output).

    Raises
    ------
    InvalidInput
        Missing columns, and cells of numeric, true/false or date columns that are not one.
    """
    path = Path(path)
    frame = _read_table(path)
    ids = _ids(frame, path)
    if complete:
        problems = missing_column_problems([str(c) for c in frame.columns], _BMS_REQUIRED,
                                           [c.name for c in BMS_SUMMARY_COLUMNS])
        if problems:
            raise InvalidInput(problems, source=str(path))
    problems = []
    for col, unit in _BMS_UNITS.items():
        problems += coerce_numeric(frame, col, unit, required=complete and col in _BMS_REQUIRED, ids=ids)
    for col in _BMS_BOOL:
        problems += _bool_problems(frame, col, ids)
    for col in _BMS_DATES:
        problems += _date_problems(frame, col, ids)
    if problems:
        raise InvalidInput(problems, source=str(path))
    return frame


def read_capacity_tests(path: str | Path) -> pd.DataFrame:
    """Read capacity-test results (:data:`CAPACITY_COLUMNS`); every ``capacity_ah`` a positive number [Ah]."""
    path = Path(path)
    frame = _read_table(path)
    ids = _ids(frame, path)
    problems = missing_column_problems([str(c) for c in frame.columns], ["capacity_ah"],
                                       ["battery_id", *CAPACITY_COLUMNS])
    if problems:
        raise InvalidInput(problems, source=str(path))
    for col, unit in CAPACITY_COLUMNS.items():
        problems += coerce_numeric(frame, col, unit, required=col == "capacity_ah", ids=ids)
    bad = {p.row for p in problems}
    for r in np.flatnonzero((frame["capacity_ah"] <= 0).to_numpy()):
        if r + 1 not in bad:
            problems.append(Problem(int(r) + 1, "capacity_ah", f"{frame['capacity_ah'].iloc[r]} Ah: must be positive",
                                    str(ids.iloc[r])))
    if problems:
        raise InvalidInput(problems, source=str(path))
    return frame


def read_inspection(path: str | Path) -> pd.DataFrame:
    """Read inspection records; derive ``self_discharge_mv_per_day`` from a rest period if given.

    A rest period is ``ocv_start_v``, ``ocv_end_v`` [V] and ``rest_days`` [day]:
    self-discharge = 1000 x (start - end) / days [mV/day].
    """
    path = Path(path)
    frame = _read_table(path)
    ids = _ids(frame, path)
    problems: list[Problem] = []
    for col, unit in INSPECTION_UNITS.items():
        problems += coerce_numeric(frame, col, unit, ids=ids)
    for col in ["swelling", "leakage", "damage"]:
        problems += _bool_problems(frame, col, ids)
    problems += _date_problems(frame, "calendar_expiry_date", ids)
    if {"ocv_start_v", "ocv_end_v", "rest_days"} <= set(frame.columns):
        days = frame["rest_days"]
        for r in np.flatnonzero((days <= 0).to_numpy()):
            problems.append(Problem(int(r) + 1, "rest_days", "must be > 0", ids.iloc[r]))
        derived = 1000 * (frame["ocv_start_v"] - frame["ocv_end_v"]) / days
        if "self_discharge_mv_per_day" in frame:
            frame["self_discharge_mv_per_day"] = frame["self_discharge_mv_per_day"].fillna(derived)
        else:
            frame["self_discharge_mv_per_day"] = derived
    if "insulation_resistance_mohm" in frame:
        ins = frame["insulation_resistance_mohm"]
        for r in np.flatnonzero((ins < 0).to_numpy()):
            problems.append(Problem(int(r) + 1, "insulation_resistance_mohm", "negative", ids.iloc[r]))
    if problems:
        raise InvalidInput(problems, source=str(path))
    return frame


def merge_inspection(bms: pd.DataFrame, inspection: pd.DataFrame) -> pd.DataFrame:
    """Add inspection columns to a BMS-summary frame (inspection values win where both exist)."""
    cols = [c for c in inspection.columns if c != "battery_id"]
    merged = bms.drop(columns=[c for c in cols if c in bms.columns]).merge(
        inspection[["battery_id", *cols]], on="battery_id", how="left")
    unknown = set(inspection["battery_id"]) - set(bms["battery_id"])
    if unknown:
        raise InvalidInput([Problem(None, "battery_id", "inspection record for an unknown battery", b)
                            for b in sorted(unknown)[:20]], source="inspection")
    for col in ["swelling", "leakage", "damage"]:
        if col in merged:
            merged[col] = merged[col].fillna(False)
    return merged
