"""The shipped chemistry catalogue (``data/chemistries.csv``): one loader for every package.

Each row carries its ``source``. Read once per process; callers must not modify what they get.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pandas as pd

from circulith.reference.loader import read_csv


@cache
def chemistry_table() -> pd.DataFrame:
    """The catalogue indexed by chemistry ``code`` (voltages [V], specific energies [Wh/kg], cycle life, source)."""
    return read_csv("chemistries.csv").frame.set_index("code")


@cache
def chemistry_records() -> dict[str, dict[str, Any]]:
    """The catalogue as plain records: code -> {column: value}, in catalogue order."""
    return {str(code): row.to_dict() for code, row in chemistry_table().iterrows()}
