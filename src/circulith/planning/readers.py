"""Readers of user files for planning: scenario TOML, sites, demand and cost CSV, sales CSV or Parquet.

The only planning module that opens a file given by name; everything else takes the parsed data.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.planning.scenario import Scenario, scenario_from_mapping


def read_scenario(path: str | Path) -> Scenario:
    """Read a forecast scenario TOML file (format in :mod:`circulith.planning.scenario`)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise InvalidInput(Problem(None, "", "file not found"), source=str(p)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(Problem(None, "", f"not valid TOML: {exc}"), source=str(p)) from exc
    sc = scenario_from_mapping(data, source=str(p))
    paths = {k: str(p.parent / v) for k in ("sales_file", "network_sites", "network_demand", "network_costs")
             if isinstance(v := getattr(sc, k), str) and not Path(v).is_absolute()}  # fmt: skip
    return sc.model_copy(update=paths) if paths else sc


def read_sales_table(path: str | Path) -> pd.DataFrame:
    """Read a sales file (CSV, or Parquet by its ``.parquet`` suffix); schema in :mod:`circulith.planning.sales_input`."""
    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(p)
        except FileNotFoundError as exc:
            raise InvalidInput(Problem(None, "", "file not found"), source=str(p)) from exc
        except (OSError, ValueError) as exc:
            raise InvalidInput(Problem(None, "", f"not a readable Parquet file: {exc}"), source=str(p)) from exc
    return read_csv_table(p)


def read_csv_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV file into a frame (strings stripped); a clear error if missing or unreadable."""
    p = Path(path)
    try:
        return pd.read_csv(p, skipinitialspace=True)
    except FileNotFoundError as exc:
        raise InvalidInput(Problem(None, "", "file not found"), source=str(p)) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInput(Problem(None, "", f"not a readable CSV file: {exc}"), source=str(p)) from exc
