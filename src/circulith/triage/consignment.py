"""Reading a consignment list: the identifiers a truck brings, from whatever the analyst has at hand.

Accepted: a scanner's text list (one code per line; blank lines and ``#`` comments skipped), CSV
(a column named ``identifier``, ``battery_id``, ``code``, ``qr`` or ``passport_id``, or a single
column without header), JSON (an array of codes or of objects with one of those keys, or an object
holding such an array under ``identifiers``/``batteries``) and Excel workbooks (.xlsx, first sheet,
same columns as CSV). The kind is recognised from the content, not only from the suffix, so an
Excel file named ``.csv`` is still read. Every identifier comes back with its 1-based row (line of
a text list, data row of a table, element of a JSON array) so that errors can name it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from circulith.errors import InvalidInput, Problem
from circulith.io.workbooks import first_sheet_rows, is_workbook

ID_COLUMNS = ("identifier", "battery_id", "code", "qr", "passport_id", "id")
"""Column names (case-insensitive) that hold the identifier, in order of preference."""


def _pick_column(header: list[str], source: str) -> int | None:
    names = [str(h or "").strip().lower() for h in header]
    for want in ID_COLUMNS:
        if want in names:
            return names.index(want)
    if len(names) > 1:
        raise InvalidInput(Problem(None, "header", f"no identifier column among {', '.join(n for n in names if n)}; "
                                   f"name one of {', '.join(ID_COLUMNS)}"), source=source)
    return None


def _from_table(rows: list[list[Any]], source: str) -> list[tuple[int, str]]:
    rows = [r for r in rows if any(str(c or "").strip() for c in r)]
    if not rows:
        return []
    col = _pick_column([str(c or "") for c in rows[0]], source)
    body = rows[1:] if col is not None else rows
    col = col or 0
    out: list[tuple[int, str]] = []
    problems: list[Problem] = []
    for k, r in enumerate(body, start=1):
        value = str(r[col] if col < len(r) and r[col] is not None else "").strip()
        if not value:
            problems.append(Problem(k, ID_COLUMNS[0], "empty identifier"))
        else:
            out.append((k, value))
    if problems:
        raise InvalidInput(problems, source=source)
    return out


def _from_json(text: str, source: str) -> list[tuple[int, str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(Problem(exc.lineno, "", f"not valid JSON ({exc.msg}); truncated file?"),
                           source=source) from None
    if isinstance(data, dict):
        data = data.get("identifiers", data.get("batteries"))
    if not isinstance(data, list):
        raise InvalidInput(Problem(None, "", "expected an array of identifiers (or an object with 'identifiers')"),
                           source=source)
    out: list[tuple[int, str]] = []
    for k, item in enumerate(data, start=1):
        value = item
        if isinstance(item, dict):
            value = next((item[c] for c in ID_COLUMNS if item.get(c)), None)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(Problem(k, "identifier", "missing or not a string"), source=source)
        out.append((k, value.strip()))
    return out


def _from_xlsx(data: bytes, source: str) -> list[tuple[int, str]]:
    return _from_table(first_sheet_rows(data, source), source)


def parse_consignment(data: bytes, *, name: str = "consignment") -> list[tuple[int, str]]:
    """``(row, identifier)`` of every code in a consignment file's content (see the module docstring)."""
    if is_workbook(data):
        return _from_xlsx(data, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(Problem(None, "", "neither UTF-8 text nor an Excel workbook"), source=name) from None
    stripped = text.lstrip()
    if stripped[:1] in "[{":
        return _from_json(text, name)
    suffix = Path(name).suffix.lower()
    first = stripped.splitlines()[0] if stripped else ""
    if suffix == ".csv" or "," in first or ";" in first:
        delimiter = max(",;\t", key=first.count)
        return _from_table([list(r) for r in csv.reader(io.StringIO(text), delimiter=delimiter)], name)
    out: list[tuple[int, str]] = []
    for k, line in enumerate(text.splitlines(), start=1):
        code = line.strip()
        if code and not code.startswith("#"):
            out.append((k, code))
    return out


def read_consignment(path: Path) -> list[tuple[int, str]]:
    """Read a consignment file (text list, CSV, JSON or Excel)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(Problem(None, "", f"cannot read: {exc.strerror}"), source=str(path)) from None
    return parse_consignment(data, name=str(path))
