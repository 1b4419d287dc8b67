"""Loaders for the planning reference tables shipped in ``circulith/reference/data``.

Each loader reads one packaged file (never ``/work/shared`` or the network) and returns a plain frame or
mapping; the ``source`` column/key of each row travels with it.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd

DATA_PACKAGE = "circulith.reference"


def _data_path(name: str) -> Any:
    return resources.files(DATA_PACKAGE).joinpath("data", name)


def load_iea_ev_sales() -> pd.DataFrame:
    """IEA Global EV Outlook 2024 EV sales and stock (CC BY 4.0), trimmed; see ``iea_ev_sales.SOURCE.md``.

    Returns
    -------
    pandas.DataFrame
        Columns ``region, category, parameter, mode, powertrain, year, value`` [vehicles].
    """
    with _data_path("iea_ev_sales.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def load_chemistry_shares() -> pd.DataFrame:
    """Chemistry shares of EV battery demand by region group and key year (``chemistry_shares.csv``)."""
    with _data_path("chemistry_shares.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


@lru_cache(maxsize=1)
def load_lifetime_defaults() -> dict[str, Any]:
    """Default forecast parameters (``lifetime_defaults.toml``): lifetimes, second life, pack kWh, scrap, prices."""
    with _data_path("lifetime_defaults.toml").open("rb") as fh:
        return tomllib.load(fh)


def load_contained_metals_fallback() -> pd.DataFrame:
    """Fallback contained Li, Ni, Co, Mn per kWh by chemistry [kg/kWh] (``contained_metals_fallback.csv``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``chemistry``; columns ``Li, Ni, Co, Mn`` [kg/kWh] and ``source``.
    """
    with _data_path("contained_metals_fallback.csv").open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh)
    df = df.rename(
        columns={"li_kg_per_kwh": "Li", "ni_kg_per_kwh": "Ni", "co_kg_per_kwh": "Co", "mn_kg_per_kwh": "Mn"}
    )
    return df.set_index("chemistry")


def load_pack_specific_energy_wh_per_kg() -> pd.Series:
    """Pack specific energy by chemistry code [Wh/kg] from the shared ``chemistries.csv`` catalogue."""
    from circulith.reference.chemistries import chemistry_table

    return chemistry_table()["pack_specific_energy_wh_per_kg"].astype(float)


def load_transport_rules() -> pd.DataFrame:
    """Dangerous-goods transport rules for lithium batteries (``transport_rules.csv``)."""
    with _data_path("transport_rules.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def load_load_compatibility() -> pd.DataFrame:
    """Which damage states may share a vehicle (``load_compatibility.csv``, each row sourced)."""
    with _data_path("load_compatibility.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def load_recycling_capacity() -> pd.DataFrame:
    """Installed and announced recycling plants (``recycling_capacity.csv``)."""
    with _data_path("recycling_capacity.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def default_prices_usd_per_kg() -> dict[str, float]:
    """Fallback contained-metal prices [USD/kg of element] from ``lifetime_defaults.toml``."""
    p = load_lifetime_defaults()["prices_usd_per_kg"]
    return {k: float(p[k]) for k in ("Li", "Ni", "Co", "Mn")}


@lru_cache(maxsize=1)
def load_scenario_price_ranges() -> pd.DataFrame:
    """Plausible contained-metal price ranges [USD/kg of element] (``scenario_price_ranges.csv``), by element."""
    with _data_path("scenario_price_ranges.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh).set_index("element")


@lru_cache(maxsize=1)
def load_region_states() -> dict[str, frozenset[str]]:
    """ISO 3166-1 alpha-2 codes of each forecast region (``region_states.csv``: a country or a group of them)."""
    with _data_path("region_states.csv").open("r", encoding="utf-8") as fh:
        table = pd.read_csv(fh)
    return {str(r.region): frozenset(s.strip() for s in str(r.state).split(";") if s.strip())
            for r in table.itertuples()}  # fmt: skip
