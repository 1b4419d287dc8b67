"""Registry reads for intake and grading: consignments, the units a caller holds, their BMS summaries.

Grading works on whatever the user holds, chosen by consignment, by identifiers or by filter, in
any state from which grading makes sense. Each pack comes with its modules and cells (children and
grandchildren by ``parent_battery_id``), in the BMS-summary schema of
:data:`circulith.triage.grading.BMS_SUMMARY_COLUMNS`, plus the passport figures later steps need
(``mass_kg``, ``rated_energy_kwh``, ``nominal_voltage_v``, ``lifecycle_state``).
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

GRADABLE_STATES = ("removed", "collected", "evaluated", "quarantined", "dismantled")
"""States from which a unit may be graded: out of service, already evaluated, held in quarantine."""


def _value(dynamic: dict[str, Any], key: str) -> float | None:
    v = dynamic.get(key)
    return None if not isinstance(v, dict) else v.get("value")


def consignment_battery_ids(session: Session, consignment_id: str) -> list[str]:
    """Batteries whose ``received`` event names the consignment (in the order received)."""
    needle = f'%"consignment_id":{json.dumps(consignment_id)}%'
    rows = session.execute(
        select(Event.battery_id).where(Event.kind == "received", Event.payload_json.like(needle))
        .order_by(Event.global_seq)
    ).scalars()
    return list(dict.fromkeys(rows))


def select_pack_ids(
    session: Session,
    *,
    states: Sequence[str] = GRADABLE_STATES,
    custodian_org_id: str | None = None,
    chemistry: str | None = None,
    battery_ids: Sequence[str] | None = None,
    limit: int | None = None,
    awaiting_only: bool = False,
) -> list[str]:
    """Packs in ``states`` (optionally: held by a custodian, of a chemistry, among given IDs).

    ``awaiting_only`` leaves out quarantined packs already graded in quarantine (their latest event
    is ``graded``), so that grading "what awaits evaluation" twice records nothing new.
    """
    stmt = select(Battery.battery_id).where(Battery.level == "pack", Battery.lifecycle_state.in_(list(states)))
    if awaiting_only:
        last = select(Event.kind).where(Event.battery_id == Battery.battery_id,
                                        Event.battery_seq == Battery.last_seq).scalar_subquery()
        stmt = stmt.where((Battery.lifecycle_state != "quarantined") | (last != "graded"))
    if custodian_org_id:
        stmt = stmt.where(Battery.custodian_org_id == custodian_org_id)
    if chemistry:
        stmt = stmt.where(Battery.chemistry == chemistry)
    if battery_ids is not None:
        out: list[str] = []
        for part in chunks(list(battery_ids)):
            out += list(session.execute(stmt.where(Battery.battery_id.in_(part))).scalars())
        order = {b: k for k, b in enumerate(battery_ids)}
        return sorted(out, key=lambda b: order[b])[:limit] if limit else sorted(out, key=lambda b: order[b])
    stmt = stmt.order_by(Battery.battery_id)
    if limit:
        stmt = stmt.limit(limit)
    return list(session.execute(stmt).scalars())


def batteries(session: Session, battery_ids: Sequence[str]) -> dict[str, Battery]:
    """The registry rows of the given canonical IDs."""
    out: dict[str, Battery] = {}
    for part in chunks(list(battery_ids)):
        for b in session.execute(select(Battery).where(Battery.battery_id.in_(part))).scalars():
            out[b.battery_id] = b
    return out


def descendants(session: Session, parent_ids: Sequence[str]) -> dict[str, list[Battery]]:
    """Children of each parent, and their children (modules and cells), ordered by ID."""
    out: dict[str, list[Battery]] = {}
    frontier = list(parent_ids)
    while frontier:
        found: list[str] = []
        for part in chunks(frontier):
            for b in session.execute(
                select(Battery).where(Battery.parent_battery_id.in_(part)).order_by(Battery.battery_id)
            ).scalars():
                out.setdefault(b.parent_battery_id or "", []).append(b)
                found.append(b.battery_id)
        frontier = found
    return out


def _last_snapshots(session: Session, battery_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for part in chunks(list(battery_ids)):
        last = (
            select(Event.battery_id, func.max(Event.battery_seq).label("seq"))
            .where(Event.battery_id.in_(part), Event.kind == "bms_snapshot")
            .group_by(Event.battery_id).subquery()
        )
        rows = session.execute(select(Event.battery_id, Event.payload_json).join(
            last, (Event.battery_id == last.c.battery_id) & (Event.battery_seq == last.c.seq)))
        for bid, payload in rows:
            out[bid] = json.loads(payload)
    return out


def grading_frame(session: Session, pack_ids: Sequence[str]) -> pd.DataFrame:
    """BMS summaries of the packs and of every module and cell inside them, from the registry.

    Pack rows come from the passport's dynamic values and the last BMS snapshot; modules inherit
    the pack's use history (same vehicle, same events) and take their own SOH from the pack's
    last snapshot (``module_soh_pct``, in module order) when it has one, else the pack's; cells
    inherit their module's. Every row carries its own passport's rated capacity, energy, nominal
    voltage, mass and lifecycle state.
    """
    packs = batteries(session, pack_ids)
    snaps = _last_snapshots(session, list(packs))
    kids = descendants(session, list(packs))
    rows: list[dict[str, Any]] = []

    def row(b: Battery, base: dict[str, Any], soh: float | None, parent: str | None) -> dict[str, Any]:
        doc = json.loads(b.document)
        return {**base, "battery_id": b.battery_id, "level": b.level, "parent_battery_id": parent,
                "chemistry": b.chemistry, "rated_capacity_ah": doc["rated_capacity_ah"],
                "rated_energy_kwh": b.rated_energy_kwh, "nominal_voltage_v": doc["nominal_voltage_v"],
                "soh_pct": soh, "mass_kg": b.mass_kg, "lifecycle_state": b.lifecycle_state,
                "custodian_org_id": b.custodian_org_id, "pack_battery_id": base["pack_battery_id"]}

    for pid in pack_ids:
        p = packs.get(pid)
        if p is None:
            continue
        dyn = json.loads(p.dynamic_json)
        accidents = dyn.get("accidents") or []
        base = {
            "pack_battery_id": p.battery_id,
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
        rows.append(row(p, base, soh, None))
        module_soh = snaps.get(p.battery_id, {}).get("module_soh_pct") or []
        for k, m in enumerate(kids.get(p.battery_id, [])):
            m_soh = module_soh[k] if k < len(module_soh) else soh
            rows.append(row(m, base, m_soh, p.battery_id))
            for c in kids.get(m.battery_id, []):
                rows.append(row(c, base, m_soh, m.battery_id))
    return pd.DataFrame(rows)


def ever_placed_on_market(session: Session, battery_ids: Sequence[str]) -> set[str]:
    """Batteries whose history has a ``placed_on_market`` or ``installed`` event."""
    out: set[str] = set()
    for part in chunks(list(battery_ids)):
        out |= set(session.execute(select(Event.battery_id).where(
            Event.battery_id.in_(part), Event.kind.in_(["placed_on_market", "installed"]))).scalars())
    return out


def declared_figures(session: Session, battery_ids: Sequence[str]) -> pd.DataFrame:
    """Passport declarations and damage state of batteries: ``battery_id, chemistry, mass_kg,
    rated_energy_kwh, lifecycle_state, damage_state`` (``damage_state`` from the latest
    ``quarantined`` event of a quarantined battery, else ``intact``)."""
    found = batteries(session, battery_ids)
    damage: dict[str, str] = {}
    held = [b for b, x in found.items() if x.lifecycle_state == "quarantined"]
    for part in chunks(held):
        last = (select(Event.battery_id, func.max(Event.battery_seq).label("seq"))
                .where(Event.battery_id.in_(part), Event.kind == "quarantined").group_by(Event.battery_id).subquery())
        for bid, payload in session.execute(select(Event.battery_id, Event.payload_json).join(
                last, (Event.battery_id == last.c.battery_id) & (Event.battery_seq == last.c.seq))):
            damage[bid] = str(json.loads(payload).get("damage_state") or "damaged")
    return pd.DataFrame([{"battery_id": b.battery_id, "chemistry": b.chemistry, "mass_kg": b.mass_kg,
                          "rated_energy_kwh": b.rated_energy_kwh, "lifecycle_state": b.lifecycle_state,
                          "damage_state": damage.get(b.battery_id, "damaged" if b.lifecycle_state == "quarantined"
                                                     else "intact")} for b in found.values()],
                        columns=["battery_id", "chemistry", "mass_kg", "rated_energy_kwh", "lifecycle_state",
                                 "damage_state"])


def latest_payload(session: Session, battery_id: str, kind: str) -> dict[str, Any] | None:
    """Payload of the battery's latest event of ``kind`` (None when it has none)."""
    text = session.execute(select(Event.payload_json).where(Event.battery_id == battery_id, Event.kind == kind)
                           .order_by(Event.battery_seq.desc()).limit(1)).scalar_one_or_none()
    return None if text is None else json.loads(text)
