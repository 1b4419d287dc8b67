"""Fleet-level reads that feed the engines: BMS summaries for triage, inventories for pricing.

Each function returns a pandas frame in the schema the engine documents, so the engines stay
free of SQL and the store stays free of engine logic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from circulith.store.ledger_store import chunks
from circulith.store.models import Battery, Event

RETIRED_STATES = ("removed", "collected", "evaluated")


def _value(dynamic: dict[str, Any], key: str) -> float | None:
    v = dynamic.get(key)
    return None if not isinstance(v, dict) else v.get("value")


def _last_snapshots(session: Session, battery_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Payload of the latest ``bms_snapshot`` of each battery."""
    out: dict[str, dict[str, Any]] = {}
    for part in chunks(list(battery_ids)):
        last = (
            select(Event.battery_id, func.max(Event.battery_seq).label("seq"))
            .where(Event.battery_id.in_(part), Event.kind == "bms_snapshot")
            .group_by(Event.battery_id)
            .subquery()
        )
        rows = session.execute(
            select(Event.battery_id, Event.payload_json).join(
                last, (Event.battery_id == last.c.battery_id) & (Event.battery_seq == last.c.seq)
            )
        )
        for bid, payload in rows:
            out[bid] = json.loads(payload)
    return out


def bms_summary_frame(
    session: Session,
    *,
    lifecycle_states: Sequence[str] = RETIRED_STATES,
    chemistry: str | None = None,
    custodian_org_id: str | None = None,
    limit: int | None = None,
    include_modules: bool = True,
) -> pd.DataFrame:
    """BMS summaries of the packs in the given lifecycle states, and of their modules.

    Pack rows come from the passport's dynamic values; module rows inherit the pack's use history
    (same vehicle, same events) and take their own SOH from the pack's last BMS snapshot
    (``module_soh_pct``, in module order) when it has one. Columns follow
    :data:`circulith.triage.grading.BMS_SUMMARY_COLUMNS`.
    """
    stmt = select(Battery).where(Battery.level == "pack", Battery.lifecycle_state.in_(list(lifecycle_states)))
    if chemistry:
        stmt = stmt.where(Battery.chemistry == chemistry)
    if custodian_org_id:
        stmt = stmt.where(Battery.custodian_org_id == custodian_org_id)
    stmt = stmt.order_by(Battery.battery_id)
    if limit:
        stmt = stmt.limit(limit)
    packs = list(session.execute(stmt).scalars())
    snaps = _last_snapshots(session, [p.battery_id for p in packs])
    modules: dict[str, list[Battery]] = {}
    if include_modules and packs:
        for part in chunks([p.battery_id for p in packs]):
            for m in session.execute(
                select(Battery).where(Battery.parent_battery_id.in_(part)).order_by(Battery.battery_id)
            ).scalars():
                modules.setdefault(m.parent_battery_id or "", []).append(m)
    rows: list[dict[str, Any]] = []
    for p in packs:
        dyn = json.loads(p.dynamic_json)
        accidents = dyn.get("accidents") or []
        doc = json.loads(p.document)
        base = {
            "chemistry": p.chemistry,
            "full_cycles": _value(dyn, "full_cycles") or 0.0,
            "deep_discharge_events": int(_value(dyn, "deep_discharge_events") or 0),
            "overcharge_events": int(_value(dyn, "overcharge_events") or 0),
            "time_above_max_temp_h": _value(dyn, "time_above_max_temp_h") or 0.0,
            "accident_count": len(accidents),
            "thermal_accident": any(a.get("kind") == "thermal" for a in accidents),
            "manufacturing_date": f"{p.manufacturing_date}-01",
            # IEC 63338 gate: a history beyond registration, with at least one BMS reading.
            "has_traceability": p.last_seq > 1 and p.battery_id in snaps,
            "resistance_growth_pct": _value(dyn, "internal_resistance_increase_pct"),
        }
        soh = _value(dyn, "soh_pct")
        rows.append({**base, "battery_id": p.battery_id, "level": "pack", "parent_battery_id": None,
                     "rated_capacity_ah": doc["rated_capacity_ah"], "rated_energy_kwh": p.rated_energy_kwh,
                     "nominal_voltage_v": doc["nominal_voltage_v"], "soh_pct": soh,
                     "mass_kg": p.mass_kg, "lifecycle_state": p.lifecycle_state,
                     "custodian_org_id": p.custodian_org_id})
        module_soh = snaps.get(p.battery_id, {}).get("module_soh_pct") or []
        for k, m in enumerate(modules.get(p.battery_id, [])):
            mdoc = json.loads(m.document)
            rows.append({**base, "battery_id": m.battery_id, "level": "module", "parent_battery_id": p.battery_id,
                         "rated_capacity_ah": mdoc["rated_capacity_ah"], "rated_energy_kwh": m.rated_energy_kwh,
                         "nominal_voltage_v": mdoc["nominal_voltage_v"],
                         "soh_pct": module_soh[k] if k < len(module_soh) else soh,
                         "mass_kg": m.mass_kg, "lifecycle_state": p.lifecycle_state,
                         "custodian_org_id": p.custodian_org_id})
    return pd.DataFrame(rows)
