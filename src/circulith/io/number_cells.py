"""Numeric cells of a table file: a number, an empty cell, or a one-line reason a person can act on.

A cell a spreadsheet user typed as ``3.3 V``, ``85 %``, ``3,3`` (decimal comma) or ``1,234``
(thousands separator) is not silently read as missing: :func:`number_problem` says what is wrong
and what to write instead, and :func:`coerce_numeric` turns a column into floats while collecting
those reasons with the row (1-based data row: the header is not a row) and the column.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from circulith.errors import Problem

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_WITH_TEXT = re.compile(rf"({_NUMBER})\s*([^\d\s.+-].*)")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
_PLAIN_UNITS = {"", "-", "1"}
_PREFIXES = {"m": 1e-3, "k": 1e3}


def _unit_words(unit: str) -> str:
    return "a plain number" if unit in _PLAIN_UNITS else f"in {unit}"


def number_problem(value: object, unit: str = "") -> str | None:
    """Why ``value`` is not a number, or None when it is one (or the cell is empty).

    Parameters
    ----------
    value : object
        The cell as read (a number, a string, None or NaN).
    unit : str
        The column's unit (``V``, ``%``, ``Ah``; ``-`` or ``""`` for a plain count).

    Returns
    -------
    str or None
        E.g. ``"unit in value: write 3.3, the column is in V"``.
    """
    if value is None or isinstance(value, bool):
        return None if value is None else f"'{value}' is not a number"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        float(text)
        return None
    except ValueError:
        pass
    if _THOUSANDS.fullmatch(text):
        return f"thousands separator in value: write {text.replace(',', '')} (a point for decimals, no separators)"
    if _DECIMAL_COMMA.fullmatch(text):
        return f"decimal comma in value: write {text.replace(',', '.')}"
    match = _WITH_TEXT.fullmatch(text)
    if match:
        number, written = match.group(1), match.group(2).strip()
        if unit not in _PLAIN_UNITS and written.lower() == unit.lower():
            return f"unit in value: write {number}, the column is in {unit}"
        if unit not in _PLAIN_UNITS and len(written) > 1 and written[1:] == unit and written[0] in _PREFIXES:
            scaled = float(number) * _PREFIXES[written[0]]
            return f"unit in value: write {scaled:g}, the column is in {unit} ({number} {written} = {scaled:g} {unit})"
        return f"text in value ('{written[:20]}'): write {number} alone, the column is {_unit_words(unit)}"
    shown = text if len(text) <= 30 else text[:27] + "..."
    return f"not a number: '{shown}' (the column is {_unit_words(unit)})"


def _is_empty(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def coerce_numeric(frame: pd.DataFrame, column: str, unit: str, *, required: bool = False,
                   ids: pd.Series | None = None, limit: int = 50) -> list[Problem]:
    """Turn ``frame[column]`` into floats in place; the problems of the cells that are not numbers.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; its positional order gives the row (1-based data row).
    column : str
        Column to convert (absent: nothing happens).
    unit : str
        The column's unit, for the reasons (see :func:`number_problem`).
    required : bool
        An empty cell is a problem ("missing") too.
    ids : pandas.Series, optional
        Record identifiers in row order, named with each problem.
    limit : int
        At most this many problems are returned.

    Returns
    -------
    list of Problem
        Empty when every cell is a number (or empty, where allowed).
    """
    if column not in frame:
        return []
    values = pd.to_numeric(frame[column], errors="coerce")
    raw = frame[column].to_numpy(dtype=object)
    problems: list[Problem] = []
    for r in np.flatnonzero(values.isna().to_numpy()):  # only the cells that did not read as numbers
        if len(problems) >= limit:
            break
        rid = str(ids.iloc[r]) if ids is not None else None
        value = raw[r]
        why = ("missing" if required else None) if _is_empty(value) else number_problem(value, unit)
        if why:
            problems.append(Problem(int(r) + 1, column, why, rid))
    frame[column] = values
    return problems
