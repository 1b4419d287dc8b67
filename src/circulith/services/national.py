"""The national view (journey 6): what an authority sees of the registry within its jurisdiction.

Scope: a market-surveillance authority or notified body sees the regions of its organisation's jurisdiction
(``organisations.jurisdiction``, else its own country); the Commission and the registry operator see every
region. A ``region`` filter narrows the scope and may not leave it. Each table reads the registry through Ibis
(:mod:`circulith.analytics.national`) on the store's engine:

* inventory by status x chemistry (and region);
* flows between regions: packs registered in one region entering the custody (``collected``/``received``) of
  an organisation based in another, as a matrix;
* registry retirements per year against the forecast of the same scope (the registry's own cohorts in scope,
  default lifetime laws, calibrated ranges);
* throughput against capacity of the registered plants in scope, from their input lots;
* late reporters: each operator's traceability record for the year in scope, the same computation as
  ``circulith compliance late`` (:func:`late_reporters`).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import AUTHORITY_ROLES, Principal, Role, Scope
from circulith.errors import InvalidInput, Problem
from circulith.services.access_rules import require_scope
from circulith.services.traceability import LateReporterOut, late_reporters_in
from circulith.store.jurisdictions import org_countries, org_jurisdiction

NATIONAL_TABLES = ("inventory", "flows", "retirements", "throughput", "late_reporters")


class InventoryRow(BaseModel):
    """Packs of one region, status, lifecycle state and chemistry [-], energy [kWh], mass [kg]."""

    region: str | None
    status: str | None
    lifecycle_state: str | None
    chemistry: str | None
    units: int
    energy_kwh: float
    mass_kg: float


class FlowRow(BaseModel):
    """Packs registered in ``from_region`` that entered custody of organisations in ``to_region``."""

    from_region: str | None
    to_region: str | None
    units: int
    mass_kg: float


class RetirementRow(BaseModel):
    """Registry retirements of one year against the forecast for the same scope [packs]."""

    year: int
    observed: int
    forecast_median: float | None = None
    forecast_lower: float | None = None
    forecast_upper: float | None = None


class ThroughputRow(BaseModel):
    """A registered plant's input in one year against its capacity [t/yr] (capacity: shipped table, by plant_id)."""

    plant_id: str
    org_id: str
    country: str | None
    year: int
    input_t: float
    capacity_t: float | None = None
    utilisation: float | None = None


class LateReportersOut(BaseModel):
    """Operators late with their traceability reports in scope, with each operator's record for the year."""

    available: bool = Field(True, description="Always true: the record follows from the events' deadlines and the "
                                              "recorded submissions (kept for older clients).")
    year: int
    as_of: dt.date
    note: str
    operators: list[str] = Field(description="Operators with an event reported after its deadline or overdue.")
    records: list[LateReporterOut] = Field(description="Every operator with an event due, worst first (the rows of "
                                                       "circulith compliance late).")


class NationalViewOut(BaseModel):
    """The national view within the caller's jurisdiction."""

    org_id: str | None
    scope: str
    regions: list[str] | None
    inventory: list[InventoryRow]
    flows: list[FlowRow]
    retirements: list[RetirementRow]
    throughput: list[ThroughputRow]
    forecast_note: str
    late_reporters: LateReportersOut


def jurisdiction_scope(session: Session, principal: Principal, region: str | None) -> list[str] | None:
    """Regions the caller may see (None: all), narrowed by ``region``; AccessDenied outside the scope."""
    require_scope(principal, Scope.READ)
    if principal.role in (Role.COMMISSION, Role.OPERATOR):
        return [region] if region else None
    if principal.role not in AUTHORITY_ROLES:
        raise AccessDenied("the national view is for authorities, the Commission and the registry operator")
    _role, regions = org_jurisdiction(session, principal.org_id or "")
    if not regions:
        raise AccessDenied(f"no jurisdiction configured for {principal.org_id}")
    if region is None:
        return regions
    if region not in regions:
        raise AccessDenied(f"region {region!r} is outside the jurisdiction of {principal.org_id} ({', '.join(regions)})")
    return [region]


def plant_throughput(session: Session, regions: list[str] | None) -> list[ThroughputRow]:
    """Input of the registered plants per year (from their lots) against capacity, plants in scope only.

    A plant is in scope when its operator's country is; capacity comes from the shipped
    ``recycling_capacity.csv`` where the plant_id matches (None otherwise: not declared).
    """
    from circulith.planning.reference_data import load_recycling_capacity
    from circulith.store.plant_throughput import input_mass_by_plant_year

    cap = load_recycling_capacity().set_index("plant_id")["capacity_t_per_year"].astype(float).to_dict()
    out = []
    for plant, org, country, year, kg in input_mass_by_plant_year(session):
        if regions is not None and country not in regions:
            continue
        c = cap.get(plant)
        out.append(ThroughputRow(plant_id=plant, org_id=org, country=country, year=year, input_t=kg / 1000.0,
                                 capacity_t=c, utilisation=(kg / 1000.0) / c if c else None))  # fmt: skip
    return out


def late_reporters(session: Session, regions: list[str] | None, *, as_of: dt.date | None = None) -> LateReportersOut:
    """Operators late with traceability reports in scope, for the year of ``as_of`` (default today).

    An operator is late when an event it had to report that year was uploaded after its deadline or is past
    its deadline and not uploaded (:func:`circulith.services.traceability.late_reporters_in`, the computation
    of ``circulith compliance late``; deadlines from :mod:`circulith.recovery.traceability_rules`).
    """
    from circulith.store.traceability_repo import any_submission

    day = as_of or dt.date.today()
    records = late_reporters_in(session, day.year, as_of=day, regions=regions)
    note = (f"{day.year}, as of {day}: operators with an event uploaded after its deadline or past its deadline "
            "and not uploaded, from the events' deadlines and the recorded submissions")
    if not any_submission(session):
        note += " (no traceability submission is recorded in this registry: every event past its deadline is overdue)"
    return LateReportersOut(year=day.year, as_of=day, note=note, records=records,
                            operators=sorted(r.org_id for r in records if r.submitted_late or r.overdue))


def _s(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and v != v) else str(v)


def _int(v: object) -> int:
    return 0 if v is None or v != v else int(v)  # type: ignore[call-overload]


@lru_cache(maxsize=1)
def _registry_tables(url: str, head_seq: int, head_sha: str, engine: Engine) -> dict[str, Any]:
    """The registry's analytics columns as Arrow, read once per ledger head (any new event changes the head)."""
    from circulith.analytics.connect import registry_arrow

    return registry_arrow(engine)


def _registry_con(session: Session, engine: Engine) -> Any:
    from circulith.analytics.connect import connect_arrow
    from circulith.store.platform_repo import ledger_head

    seq, sha = ledger_head(session)
    return connect_arrow(_registry_tables(engine.url.render_as_string(hide_password=False), int(seq or 0),
                                          str(sha or ""), engine))  # fmt: skip


def national_view(session: Session, principal: Principal, engine: Engine, *, region: str | None = None,
                  with_forecast: bool = True) -> NationalViewOut:  # fmt: skip
    """Inventory, flows, retirements against forecast and late reporters within the caller's jurisdiction."""
    from circulith.analytics.fleet import forecast_cohorts
    from circulith.analytics.national import custody_moves, inventory_by_status, retirements_per_year

    if region is not None and not region.strip():
        raise InvalidInput(Problem(None, "region", "empty"))
    regions = jurisdiction_scope(session, principal, region)
    con = _registry_con(session, engine)
    inv = inventory_by_status(con, regions)
    moves = custody_moves(con)
    country = org_countries(session)
    moves["to_region"] = moves["actor_org_id"].map(country)
    moves = moves.rename(columns={"region": "from_region"})
    moves = moves[moves["from_region"] != moves["to_region"]]
    if regions is not None:
        moves = moves[moves["from_region"].isin(regions) | moves["to_region"].isin(regions)]
    flows = moves.groupby(["from_region", "to_region"], dropna=False, as_index=False)[["units", "mass_kg"]].sum()
    observed = retirements_per_year(con, regions)
    rows = {int(r.year): RetirementRow(year=int(r.year), observed=_int(r.units)) for r in observed.itertuples()}
    note = "forecast not requested"
    if with_forecast:
        cohorts = forecast_cohorts(con)
        if regions is not None:
            cohorts = cohorts[cohorts["region"].isin(regions)]
        note = _forecast_into(rows, cohorts)
    out_inv = [InventoryRow(region=_s(r.region), status=_s(r.status),
                            lifecycle_state=_s(r.lifecycle_state), chemistry=_s(r.chemistry), units=_int(r.units),
                            energy_kwh=float(r.energy_kwh or 0.0), mass_kg=float(r.mass_kg or 0.0))
               for r in inv.itertuples()]  # fmt: skip
    out_flows = [FlowRow(from_region=_s(r.from_region), to_region=_s(r.to_region), units=_int(r.units),
                         mass_kg=float(r.mass_kg or 0.0)) for r in flows.itertuples()]  # fmt: skip
    return NationalViewOut(
        org_id=principal.org_id, scope="all regions" if regions is None else ", ".join(regions), regions=regions,
        inventory=out_inv, flows=out_flows, retirements=[rows[y] for y in sorted(rows)],
        throughput=plant_throughput(session, regions), forecast_note=note,
        late_reporters=late_reporters(session, regions),
    )  # fmt: skip


def _forecast_into(rows: dict[int, RetirementRow], cohorts: pd.DataFrame) -> str:
    """Add the first-life-exit forecast (packs) of ``cohorts`` to ``rows``; returns a note of the basis."""
    from circulith.planning.calibration import calibrate_summary
    from circulith.planning.scenario import scenario_from_mapping
    from circulith.planning.service import run_forecast
    from circulith.services.planning import scenario_calibration

    if cohorts.empty or cohorts["units"].sum() <= 0:
        return "no registry packs with a region in scope: no forecast"
    sc = scenario_from_mapping({})
    sc = sc.model_copy(update={"group_by": [], "end_year": max(max(rows, default=0), int(cohorts["year"].max())) + 5})
    result = run_forecast(sc, cohorts=cohorts)
    table = calibrate_summary(result.table("first_life_exit", "units"), scenario_calibration())
    for r in table.itertuples():
        y = int(r.year)
        if y < int(cohorts["year"].min()):
            continue
        row = rows.setdefault(y, RetirementRow(year=y, observed=0))
        row.forecast_median, row.forecast_lower, row.forecast_upper = float(r.median), float(r.lower), float(r.upper)
    return (f"forecast of first-life exits of the registry's own cohorts in scope ({int(cohorts['units'].sum())} "
            "packs), default lifetime laws, ranges calibrated on the IEA backtest")  # fmt: skip


def national_table(view: NationalViewOut, table: str) -> tuple[list[str], list[list[object]]]:
    """Columns and rows of one table of the view (one of :data:`NATIONAL_TABLES`), for CSV."""
    if table not in NATIONAL_TABLES:
        raise InvalidInput(Problem(None, "table", f"unknown table {table!r}; expected one of {NATIONAL_TABLES}"))
    items: list[BaseModel] = (list(view.late_reporters.records) if table == "late_reporters"
                              else list(getattr(view, table)))
    models: dict[str, type[BaseModel]] = {"inventory": InventoryRow, "flows": FlowRow, "retirements": RetirementRow,
                                          "throughput": ThroughputRow, "late_reporters": LateReporterOut}
    cols = list(models[table].model_fields)
    return cols, [[getattr(r, c) for c in cols] for r in items]


def flow_matrix(view: NationalViewOut) -> tuple[list[str], list[list[int]]]:
    """Regions and the origin x destination matrix of packs (rows: registered in, columns: custody in)."""
    regions = sorted({r.from_region or "unknown" for r in view.flows} | {r.to_region or "unknown" for r in view.flows})
    idx = {r: k for k, r in enumerate(regions)}
    m = [[0] * len(regions) for _ in regions]
    for f in view.flows:
        m[idx[f.from_region or "unknown"]][idx[f.to_region or "unknown"]] += f.units
    return regions, m


class JurisdictionOut(BaseModel):
    """The regions an organisation supervises."""

    org_id: str
    role: str
    regions: list[str]


def configure_jurisdiction(session: Session, principal: Principal, org_id: str, regions: list[str]) -> JurisdictionOut:
    """Set the regions an authority supervises (the registry operator only; empty: its own country)."""
    from circulith.store.jurisdictions import set_jurisdiction

    require_scope(principal, Scope.ADMIN)
    if not principal.is_operator:
        raise AccessDenied("only the registry operator configures jurisdictions")
    bad = [r for r in regions if not r.strip() or len(r) > 40 or ";" in r]
    if bad:
        raise InvalidInput(Problem(None, "region", f"invalid region code(s) {bad}"))
    set_jurisdiction(session, org_id, [r.strip() for r in regions])
    role, now = org_jurisdiction(session, org_id)
    return JurisdictionOut(org_id=org_id, role=role, regions=now)
