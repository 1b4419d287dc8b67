"""Reading record files: CSV, JSON (an array, or an object holding one) and JSON Lines.

Every record comes back with its 1-based row number in the file (the CSV header is not a row;
row 1 is the first data line), so that validation can name the row. CSV columns with dotted
names build nested objects (``manufacturer.id``, ``materials.cobalt_kg``); a cell holding a JSON
array or object (``[...]``, ``{...}``) is parsed as JSON; empty cells are absent fields. A UTF-8
byte-order mark is accepted at the start of every format.

JSON that a standard reader would take but that cannot be stored faithfully is refused with the
row and the field: ``NaN`` and ``Infinity`` (not JSON, RFC 8259 section 6), numbers that overflow
to infinity (``1e999``), integers beyond :data:`MAX_SAFE_INTEGER` (not exactly representable in JSON,
RFC 7493 section 2.2), nesting deeper than the parser follows, and text holding NUL or a lone surrogate.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from circulith.errors import InvalidInput, Problem

FORMATS = ("csv", "json", "jsonl")
MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer every JSON reader represents exactly (IEEE 754 binary64; RFC 7493 section 2.2)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (RFC 8259): write a finite number or leave the field empty")


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses ``NaN`` and ``Infinity`` (numbers overflowing to infinity are found by
    :func:`record_problems`; the parser itself stays on its C fast path).

    Raises
    ------
    ValueError
        With a message naming what was refused (:class:`json.JSONDecodeError` for malformed JSON;
        also integers beyond Python's 4,300-digit limit).
    RecursionError
        For nesting deeper than the parser follows (callers report it as a problem of the row).
    """
    return json.loads(text, parse_constant=_refuse_constant)


def _text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        return "contains a lone surrogate (not Unicode text)"
    return None


def record_problems(record: Any, row: int, path: str = "") -> list[Problem]:
    """Values in ``record`` (keys and values, at any depth) that cannot be stored faithfully.

    Text with NUL or a lone surrogate, numbers that overflowed to infinity, integers beyond
    :data:`MAX_SAFE_INTEGER`.
    """
    out: list[Problem] = []
    if isinstance(record, str):
        why = _text_problem(record)
        if why:
            out.append(Problem(row, path, why))
    elif isinstance(record, float):
        if not math.isfinite(record):
            out.append(Problem(row, path, f"the number overflows to {record!r}: write a finite number"))
    elif isinstance(record, int) and not isinstance(record, bool):
        if abs(record) > MAX_SAFE_INTEGER:
            out.append(Problem(row, path, f"integer beyond ±{MAX_SAFE_INTEGER} (not exactly representable in JSON)"))
    elif isinstance(record, dict):
        for key, value in record.items():
            name = f"{path}.{key}" if path else str(key)
            why = _text_problem(str(key))
            if why:
                out.append(Problem(row, name, f"field name {why}"))
            out.extend(record_problems(value, row, name))
    elif isinstance(record, list):
        for i, value in enumerate(record):
            out.extend(record_problems(value, row, f"{path}[{i}]"))
    return out[:20]


def _checked(row: int, record: dict[str, Any], source: str) -> tuple[int, dict[str, Any]]:
    problems = record_problems(record, row)
    if problems:
        raise InvalidInput(problems, source=source)
    return row, record


def detect_format(path: Path) -> str:
    """The record format from the file suffix (``.csv``, ``.json``, ``.jsonl``/``.ndjson``)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":
        return "json"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise InvalidInput(Problem(None, "", f"cannot tell the format of '{path.name}': use .csv, .json or .jsonl"),
                       source=str(path))


def _cell(value: str, row: int, column: str) -> Any:
    text = value.strip()
    if text[:1] in "[{":
        try:
            return loads_strict(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(Problem(row, column, f"cell looks like JSON but does not parse: {exc.msg}")) from None
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(Problem(row, column, f"cell holds JSON that cannot be stored: {exc}")) from None
    return text


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"column '{key}' conflicts with a column that sets '{part}' directly")
        node[parts[-1]] = value
    return out


def iter_records(path: Path, fmt: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row, record)`` from a CSV, JSON or JSON Lines file.

    Raises
    ------
    InvalidInput
        If the file is missing, unreadable, malformed, or holds something other than records.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(Problem(None, "", f"file not found: {path}"), source=str(path))
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise InvalidInput(Problem(None, "", f"unknown format '{fmt}' (use one of {', '.join(FORMATS)})"))
    try:
        if fmt == "csv":
            yield from _iter_csv(path)
        elif fmt == "jsonl":
            yield from _iter_jsonl(path)
        else:
            yield from _iter_json(path)
    except UnicodeDecodeError as exc:
        raise InvalidInput(Problem(None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})"),
                           source=str(path)) from None


def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise InvalidInput(Problem(None, "", "empty CSV file (no header)"), source=str(path))
        dupes = sorted({c for c in reader.fieldnames if reader.fieldnames.count(c) > 1})
        if dupes:
            raise InvalidInput(Problem(None, ", ".join(dupes), "duplicate column in the header"), source=str(path))
        for row, raw in enumerate(reader, start=1):
            if None in raw:
                raise InvalidInput(Problem(row, "", "more cells than header columns"), source=str(path))
            flat = {k.strip(): _cell(v, row, k) for k, v in raw.items() if v is not None and v.strip() != ""}
            try:
                nested = _nest(flat)
            except ValueError as exc:
                raise InvalidInput(Problem(row, "", str(exc)), source=str(path)) from None
            yield _checked(row, nested, str(path))


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig") as fh:
        for row, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = loads_strict(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(Problem(row, "", f"malformed JSON: {exc.msg} (column {exc.colno})"),
                                   source=str(path)) from None
            except (ValueError, RecursionError) as exc:
                raise InvalidInput(Problem(row, "", f"JSON that cannot be stored: {exc}"), source=str(path)) from None
            if not isinstance(obj, dict):
                raise InvalidInput(Problem(row, "", "each line must be a JSON object"), source=str(path))
            yield _checked(row, obj, str(path))


def _iter_json(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        doc = loads_strict(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(Problem(exc.lineno, "", f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"),
                           source=str(path)) from None
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(Problem(None, "", f"JSON that cannot be stored: {exc}"), source=str(path)) from None
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise InvalidInput(Problem(None, "", "a JSON file must hold an array of records, or an object with one array"),
                               source=str(path))
        doc = lists[0]
    if not isinstance(doc, list):
        raise InvalidInput(Problem(None, "", "a JSON file must hold an array of records"), source=str(path))
    for row, obj in enumerate(doc, start=1):
        if not isinstance(obj, dict):
            raise InvalidInput(Problem(row, "", "each record must be a JSON object"), source=str(path))
        yield _checked(row, obj, str(path))


def write_rejects(path: Path, rejects: list[tuple[int, dict[str, Any] | None, list[Problem]]]) -> None:
    """Write rejected records as JSON Lines: ``{"row", "problems": [{"field","reason"}], "record"}``."""
    with Path(path).open("w", encoding="utf-8") as fh:
        for row, record, problems in rejects:
            fh.write(json.dumps({
                "row": row,
                "problems": [{"field": p.field, "reason": p.reason} for p in problems],
                "record": record,
            }, ensure_ascii=False, default=str) + "\n")
