"""Reading the grade output wherever a command takes it (``recovery price``, offers, regrouping).

``circulith triage grade`` writes one schema in JSON and CSV (the rows of
:class:`circulith.services.triage.UnitGrade`): a JSON object holding the graded units under
:data:`GRADE_UNITS_KEY` (the whole ``--json`` document, or the ``--out FILE.json`` file), or a CSV
(``--out FILE.csv``) whose header carries the grade columns. :func:`read_grade_output` recognises
either by its content, not by the file name, and returns the units as a table; a file of another kind
(a plain list of batteries) gives None, so the caller reads it its own way. A spreadsheet workbook,
text that is not UTF-8, invalid JSON or a CSV row with the wrong number of fields is refused in one
line naming the row and the reason, before anything is computed.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.io.text_files import read_text_file

GRADE_UNITS_KEY = "units"
"""Key of the graded units in the JSON grade output."""

GRADE_SIGNATURE = ("battery_id", "grade", "decided_by")
"""Columns that mark a table as grade rows: only the grade output carries all three (the unit, its
grade and the rule that decided it)."""

TEXT_COLUMNS = ("battery_id", "identifier", "parent_battery_id", "pack_battery_id", "chemistry", "level", "form",
                "grade", "rule_id", "own_rule_id", "decided_by", "custodian_org_id")
"""Grade columns read as text (identifiers such as ``0012`` keep their digits)."""

def _is_grade_row(row: object) -> bool:
    return isinstance(row, dict) and all(k in row for k in GRADE_SIGNATURE)


def _json_units(data: Any, source: str) -> pd.DataFrame | None:
    if isinstance(data, dict) and GRADE_UNITS_KEY in data:
        rows = data[GRADE_UNITS_KEY]
        if not isinstance(rows, list):
            raise InvalidInput(Problem(None, GRADE_UNITS_KEY, "expected a list of graded units"), source=source)
    elif isinstance(data, list) and data and all(_is_grade_row(r) for r in data):
        rows = data
    else:
        return None
    problems = [Problem(k, "", "not an object (a graded unit)") for k, r in enumerate(rows, start=1)
                if not isinstance(r, dict)]
    problems += [Problem(k, col, "required field missing", str(r.get("battery_id") or "") or None)
                 for k, r in enumerate(rows, start=1) if isinstance(r, dict)
                 for col in GRADE_SIGNATURE if r.get(col) in (None, "")]
    if problems:
        raise InvalidInput(problems, source=source)
    return pd.DataFrame(rows)


def _csv_units(text: str, source: str) -> pd.DataFrame | None:
    lines = list(csv.reader(io.StringIO(text, newline="")))
    if not lines or not all(c in lines[0] for c in GRADE_SIGNATURE):
        return None
    header = lines[0]
    problems = [Problem(k, "", f"{len(row)} fields but the header has {len(header)}")
                for k, row in enumerate(lines[1:], start=1) if row and len(row) != len(header)]
    if problems:
        raise InvalidInput(problems, source=source)
    return pd.read_csv(io.StringIO(text), dtype={c: str for c in TEXT_COLUMNS if c in header},
                       keep_default_na=False, na_values=[""])


def read_grade_output(path: str | Path) -> pd.DataFrame | None:
    """The graded units of a grade output (JSON or CSV), or None if the file is not one.

    Parameters
    ----------
    path : str or Path
        ``triage grade --json`` output, a ``--out`` file (``.json`` or ``.csv``), or any other file.

    Returns
    -------
    pandas.DataFrame or None
        One row per graded unit with the grade columns the file has (row ``k`` of the table is unit
        ``k`` of the file); None for a file that is not a grade output.

    Raises
    ------
    InvalidInput
        For a missing or unreadable file, a spreadsheet workbook, text that is not UTF-8, invalid
        JSON, or a grade output with a malformed row (named).
    """
    p = Path(path)
    text = read_text_file(p, "CSV or JSON text (a grade output as 'triage grade --out' writes it)")
    if p.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(Problem(None, "", f"not valid JSON ({exc.msg} at line {exc.lineno}, column "
                                       f"{exc.colno})"), source=str(p)) from None
        return _json_units(data, str(p))
    return _csv_units(text, str(p))
