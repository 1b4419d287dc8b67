"""Readers of user files for the recovery engine: price files, plant overrides, batteries, lots.

Each returns plain data and raises :class:`~circulith.errors.InvalidInput` naming the file, row and field
(a binary file, e.g. a workbook under a ``.json`` name, is refused in one line:
:func:`circulith.io.text_files.read_text_file`).
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.io.text_files import read_text_file
from circulith.recovery.lots import AnyLot, lot_from_payload
from circulith.recovery.prices import PriceBook, price_book_from_rows

PRICE_COLUMNS = ("commodity", "price", "unit", "basis", "date", "source")


def _exists(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"file not found: {p}")
    return p


def read_price_file(path: str | Path) -> PriceBook:
    """A CSV price file (``commodity, price, unit, basis, date, source``) as a :class:`PriceBook`."""
    p = _exists(path)
    with io.StringIO(read_text_file(p, kind="CSV"), newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in PRICE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(Problem(None, ",".join(missing), "missing column(s); a price file needs "
                                       + ", ".join(PRICE_COLUMNS)), source=str(p))
        rows = list(reader)
    return price_book_from_rows(rows, source=str(p))


def read_plant_overrides(path: str | Path) -> dict[str, Any]:
    """A plant's own route figures (TOML with the nesting of ``recovery_routes.toml``)."""
    p = _exists(path)
    try:
        return tomllib.loads(read_text_file(p, kind="TOML"))
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(f"not valid TOML: {e}", source=str(p)) from None


def read_batteries(path: str | Path) -> pd.DataFrame:
    """Batteries to price: a JSON object (one battery), a JSON list, or a CSV with one row per battery.

    Columns/keys: ``battery_id, chemistry, form, mass_kg`` or ``energy_kwh``; optional ``li_kg, ni_kg,
    co_kg, mn_kg, logistics_usd, reuse_eligible, soh``.
    """
    p = _exists(path)
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(read_text_file(p, kind="JSON"))
        except json.JSONDecodeError as e:
            raise InvalidInput(f"not valid JSON: {e}", source=str(p)) from None
        records = [data] if isinstance(data, dict) else data
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InvalidInput("expected a JSON object or a list of objects", source=str(p))
        frame = pd.DataFrame(records)
    else:
        text = read_text_file(p, kind="CSV")
        try:
            frame = pd.read_csv(io.StringIO(text))
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            raise InvalidInput(f"not a readable CSV table: {str(e).strip().splitlines()[0]}", source=str(p)) from None
    if "chemistry" not in frame:
        raise InvalidInput(Problem(None, "chemistry", "missing column"), source=str(p))
    for col in ("mass_kg", "energy_kwh", "li_kg", "ni_kg", "co_kg", "mn_kg", "logistics_usd", "soh"):
        if col in frame:
            conv = pd.to_numeric(frame[col], errors="coerce")
            bad = frame[col].notna() & conv.isna()
            if bad.any():
                i = int(bad.to_numpy().nonzero()[0][0])
                raise InvalidInput(Problem(i + 1, col, f"'{frame[col].iloc[i]}' is not a number"), source=str(p))
            if (conv < 0).any():
                i = int((conv < 0).to_numpy().nonzero()[0][0])
                raise InvalidInput(Problem(i + 1, col, "must not be negative"), source=str(p))
            frame[col] = conv
    if "reuse_eligible" in frame:
        frame["reuse_eligible"] = frame["reuse_eligible"].map(
            lambda v: str(v).strip().lower() in ("true", "1", "yes") if pd.notna(v) else False)
    return frame


def read_lot_records(path: str | Path) -> list[AnyLot]:
    """Lot records: a JSON list of lot payloads or JSON Lines (one payload per line)."""
    p = _exists(path)
    text = read_text_file(p, kind="JSON")
    try:
        payloads = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        raise InvalidInput(f"not valid JSON: {e}", source=str(p)) from None
    lots: list[AnyLot] = []
    problems: list[Problem] = []
    for n, payload in enumerate(payloads, start=1):
        try:
            lots.append(lot_from_payload(payload))
        except InvalidInput as e:
            problems.extend(Problem(n, pr.field, pr.reason, pr.record_id) for pr in e.problems)
    if problems:
        raise InvalidInput(problems, source=str(p))
    return lots
