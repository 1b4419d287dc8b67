"""Regrouping graded modules into second-life storage packs, each recorded as a new passport (Art. 77(7)).

Module nominal voltage, rated capacity and energy come from the **modules' passports** (an input
file may override them per module); a module whose voltage is known from neither is refused by
name, never replaced by a cell value. Only like modules share a series string (same chemistry,
nominal voltage and rated-capacity class: :func:`circulith.triage.regroup.like_classes`); groups
have exactly the requested number of modules in series, and every module not grouped is a leftover
with its reason. A series string is only as strong as its weakest element: the new pack's rated
capacity is the lowest rated capacity of its modules and its remaining capacity the lowest
remaining capacity. With ``record``, each group becomes a new storage pack
passport (status ``repurposed``, category ``stationary``, operated by the integrator), and each of
its modules gets its successor passport (Art. 77(7): a repurposed battery's new passport is linked
to the original's) whose parent is the new pack, so the new pack's lineage lists its modules and
each module's lineage leads back to its original. The original modules record ``repurposed``
(state ``second_life``, status ``repurposed``): they can no longer be received, graded or shredded
as if free, and a second sale is refused by the state machine. Every passport is built and
validated before anything is written: a group whose pack passport would be invalid refuses the
whole request in one line naming the group, and nothing is recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine

from circulith.auth.policy import Principal, Role
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.passport.lineage import successor_passport
from circulith.passport.model import PLAUSIBILITY, Party, Passport, validation_problems
from circulith.services.intake import require_role
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events
from circulith.store.registry import get_battery, register_passports, stored_passport
from circulith.triage.regroup import regroup
from circulith.triage.rules import load_rules

REGROUP_ROLES = frozenset({Role.OPERATOR, Role.RECYCLER, Role.DISMANTLER, Role.REUSE_INTEGRATOR})
SUCCESSOR_NAMESPACE = uuid.UUID("0b9e3c2a-6d4f-4a51-8f0e-7c1d2b3a4e59")
"""UUID namespace of regrouped packs' IDs: the same group of modules always gets the same pack ID."""
OVER_RATED = 1.0 + PLAUSIBILITY["remaining_over_rated_rel"]
"""Most a module's stated capacity may exceed its rated capacity [-] (the passport's plausibility limit)."""


class RegroupedPack(BaseModel):
    """One second-life pack: its modules in series and its figures."""

    group: str
    chemistry: str
    application: str
    battery_ids: list[str]
    modules: int
    like_class: str = Field("", description="The class of like modules the string is made of.")
    nominal_voltage_v: float
    min_capacity_ah: float
    rated_capacity_ah: float | None = Field(None, description="Lowest rated capacity of its modules [Ah].")
    capacity_spread_pct: float
    usable_energy_kwh: float
    successor_battery_id: str | None = None
    module_successor_ids: list[str] = Field(default_factory=list)


class RegroupLeftover(BaseModel):
    """A module that was not grouped, and why."""

    battery_id: str
    reason: str


class RegroupResult(BaseModel):
    """Groups, leftovers and what was recorded."""

    application: str
    units_per_group: int
    groups: list[RegroupedPack]
    leftovers: list[str]
    leftover_reasons: list[RegroupLeftover] = Field(default_factory=list,
                                                    description="Each leftover with why it was not grouped.")
    usable_energy_kwh: float
    recorded: bool
    passports_registered: int


def _module_table(engine: Engine, units: pd.DataFrame, holder: str | None) -> tuple[pd.DataFrame, dict[str, Passport]]:
    """Module figures from their passports, overridden by the input's columns where given.

    ``holder``: the organisation that must hold every module (None: the operator, any holder).
    ``units`` is indexed by position in the input: problems name the input's 1-based row.
    """
    problems: list[Problem] = []
    rows, passports = [], {}
    with transaction(engine) as session:
        for k, r in zip((int(i) + 1 for i in units.index), units.to_dict(orient="records"), strict=True):
            ident = str(r.get("battery_id") or r.get("identifier") or "")
            try:
                b = get_battery(session, ident)
            except (InvalidInput, NotFound) as exc:
                problems.append(Problem(k, "battery_id", f"not in the registry: {exc}", ident))
                continue
            p = stored_passport(b)
            if p.level == "pack":
                problems.append(Problem(k, "battery_id", "is a pack; regroup modules (grade with --from-registry "
                                        "to get the pack's modules)", b.battery_id))
                continue
            if holder is not None and b.custodian_org_id != holder:
                problems.append(Problem(k, "battery_id", f"held by '{b.custodian_org_id}', not by '{holder}': only "
                                        "its holder regroups a module (receive it first)", b.battery_id))
                continue
            passports[b.battery_id] = p
            dyn = json.loads(b.dynamic_json).get("soh_pct")
            soh = r.get("soh_pct")
            if soh is None or pd.isna(soh):
                soh = dyn.get("value") if isinstance(dyn, dict) else None
            volt = r.get("nominal_voltage_v")
            volt = p.nominal_voltage_v if volt is None or pd.isna(volt) else float(volt)
            cap = r.get("capacity_ah")
            stated = not (cap is None or pd.isna(cap))
            if not stated:
                if soh is None:
                    problems.append(Problem(k, "soh_pct", "no SOH in the input nor in the passport: grade it first",
                                            b.battery_id))
                    continue
                cap = p.rated_capacity_ah * float(soh) / 100.0
            if float(cap) > OVER_RATED * p.rated_capacity_ah:
                problems.append(Problem(k, "capacity_ah" if stated else "soh_pct",
                                        f"{float(cap):g} Ah exceeds the module's rated {p.rated_capacity_ah:g} Ah "
                                        f"by more than {PLAUSIBILITY['remaining_over_rated_rel']:.0%}", b.battery_id))
                continue
            rows.append({"battery_id": b.battery_id, "chemistry": p.chemistry, "level": p.level,
                         "capacity_ah": float(cap), "nominal_voltage_v": float(volt),
                         "rated_capacity_ah": float(p.rated_capacity_ah), "grade": r.get("grade") or "repurpose",
                         "resistance_ohm": r.get("resistance_ohm"), "state": b.lifecycle_state})
    if problems:
        raise InvalidInput(problems, source="regroup input")
    return pd.DataFrame(rows), passports


def regroup_table(units: pd.DataFrame, *, application: str, units_per_group: int) -> RegroupResult:
    """Regroup a table that carries its own module figures (no registry): ``nominal_voltage_v`` required."""
    need = [c for c in ("battery_id", "nominal_voltage_v") if c not in units]
    if need:
        raise InvalidInput([Problem(None, c, "required without a registry (module voltage is never taken from "
                                    "cell values)") for c in need], source="regroup input")
    missing = units[units["nominal_voltage_v"].isna()]
    if not missing.empty:
        raise InvalidInput([Problem(int(i) + 1, "nominal_voltage_v", "module voltage unknown", str(b))
                            for i, b in missing["battery_id"].items()][:20], source="regroup input")
    return _group(units, application=application, units_per_group=units_per_group)


def _group(table: pd.DataFrame, *, application: str, units_per_group: int) -> RegroupResult:
    rules = load_rules()
    groups: list[RegroupedPack] = []
    leftovers: list[RegroupLeftover] = []
    chems = table["chemistry"] if "chemistry" in table else pd.Series("?", index=table.index)
    for chem, grp in table.groupby(chems):
        res = regroup(grp, application=application, units_per_group=units_per_group, rules=rules)
        for g in res.groups:
            rated = g["rated_capacity_ah"]
            groups.append(RegroupedPack(
                group=f"{chem}/{application}/{len(groups) + 1}", chemistry=str(chem), application=application,
                battery_ids=g["battery_ids"], modules=len(g["battery_ids"]), like_class=g["like_class"],
                nominal_voltage_v=round(g["nominal_voltage_v"], 3), min_capacity_ah=round(g["min_capacity_ah"], 3),
                rated_capacity_ah=None if rated is None else round(rated, 3),
                capacity_spread_pct=round(g["capacity_spread_pct"], 2),
                usable_energy_kwh=round(g["usable_energy_kwh"], 3)))
        leftovers += [RegroupLeftover(battery_id=b, reason=res.reasons.get(b, "")) for b in res.leftovers]
    return RegroupResult(application=application, units_per_group=units_per_group, groups=groups,
                         leftovers=[x.battery_id for x in leftovers], leftover_reasons=leftovers,
                         usable_energy_kwh=round(sum(g.usable_energy_kwh for g in groups), 3), recorded=False,
                         passports_registered=0)


def _pack_dynamic(group: RegroupedPack, mods: list[Passport], at: dt.datetime) -> dict[str, Any]:
    """The new pack's state: its weakest module's remaining capacity, and every module's accidents."""
    cap = group.min_capacity_ah
    rated = min(m.rated_capacity_ah for m in mods)
    volt = sum(m.nominal_voltage_v for m in mods)
    stamp = at.isoformat()
    accidents = [a.model_dump(mode="json") for m in mods for a in m.dynamic.accidents]
    return {"soh_pct": {"value": round(100.0 * cap / rated, 2), "updated_at": stamp},
            "remaining_capacity_ah": {"value": round(cap, 3), "updated_at": stamp},
            "remaining_energy_kwh": {"value": round(cap * volt / 1000.0, 3), "updated_at": stamp},
            "accidents": accidents}


def _pack_passport(group: RegroupedPack, mods: list[Passport], operator: Party, pack_id: str,
                   at: dt.datetime) -> Passport:
    """The second-life pack's passport; one line naming the group if it would be invalid.

    Rated capacity: the lowest of its modules' (a series string is limited by its weakest element);
    remaining capacity: the group's lowest module capacity; voltages and masses add up.
    """
    first = mods[0]
    data = first.model_dump()
    mass = sum(m.mass_kg for m in mods)
    materials = data["materials"]
    for key, value in list(materials.items()):
        if key.endswith("_kg") and isinstance(value, int | float):
            materials[key] = round(sum(float(getattr(m.materials, key) or 0.0) for m in mods), 4)
    rated_ah = min(m.rated_capacity_ah for m in mods)
    volt = sum(m.nominal_voltage_v for m in mods)
    data.update(passport_id=f"urn:uuid:{uuid.uuid5(SUCCESSOR_NAMESPACE, pack_id + '/passport')}", battery_id=pack_id,
                identifiers=[], level="pack", parent_battery_id=None, predecessor_passport_id=None,
                status="repurposed", category="stationary", operator=operator.model_dump(),
                model=f"second-life {group.chemistry} storage pack ({group.modules} x {first.model})",
                mass_kg=round(mass, 3), rated_capacity_ah=rated_ah, nominal_voltage_v=volt,
                rated_energy_kwh=round(rated_ah * volt / 1000.0, 3),
                min_voltage_v=sum(m.min_voltage_v for m in mods), max_voltage_v=sum(m.max_voltage_v for m in mods),
                materials=materials, original_power_w=None, max_permitted_power_w=None, internal_resistance_ohm=None,
                dynamic=_pack_dynamic(group, mods, at))
    try:
        return Passport.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, record_id=group.group)
        raise InvalidInput([Problem(None, p.field, f"second-life pack of {', '.join(group.battery_ids)} would be "
                                    f"invalid: {p.reason}", group.group) for p in problems],
                           source="regroup record") from None


def regroup_modules(
    engine: Engine,
    principal: Principal,
    units: pd.DataFrame,
    *,
    application: str = "stationary_storage",
    units_per_group: int = 4,
    record: bool = False,
    operator_name: str | None = None,
    now: dt.datetime | None = None,
) -> RegroupResult:
    """Regroup modules named in ``units`` (grade output or any table with ``battery_id``) from their passports.

    Parameters
    ----------
    units : pandas.DataFrame
        ``battery_id`` (any identifier scheme); optional ``grade`` (only reuse/repurpose are
        grouped), ``soh_pct`` [%], ``capacity_ah`` [Ah] and ``nominal_voltage_v`` [V] overrides,
        ``resistance_ohm`` [ohm]. Rows of other levels (packs, a grade output's pack rows) are
        ignored when a ``level`` column says so.
    record : bool
        Register each group as a new storage pack with successor passports of its modules, and
        record ``repurposed`` on the original modules (all in one transaction).

    Everyone but the operator regroups only the modules in its custody (as in grading).
    """
    require_role(principal, REGROUP_ROLES, "regrouping", write=record)
    units = units.reset_index(drop=True)  # row k of the input is index k - 1
    if "level" in units:
        units = units[units["level"].astype(str) != "pack"]
    if units.empty:
        raise InvalidInput(Problem(None, "battery_id", "no module to regroup"), source="regroup input")
    table, passports = _module_table(engine, units,
                                     None if principal.is_operator else principal.org_id)
    taken = table[table["state"] == "second_life"]
    if not taken.empty:
        raise InvalidInput([Problem(None, "battery_id", "already repurposed into a second-life pack", str(b))
                            for b in taken["battery_id"]][:20], source="regroup input")
    result = _group(table, application=application, units_per_group=units_per_group)
    if not record or not result.groups:
        return result
    at = now or dt.datetime.now(dt.UTC)
    operator = Party(id=str(principal.org_id), name=operator_name or str(principal.org_id))
    new: list[Passport] = []
    events: list[LedgerEvent] = []
    for g in result.groups:
        pack_id = f"urn:uuid:{uuid.uuid5(SUCCESSOR_NAMESPACE, '|'.join(sorted(g.battery_ids)))}"
        mods = [passports[b] for b in g.battery_ids]
        new.append(_pack_passport(g, mods, operator, pack_id, at))
        g.successor_battery_id = pack_id
        for m in mods:
            mid = f"urn:uuid:{uuid.uuid5(SUCCESSOR_NAMESPACE, m.battery_id + '>' + pack_id)}"
            succ = successor_passport(m, "repurposed", new_battery_id=mid, operator=operator,
                                      new_passport_id=f"urn:uuid:{uuid.uuid5(SUCCESSOR_NAMESPACE, mid + '/passport')}",
                                      parent_battery_id=pack_id, category="stationary")
            new.append(succ)
            g.module_successor_ids.append(mid)
            events.append(LedgerEvent(battery_id=m.battery_id, kind=EventKind.REPURPOSED, occurred_at=at,
                                      actor_org_id=operator.id,
                                      payload={"successor_battery_id": mid, "successor_passport_id": succ.passport_id,
                                               "second_life_pack_id": pack_id, "application": application}))
    with transaction(engine) as session:
        append_events(session, events)
        res = register_passports(session, new, actor_org_id=operator.id, now=at)
    result.recorded = True
    result.passports_registered = res.created
    return result
