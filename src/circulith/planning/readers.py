"""Readers of user files for planning: scenario TOML, sites and demand CSV.

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
    return scenario_from_mapping(data, source=str(p))


def read_csv_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV file into a frame (strings stripped); a clear error if missing or unreadable."""
    p = Path(path)
    try:
        return pd.read_csv(p, skipinitialspace=True)
    except FileNotFoundError as exc:
        raise InvalidInput(Problem(None, "", "file not found"), source=str(p)) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidInput(Problem(None, "", f"not a readable CSV file: {exc}"), source=str(p)) from exc
