"""Reading record files: CSV, JSON (an array, or an object holding one) and JSON Lines.

Every record comes back with its 1-based row number in the file (the CSV header is not a row;
row 1 is the first data line), so that validation can name the row. CSV columns with dotted
names build nested objects (``manufacturer.id``, ``materials.cobalt_kg``); a cell holding a JSON
array or object (``[...]``, ``{...}``) is parsed as JSON; empty cells are absent fields.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from circulith.errors import InvalidInput, Problem

FORMATS = ("csv", "json", "jsonl")


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
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(Problem(row, column, f"cell looks like JSON but does not parse: {exc.msg}")) from None
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
                yield row, _nest(flat)
            except ValueError as exc:
                raise InvalidInput(Problem(row, "", str(exc)), source=str(path)) from None


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as fh:
        for row, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(Problem(row, "", f"malformed JSON: {exc.msg} (column {exc.colno})"),
                                   source=str(path)) from None
            if not isinstance(obj, dict):
                raise InvalidInput(Problem(row, "", "each line must be a JSON object"), source=str(path))
            yield row, obj


def _iter_json(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(Problem(exc.lineno, "", f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"),
                           source=str(path)) from None
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
        yield row, obj


def write_rejects(path: Path, rejects: list[tuple[int, dict[str, Any] | None, list[Problem]]]) -> None:
    """Write rejected records as JSON Lines: ``{"row", "problems": [{"field","reason"}], "record"}``."""
    with Path(path).open("w", encoding="utf-8") as fh:
        for row, record, problems in rejects:
            fh.write(json.dumps({
                "row": row,
                "problems": [{"field": p.field, "reason": p.reason} for p in problems],
                "record": record,
            }, ensure_ascii=False, default=str) + "\n")
