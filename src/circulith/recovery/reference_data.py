"""Loaders for the shipped, cited reference tables the recovery engine uses.

Tables live in ``circulith/reference/data/`` (package data, each row with a ``source``):
``chemistries.csv`` (shared), ``compositions.csv``, ``pack_hardware.csv``, ``module_share.csv``,
``prices.csv``, ``fx_rates.csv``, ``recovery_targets.csv``, ``recovery_routes.toml`` and
``lot_accounting.csv``.
"""

from __future__ import annotations

import csv
import tomllib
from functools import cache
from importlib import resources
from typing import Any

DATA_PACKAGE = "circulith.reference"


def _text(name: str) -> str:
    return (resources.files(DATA_PACKAGE) / "data" / name).read_text(encoding="utf-8")


@cache
def load_csv(name: str) -> tuple[dict[str, str], ...]:
    """Rows of a shipped CSV table as dicts (cached; treat as read-only)."""
    return tuple(csv.DictReader(_text(name).splitlines()))


@cache
def load_toml(name: str) -> dict[str, Any]:
    """A shipped TOML document (cached; copy before changing)."""
    return tomllib.loads(_text(name))


def data_version() -> dict[str, str]:
    """Short content hashes of the reference tables, to print with a result (which data produced it)."""
    import hashlib

    names = ["chemistries.csv", "compositions.csv", "pack_hardware.csv", "module_share.csv", "prices.csv",
             "fx_rates.csv", "recovery_targets.csv", "recovery_routes.toml", "lot_accounting.csv"]
    return {n: hashlib.sha256(_text(n).encode()).hexdigest()[:12] for n in names}


@cache
def lot_accounting_parameter(name: str) -> float:
    """One parameter of ``lot_accounting.csv`` [its unit is in the file, with its source].

    Raises
    ------
    KeyError
        If the file has no such parameter.
    """
    for row in load_csv("lot_accounting.csv"):
        if row["parameter"] == name:
            return float(row["value"])
    raise KeyError(f"lot_accounting.csv has no parameter '{name}'")
