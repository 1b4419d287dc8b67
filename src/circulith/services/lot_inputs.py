"""Input lots built from what the registry already holds: a consignment, a grade file, or battery identifiers.

Each battery's chemistry, form (its passport level) and mass come from its registered passport, so a plant
controller types nothing twice between receiving a truck (``intake receive``), grading it (``triage grade``)
and recording the lot (``recovery lot record``). The draft is checked as recording will check it: every
battery must be registered, held by the caller's organisation and in a state that may be shredded; a
problem names the row (the position in the list) and the battery. With ``with_plan`` the black-mass and
product lots the recovery engine expects are added (:func:`circulith.recovery.plan.plan_lots`), so the plant
compares its recorded lots with the plan. Nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from circulith.auth.policy import Principal, Scope
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.io.records import iter_records
from circulith.recovery.lots import InputLot, IntermediateLot, LotItem, ProductLot
from circulith.recovery.plan import plan_lots
from circulith.services.access_rules import require_scope
from circulith.services.recovery import SHREDDABLE_STATES
from circulith.store.lot_repo import get_battery, organisation_role
from circulith.store.registry import resolve
from circulith.store.triage_queries import consignment_battery_ids, descendants

#: Grades whose units go to recycling (the others go to second life): taken from a grade file by default.
RECYCLING_GRADES = ("recycle", "quarantine")
_FORMS = {"pack": "pack", "module": "module", "cell": "cell"}
#: States of a unit that is not free to shred: it went to second life or was already shredded or recycled.
LEFT_STATES = ("second_life", "shredded", "recycled")


class LeftOut(BaseModel):
    """A unit left out of the lot, with the reason (the same for every unit of a group)."""

    battery_id: str
    reason: str


class InputLotDraft(BaseModel):
    """An input lot drafted from the registry, with the plan's lots when asked for."""

    input_lot: InputLot
    planned: list[IntermediateLot | ProductLot] = Field(
        default_factory=list, description="The black-mass and product lots the engine expects (with_plan).")
    source: str = Field(description="Where the batteries came from (consignment, grade file, identifiers).")
    skipped: list[str] = Field(default_factory=list, description="Units of a grade file left out, with why.")
    at_refiner: list[ProductLot] = Field(default_factory=list, description="With a refiner: the refining "
                                         "step's lots the plan expects there (the refiner records them).")
    left_out: list[LeftOut] = Field(default_factory=list, description="Every unit left out, with its reason.")
    notes: list[str] = Field(default_factory=list, description="Packs planned with less than their passport's "
                             "mass (modules that left them), one line each.")

    def record_payloads(self) -> list[dict[str, Any]]:
        """The lots as ``circulith recovery lot record`` reads them (sources before the lots made from them)."""
        return [self.input_lot.to_payload(), *(lot.to_payload() for lot in self.planned)]


def grade_file_battery_ids(path: Path, *, grades: Sequence[str] | None = RECYCLING_GRADES
                           ) -> tuple[list[str], list[str]]:
    """Battery identifiers of a ``triage grade`` output (JSON ``{"units": [...]}`` or its CSV) to put in a lot.

    Units whose ``grade`` is in ``grades`` (None: any grade) are taken; a module is left out when its pack is
    taken whole.

    Returns
    -------
    tuple of (list of str, list of str)
        The identifiers, and a line per unit left out.
    """
    rows = list(iter_records(path))
    problems = [Problem(n, f, "missing (not a triage grade output?)") for n, r in rows for f in ("battery_id", "grade")
                if not r.get(f)]
    if problems:
        raise InvalidInput(problems[:20], source=str(path))
    wanted = set(grades) if grades is not None else {str(r["grade"]) for _, r in rows}
    taken_packs = {str(r["battery_id"]) for _, r in rows if r.get("grade") in wanted and r.get("level", "pack") == "pack"}
    ids: list[str] = []
    skipped: list[str] = []
    for n, r in rows:
        bid, grade = str(r["battery_id"]), str(r["grade"])
        pack = r.get("pack_battery_id")
        if grade not in wanted:
            skipped.append(f"row {n}: {bid} graded {grade} (not {' or '.join(sorted(wanted))})")
        elif r.get("level", "pack") != "pack" and pack in taken_packs:
            skipped.append(f"row {n}: {bid} is a module of {pack}, taken whole")
        else:
            ids.append(bid)
    return list(dict.fromkeys(ids)), skipped


def _departed(session: Session, org_id: str | None, pack_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Pack ID → its modules that left it (second life, shredded, recycled, repurposed or held elsewhere)."""
    kids = descendants(session, pack_ids)
    return {p: [m for m in kids.get(p, []) if m.lifecycle_state in LEFT_STATES or m.status == "repurposed"
                or m.custodian_org_id != org_id] for p in pack_ids}


def _items(session: Session, org_id: str | None, identifiers: Iterable[str], source: str, *, lenient: bool
           ) -> tuple[list[LotItem], list[LeftOut], list[str]]:
    """The lot's items, the units left out (``lenient``: a consignment or grade file) and mass notes.

    A pack is planned with its passport mass less the passport masses of its modules that left it, so every
    kilogram is claimed once; a pack all of whose modules left it holds no cells and is refused (left out).
    A module of a pack taken whole is left out.
    """
    problems: list[Problem] = []
    left: list[LeftOut] = []
    found: list[tuple[int, str, Any]] = []
    seen: set[str] = set()
    for n, ident in enumerate(identifiers, start=1):
        try:
            b = get_battery(session, resolve(session, ident))
        except (InvalidInput, NotFound) as e:
            problems.append(Problem(n, "battery_id", str(e), ident))
            continue
        if b.battery_id not in seen:
            seen.add(b.battery_id)
            found.append((n, ident, b))
    ok: list[tuple[int, str, Any]] = []
    for n, ident, b in found:
        gone = b.lifecycle_state in LEFT_STATES or b.status == "repurposed"
        if b.custodian_org_id != org_id:
            problems.append(Problem(n, "battery_id", f"battery {b.battery_id} is held by '{b.custodian_org_id}', not "
                                    f"by '{org_id}' (record its receipt first)", ident))
        elif gone and lenient:
            left.append(LeftOut(battery_id=b.battery_id, reason=f"{b.lifecycle_state} ({b.status}), not free to "
                                "shred"))
        elif b.lifecycle_state not in SHREDDABLE_STATES:
            problems.append(Problem(n, "battery_id", f"battery {b.battery_id} is '{b.lifecycle_state}': only "
                                    f"{', '.join(SHREDDABLE_STATES)} batteries may be shredded", ident))
        elif not b.mass_kg or b.level not in _FORMS:
            problems.append(Problem(n, "battery_id", f"battery {b.battery_id}'s passport declares no mass or is a "
                                    f"{b.level}", ident))
        else:
            ok.append((n, ident, b))
    departed = _departed(session, org_id, [b.battery_id for _, _, b in ok if b.level == "pack"])
    kids = descendants(session, list(departed))
    taken = {b.battery_id for _, _, b in ok if b.level == "pack" and (not kids.get(b.battery_id)
                                                                      or len(departed[b.battery_id]) < len(kids[b.battery_id]))}
    items: list[LotItem] = []
    notes: list[str] = []
    for n, ident, b in ok:
        mass_kg = float(b.mass_kg)
        if b.parent_battery_id in taken:
            left.append(LeftOut(battery_id=b.battery_id, reason="module of a pack taken whole"))
            continue
        gone = departed.get(b.battery_id, [])
        if gone and b.battery_id not in taken:
            msg = (f"battery {b.battery_id}: all its {len(gone)} modules left it ("
                   f"{', '.join(sorted({m.lifecycle_state for m in gone}))}): no cells remain to shred")
            if lenient:
                left.append(LeftOut(battery_id=b.battery_id, reason="pack whose modules all left it"))
            else:
                problems.append(Problem(n, "battery_id", msg, ident))
            continue
        if gone:
            out_kg = sum(float(m.mass_kg) for m in gone)
            mass_kg -= out_kg
            notes.append(f"{b.battery_id}: {b.mass_kg:.1f} kg less {len(gone)} modules that left it "
                         f"({out_kg:.1f} kg) = {mass_kg:.1f} kg")
        items.append(LotItem(battery_id=b.battery_id, chemistry=b.chemistry, form=_FORMS[b.level], mass_kg=mass_kg))
    if problems:
        raise InvalidInput(problems, source=source)
    if not items:
        raise InvalidInput(Problem(None, "battery_id", "no batteries to put in the lot"), source=source)
    return items, left, notes


def draft_input_lot(session: Session, principal: Principal, *, lot_id: str, plant_id: str, received_on: dt.date,
                    battery_ids: Sequence[str] = (), consignment_id: str | None = None,
                    grade_file: Path | None = None, all_grades: bool = False, with_plan: bool = False,
                    route: str = "hydro", refiner: str | None = None) -> InputLotDraft:
    """Draft an input lot of the caller's batteries from a consignment, a grade file or identifiers.

    Parameters
    ----------
    session : Session
        An open session on the registry.
    principal : Principal
        The plant's organisation (write scope: the draft is what it will record).
    lot_id, plant_id : str
        The new lot's ID and plant (``ORG`` or ``ORG:site``).
    received_on : date
        The lot's date.
    battery_ids : sequence of str
        Any battery identifiers (GS1, IEC 61406, GB/T 34014, URN).
    consignment_id : str, optional
        Every battery received with this consignment (``intake receive --consignment``).
    grade_file : Path, optional
        A ``triage grade`` output: its units graded for recycling or quarantine (``all_grades``: every unit).
    with_plan : bool
        Add the black-mass and product lots the engine expects on ``route``.
    route : str
        Recovery route of the plan (``hydro``, ``pyro``, ``direct``).
    refiner : str, optional
        The organisation that refines the black mass: the refining step's lots go to ``at_refiner`` (sited
        there) instead of the plant's lots, so the black-mass lot is left unmade-from and can be shipped.

    Raises
    ------
    InvalidInput
        No source or several, an unknown consignment, a battery not held by the caller or not shreddable.
    """
    require_scope(principal, Scope.WRITE)
    given = [s for s in (bool(battery_ids), consignment_id is not None, grade_file is not None) if s]
    if len(given) != 1:
        raise InvalidInput(Problem(None, "source", "give exactly one of: battery identifiers, a consignment, a "
                                   "grade file"))
    skipped: list[str] = []
    if consignment_id is not None:
        ids = consignment_battery_ids(session, consignment_id)
        source = f"consignment {consignment_id}"
        if not ids:
            raise InvalidInput(Problem(None, "consignment", f"no battery was received with consignment "
                                       f"'{consignment_id}'"), source=source)
    elif grade_file is not None:
        ids, skipped = grade_file_battery_ids(grade_file, grades=None if all_grades else RECYCLING_GRADES)
        source = f"grade file {grade_file}"
    else:
        ids, source = list(battery_ids), "battery identifiers"
    items, left, notes = _items(session, principal.org_id, ids, source, lenient=not battery_ids)
    try:
        lot = InputLot(lot_id=lot_id, plant_id=plant_id, received_on=received_on, items=items)
    except ValueError as e:
        raise InvalidInput(Problem(None, "lot", str(e).splitlines()[0]), source=source) from None
    planned = list(plan_lots(lot, route=route)) if with_plan else []
    at_refiner: list[ProductLot] = []
    if refiner is not None:
        if organisation_role(session, refiner) is None or refiner == principal.org_id:
            raise InvalidInput(Problem(None, "refiner", f"'{refiner}' is not another registered organisation"),
                               source=source)
        bm_id = f"{lot_id}-BM"
        at_refiner = [p.model_copy(update={"plant_id": refiner}) for p in planned
                      if isinstance(p, ProductLot) and bm_id in p.source_lot_ids]
        planned = [p for p in planned if bm_id not in p.source_lot_ids]
    left = [LeftOut(battery_id=line.split(": ", 1)[1].split(" ", 1)[0], reason=line.split(" ", 3)[3])
            for line in skipped] + left
    return InputLotDraft(input_lot=lot, planned=planned, source=source, skipped=skipped, left_out=left, notes=notes,
                         at_refiner=at_refiner)
