"""The national view's queries as Ibis expressions over the registry (DuckDB or Spark, any source).

Each function takes the Ibis backend of :func:`circulith.analytics.connect.connect` and the regions in scope
(None: every region) and returns a pandas frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from circulith.analytics.fleet import _packs, _run

CUSTODY_KINDS = ("collected", "received")
"""Events by which a battery enters the custody of the acting organisation."""
RETIREMENT_KIND = "removed"


def _scoped(p: Any, regions: Sequence[str] | None) -> Any:
    return p if regions is None else p.filter(p.region.isin(list(regions)))


def inventory_by_status(con: Any, regions: Sequence[str] | None) -> pd.DataFrame:
    """Packs by region, status, lifecycle state and chemistry -> ``units, energy_kwh, mass_kg``."""
    p = _scoped(_packs(con), regions)
    keys = ["region", "status", "lifecycle_state", "chemistry"]
    expr = p.group_by(keys).aggregate(units=p.battery_id.count(), energy_kwh=p.rated_energy_kwh.sum(),
                                      mass_kg=p.mass_kg.sum())  # fmt: skip
    return _run(con, expr, keys)


def custody_moves(con: Any) -> pd.DataFrame:
    """Packs entering an organisation's custody: ``region`` (registration), ``actor_org_id``, ``units, mass_kg``."""
    p = _packs(con).select("battery_id", "region", "mass_kg")
    e = con.table("events")
    e = e.filter(e.kind.isin(list(CUSTODY_KINDS))).select("battery_id", "actor_org_id").distinct()
    j = e.join(p, "battery_id")
    keys = ["region", "actor_org_id"]
    expr = j.group_by(keys).aggregate(units=j.battery_id.nunique(), mass_kg=j.mass_kg.sum())
    return _run(con, expr, keys)


def retirements_per_year(con: Any, regions: Sequence[str] | None) -> pd.DataFrame:
    """Packs retired (first ``removed`` event) per year -> ``year, units``."""
    p = _scoped(_packs(con), regions).select("battery_id")
    e = con.table("events")
    e = e.filter(e.kind == RETIREMENT_KIND)
    first = e.group_by("battery_id").aggregate(at=e.occurred_at.min())
    j = first.join(p, "battery_id")
    j = j.mutate(year=j.at.substr(0, 4).cast("int64"))
    expr = j.group_by("year").aggregate(units=j.battery_id.count())
    return _run(con, expr, ["year"])
