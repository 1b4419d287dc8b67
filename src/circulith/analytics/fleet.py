"""Registry-wide aggregations as Ibis expressions (one code path for DuckDB and Spark).

Every ``*_expr`` function takes the Ibis tables and returns an unexecuted expression; the plain functions
take a backend from :func:`circulith.analytics.connect` and return a pandas frame, sorted by its keys.
Only packs are counted (``level == 'pack'``): modules and cells travel inside them.

Timestamps in the ledger are ISO 8601 text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``); durations are computed at
day resolution (the date part, UTC) and expressed in years of 365.25 days.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem

DAYS_PER_YEAR = 365.25
RETIREMENT_KINDS: tuple[str, ...] = ("removed", "collected")
# Lifecycle states of a battery that has left first life and awaits routing (as in the ledger's state machine).
END_OF_LIFE_STATES: tuple[str, ...] = ("removed", "collected", "evaluated")
# Damage state of a retired pack, from its ledger events: "critical" where an event payload says
# "critical": true or the removal reason is a thermal event (ADR SP 376: liable to react dangerously);
# "damaged" where the collection payload says "damaged": true; "intact" where collected undamaged;
# "unknown" where no collection event says either (never guessed as intact).
CRITICAL_REASONS: tuple[str, ...] = ("thermal_event",)


def _packs(con: Any) -> Any:
    b = con.table("batteries")
    return b.filter(b.level == "pack")


def _day(col: Any) -> Any:
    return col.substr(0, 10).cast("date")


def _epoch_days(date_col: Any) -> Any:
    return date_col.cast("timestamp").epoch_seconds() / 86400.0


def _json_str(col: Any, key: str) -> Any:
    return col.re_extract(f'"{key}"\\s*:\\s*"([^"]*)"', 1)


def _json_true(col: Any, key: str) -> Any:
    return col.re_search(f'"{key}"\\s*:\\s*true')


def _run(con: Any, expr: Any, keys: Sequence[str]) -> pd.DataFrame:
    df = con.execute(expr.order_by(list(keys)))
    return df.reset_index(drop=True)


def cohorts_expr(con: Any) -> Any:
    """Production cohorts: production year x region x chemistry -> units, energy [kWh], mass [kg]."""
    p = _packs(con)
    p = p.mutate(production_year=p.manufacturing_date.substr(0, 4).cast("int64"))
    return p.group_by(["production_year", "region", "chemistry"]).aggregate(
        units=p.battery_id.count(), energy_kwh=p.rated_energy_kwh.sum(), mass_kg=p.mass_kg.sum()
    )


def cohorts(con: Any) -> pd.DataFrame:
    """Execute :func:`cohorts_expr`. Columns ``production_year, region, chemistry, units, energy_kwh, mass_kg``."""
    return _run(con, cohorts_expr(con), ["production_year", "region", "chemistry"])


def forecast_cohorts(con: Any, *, segment: str = "Cars") -> pd.DataFrame:
    """Registry cohorts in the forecast's cohort format (``year, region, segment, chemistry, units, pack_kwh``).

    Packs without a region are left out; a region's missing production years between its first and last
    are filled with zero units (the registry saw none), so the series has no gaps.
    """
    c = cohorts(con)
    c = c[c["region"].notna()].copy()
    c["segment"] = segment
    c["pack_kwh"] = c["energy_kwh"] / c["units"]
    out = c.rename(columns={"production_year": "year"})[["year", "region", "segment", "chemistry", "units", "pack_kwh"]]
    fill: list[dict[str, object]] = []
    for region, g in out.groupby("region"):
        years = set(g["year"].tolist())
        chem = str(g["chemistry"].mode().iloc[0])
        fill.extend({"year": y, "region": region, "segment": segment, "chemistry": chem, "units": 0,
                     "pack_kwh": float(g["pack_kwh"].mean())}
                    for y in range(min(years), max(years) + 1) if y not in years)  # fmt: skip
    if fill:
        out = pd.concat([out, pd.DataFrame(fill)], ignore_index=True)
    return out.sort_values(["region", "year", "chemistry"]).reset_index(drop=True)


def retirement_events_per_year_expr(con: Any) -> Any:
    """Removed / collected events of packs per year, region, chemistry and kind -> events, energy [kWh]."""
    e = con.table("events")
    e = e.filter(e.kind.isin(list(RETIREMENT_KINDS)))
    p = _packs(con).select("battery_id", "region", "chemistry", "rated_energy_kwh")
    j = e.join(p, "battery_id")
    j = j.mutate(year=_day(j.occurred_at).year())
    return j.group_by(["year", "region", "chemistry", "kind"]).aggregate(
        events=j.battery_id.count(), energy_kwh=j.rated_energy_kwh.sum()
    )


def retirement_events_per_year(con: Any) -> pd.DataFrame:
    """Execute :func:`retirement_events_per_year_expr` (columns ``year, region, chemistry, kind, events, energy_kwh``)."""
    return _run(con, retirement_events_per_year_expr(con), ["year", "region", "chemistry", "kind"])


def registry_as_of(con: Any) -> str:
    """Date of the latest ledger event, ``YYYY-MM-DD`` (the censoring date by default)."""
    e = con.table("events")
    value = con.execute(e.occurred_at.max())
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise InvalidInput(Problem(None, "events", "the registry has no events"))
    return str(value)[:10]


def observed_retirements_expr(con: Any, as_of: str) -> Any:
    """Per installed pack: time in first life, observed (removed or collected) or right-censored at ``as_of``.

    Entry into service is the first ``installed`` event; retirement the first ``removed`` or ``collected``
    event. Packs never installed are not at risk and are left out.
    """
    e = con.table("events").mutate(day=lambda t: _day(t.occurred_at))
    inst = e.filter(e.kind == "installed").group_by("battery_id").aggregate(installed_on=e.day.min())
    ret_ev = e.filter(e.kind.isin(list(RETIREMENT_KINDS)))
    ret = ret_ev.group_by("battery_id").aggregate(
        retired_on=ret_ev.day.min(), reason=_json_str(ret_ev.payload_json, "reason").max()
    )
    p = _packs(con).select("battery_id", "region", "chemistry", "rated_energy_kwh")
    j = p.join(inst, "battery_id").left_join(ret, "battery_id")
    import ibis

    cutoff = ibis.literal(as_of[:10]).cast("date")
    observed = j.retired_on.notnull() & (j.retired_on <= cutoff)
    end = observed.ifelse(j.retired_on, cutoff)
    return j.select(
        "battery_id", "region", "chemistry", "rated_energy_kwh", "installed_on",
        retired_on=observed.ifelse(j.retired_on, ibis.null("date")),
        reason=observed.ifelse(j.reason, ibis.null("string")),
        observed=observed,
        duration_years=(_epoch_days(end) - _epoch_days(j.installed_on)) / DAYS_PER_YEAR,
    )  # fmt: skip


def observed_retirements(con: Any, *, as_of: str | None = None) -> pd.DataFrame:
    """Execute :func:`observed_retirements_expr`; ``as_of`` defaults to the latest event's date.

    Columns ``battery_id, region, chemistry, rated_energy_kwh, installed_on, retired_on, reason, observed,
    duration_years`` [year]. Retirements count as observed only when dated on or
    before it; later ones are censored at ``as_of``.
    """
    cutoff = as_of or registry_as_of(con)
    df = _run(con, observed_retirements_expr(con, cutoff), ["battery_id"])
    df["observed"] = df["observed"].astype(bool)
    for col in ("installed_on", "retired_on"):
        df[col] = pd.to_datetime(df[col]).dt.strftime("%Y-%m-%d").where(df[col].notna(), None)
    return df


def _latest_payload(con: Any, kind: str) -> Any:
    e = con.table("events").filter(lambda t: t.kind == kind)
    last = e.group_by("battery_id").aggregate(seq=e.battery_seq.max())
    return e.join(last, [e.battery_id == last.battery_id, e.battery_seq == last.seq]).select(
        "battery_id", "payload_json"
    )


def inventory_expr(con: Any, *, lifecycle_states: Sequence[str] = END_OF_LIFE_STATES) -> Any:
    """Per pack awaiting routing: custody, grade (latest ``graded`` event) and damage state."""
    p = _packs(con)
    p = p.filter(p.lifecycle_state.isin(list(lifecycle_states)))
    graded = _latest_payload(con, "graded")
    graded = graded.select("battery_id", grade=_json_str(graded.payload_json, "grade"))
    coll = _latest_payload(con, "collected")
    coll = coll.select("battery_id", damaged=_json_true(coll.payload_json, "damaged"),
                       crit_c=_json_true(coll.payload_json, "critical"))  # fmt: skip
    e = con.table("events")
    flags = e.filter(e.kind == "removed")
    flags = flags.group_by("battery_id").aggregate(
        crit_r=(_json_str(flags.payload_json, "reason").isin(list(CRITICAL_REASONS))
                | _json_true(flags.payload_json, "critical")).any()
    )  # fmt: skip
    j = p.left_join(graded, "battery_id").left_join(coll, "battery_id").left_join(flags, "battery_id")
    critical = j.crit_c.fill_null(False) | j.crit_r.fill_null(False)
    damage = (
        critical.ifelse("critical", j.damaged.ifelse("damaged", j.damaged.notnull().ifelse("intact", "unknown")))
    )
    damage = j.damaged.isnull().ifelse(critical.ifelse("critical", "unknown"), damage)
    return j.select(
        "battery_id", "custodian_org_id", "lifecycle_state", "chemistry", "mass_kg", "rated_energy_kwh",
        site_id=j.custody_site_id, grade=j.grade.fill_null("ungraded"), damage_state=damage,
    )  # fmt: skip


def inventory(con: Any, *, per_battery: bool = False,
              lifecycle_states: Sequence[str] = END_OF_LIFE_STATES) -> pd.DataFrame:  # fmt: skip
    """Inventory of retired packs by custody, grade and damage state.

    Parameters
    ----------
    con : ibis backend
        From :func:`circulith.analytics.connect`.
    per_battery : bool
        True: one row per pack (``battery_id, site_id, mass_kg, grade, damage_state, chemistry, ...``, the
        input of :func:`circulith.planning.lot_routing.route_lots` once ``unknown`` damage states and
        ``ungraded`` packs are settled). False: totals per ``custodian_org_id, site_id, lifecycle_state,
        grade, damage_state, chemistry`` -> ``units, mass_kg, energy_kwh``.
    lifecycle_states : sequence of str
        States counted as awaiting routing.
    """
    x = inventory_expr(con, lifecycle_states=lifecycle_states)
    if per_battery:
        return _run(con, x, ["battery_id"])
    keys = ["custodian_org_id", "site_id", "lifecycle_state", "grade", "damage_state", "chemistry"]
    agg = x.group_by(keys).aggregate(units=x.battery_id.count(), mass_kg=x.mass_kg.sum(),
                                     energy_kwh=x.rated_energy_kwh.sum())  # fmt: skip
    return _run(con, agg, keys)


def national_totals_expr(con: Any) -> Any:
    """Packs per region, status, lifecycle state and chemistry -> units, energy [kWh], mass [kg]."""
    p = _packs(con)
    keys = ["region", "status", "lifecycle_state", "chemistry"]
    return p.group_by(keys).aggregate(units=p.battery_id.count(), energy_kwh=p.rated_energy_kwh.sum(),
                                      mass_kg=p.mass_kg.sum())  # fmt: skip


def national_totals(con: Any) -> pd.DataFrame:
    """Execute :func:`national_totals_expr`."""
    return _run(con, national_totals_expr(con), ["region", "status", "lifecycle_state", "chemistry"])
