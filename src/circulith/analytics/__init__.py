"""Fleet-scale analytics over the whole registry, written once as Ibis expressions.

The same expressions run on DuckDB (embedded, the default) and on Spark (``circulith[spark]``) when a
national registry outgrows one machine. :func:`connect` opens either engine on the registry's tables
(SQLite database URL) or on Parquet exports (:func:`export_parquet`).
"""

from circulith.analytics.connect import REGISTRY_COLUMNS, connect, export_parquet
from circulith.analytics.fleet import (
    cohorts,
    forecast_cohorts,
    inventory,
    national_totals,
    observed_retirements,
    retirement_events_per_year,
)
from circulith.analytics.lifetimes import (
    RegistryLifetimeFit,
    fit_registry_lifetimes,
    registry_lifetimes_report,
)

__all__ = [
    "REGISTRY_COLUMNS",
    "RegistryLifetimeFit",
    "cohorts",
    "connect",
    "export_parquet",
    "fit_registry_lifetimes",
    "forecast_cohorts",
    "inventory",
    "national_totals",
    "observed_retirements",
    "registry_lifetimes_report",
    "retirement_events_per_year",
]
