"""Grading the registry's retired batteries: BMS summaries → grades → ledger events → regrouped packs.

The sequence the CLI (``circulith triage grade --from-registry``), the demo's main job and the API
share: read BMS summaries of packs awaiting evaluation (and their modules), value each unit's
recycling route with the recovery engine (the value seam of the grading rules), grade, aggregate
each pack from its modules (weakest series string), record ``tested`` and ``graded`` events on
every pack (which moves it to ``evaluated`` and updates its passport's state of health), and
regroup the modules fit for second life into packs of consistent capacity.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from circulith.ledger.events import EventKind, LedgerEvent
from circulith.recovery.pricing import price_fleet
from circulith.store.database import require_schema, transaction
from circulith.store.fleet_queries import bms_summary_frame
from circulith.store.ledger_store import append_events
from circulith.triage.grading import aggregate_parents, grade_frame
from circulith.triage.regroup import regroup
from circulith.triage.rules import load_rules

AWAITING_EVALUATION = ("removed", "collected")


def recycling_value_per_kwh(frame: pd.DataFrame, as_of: dt.date | None = None) -> np.ndarray:
    """Net value of the best recycling route per kWh of rated energy [USD/kWh] for each row."""
    priced = price_fleet(pd.DataFrame({
        "battery_id": frame["battery_id"].to_numpy(), "chemistry": frame["chemistry"].to_numpy(),
        "form": frame["level"].to_numpy(), "mass_kg": frame["mass_kg"].to_numpy(dtype=float),
    }), as_of=as_of, detail=False)
    net = priced["revenue_usd"].to_numpy(dtype=float) - priced["processing_cost_usd"].to_numpy(dtype=float)
    return net / frame["rated_energy_kwh"].to_numpy(dtype=float)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.replace({np.nan: None}).to_dict(orient="records")


def grade_registry(
    engine: Engine,
    *,
    application: str | None = None,
    chemistry: str | None = None,
    custodian_org_id: str | None = None,
    limit: int | None = None,
    as_of: dt.date | None = None,
    record: bool = True,
    units_per_group: int = 4,
) -> dict[str, Any]:
    """Grade the packs awaiting evaluation (and their modules), record the results, regroup modules.

    Parameters
    ----------
    engine : Engine
        The registry.
    application : str, optional
        Intended second-life application; default: each chemistry's preference order.
    chemistry, custodian_org_id : str, optional
        Filters (e.g. one recycler's intake).
    limit : int, optional
        Grade at most this many packs.
    as_of : date, optional
        Grading date (default today).
    record : bool
        Write ``tested`` and ``graded`` events (default); False previews without writing.
    units_per_group : int
        Modules in series per regrouped second-life pack.

    Returns
    -------
    dict
        ``counts`` (grade → units), ``packs`` (pack decisions with explanations), ``modules``,
        ``regroup`` per application, ``events_written``.
    """
    require_schema(engine)
    rules = load_rules()
    with transaction(engine) as session:
        frame = bms_summary_frame(session, lifecycle_states=AWAITING_EVALUATION, chemistry=chemistry,
                                  custodian_org_id=custodian_org_id, limit=limit)
    if frame.empty:
        return {"rules_version": rules["version"], "graded_packs": 0, "counts": {}, "packs": [], "modules": [],
                "regroup": {}, "events_written": 0}
    results = grade_frame(frame, application=application, rules=rules, as_of=as_of,
                          recycling_value_usd_per_kwh=lambda df: recycling_value_per_kwh(frame, as_of))
    results = results.merge(frame[["battery_id", "rated_capacity_ah", "nominal_voltage_v", "rated_energy_kwh",
                                   "custodian_org_id"]], on="battery_id", how="left")
    packs = results[results["level"] == "pack"].set_index("battery_id")
    modules = results[results["level"] == "module"]
    parents = aggregate_parents(results[results["level"] == "module"]).set_index("battery_id")
    written = _record(engine, packs, parents, modules) if record else 0
    return {
        "rules_version": rules["version"],
        "graded_packs": int(len(packs)),
        "counts": {lvl: results[results["level"] == lvl]["grade"].value_counts().to_dict()
                   for lvl in ("pack", "module")},
        "packs": _records(packs.reset_index()),
        "parents": _records(parents.reset_index()),
        "modules": _records(modules),
        "regroup": _regroup(modules, rules, units_per_group),
        "events_written": written,
    }


def _record(engine: Engine, packs: pd.DataFrame, parents: pd.DataFrame, modules: pd.DataFrame) -> int:
    now = dt.datetime.now(dt.UTC)
    by_parent = dict(list(modules.groupby("parent_battery_id")))
    events: list[LedgerEvent] = []
    for bid, row in packs.iterrows():
        actor = row["custodian_org_id"] or "ORG-REGISTRY"
        kids = by_parent.get(bid)
        module_results = [] if kids is None else [
            {"battery_id": k["battery_id"], "grade": k["grade"], "application": k["application"] or None,
             "rule_id": k["rule_id"], "soh_pct": round(float(k["soh_pct"]), 2)}
            for _, k in kids.iterrows()
        ]
        events.append(LedgerEvent(
            battery_id=bid, kind=EventKind.TESTED, occurred_at=now, actor_org_id=actor,
            payload={"method": "bms_summary", "soh_pct": round(float(row["soh_pct"]), 2),
                     "soh_low_pct": round(float(row["soh_low_pct"]), 2),
                     "soh_high_pct": round(float(row["soh_high_pct"]), 2)},
        ))
        parent = parents.loc[bid] if bid in parents.index else None
        events.append(LedgerEvent(
            battery_id=bid, kind=EventKind.GRADED, occurred_at=now + dt.timedelta(milliseconds=1), actor_org_id=actor,
            payload={
                "grade": row["grade"], "application": row["application"] or None, "rule_id": row["rule_id"],
                "clause": row["clause"], "rules_version": row["rules_version"],
                "soh_interval_pct": [round(float(row["soh_low_pct"]), 2), round(float(row["soh_high_pct"]), 2)],
                "further_test": row["further_test"] or None, "explanation": row["explanation"],
                "pack_decision": None if parent is None else parent["decision"],
                "weakest_module_id": None if parent is None else parent["weakest_child_id"],
                "modules": module_results,
            },
        ))
    with transaction(engine) as session:
        return append_events(session, events).appended


def _regroup(modules: pd.DataFrame, rules: dict, units_per_group: int) -> dict[str, Any]:
    fit = modules[modules["grade"].isin(["reuse", "repurpose"])]
    out: dict[str, Any] = {}
    for (chem, app), grp in fit.groupby([fit["chemistry"], fit["application"].fillna("")]):
        application = app or "stationary_storage"
        units = pd.DataFrame({
            "battery_id": grp["battery_id"].to_numpy(),
            "capacity_ah": grp["rated_capacity_ah"].to_numpy(dtype=float) * grp["soh_pct"].to_numpy(dtype=float) / 100.0,
            "nominal_voltage_v": grp["nominal_voltage_v"].to_numpy(dtype=float),
            "grade": grp["grade"].to_numpy(),
        })
        res = regroup(units, application=application, units_per_group=units_per_group, rules=rules)
        out[f"{chem}/{application}"] = {"groups": len(res.groups), "usable_energy_kwh": round(res.usable_energy_kwh, 2),
                                        "leftovers": len(res.leftovers), "group_detail": res.groups[:20]}
    return out
