"""Recycled content (Regulation (EU) 2023/1542, Art. 8) from product lots, by mass balance.

Two use cases: :func:`recycled_content_for` computes shares for new batteries from a period's supply (a
calculation, nothing reserved); :func:`allocate_to_target` records which kilograms of which lot go
to which passport or batch, reserved once, and :func:`recycled_content_of` gives a passport's shares from
those records (post- and pre-consumer apart).

Who states what. The recycled content in a passport is the manufacturer's declaration (Art. 8(1): the
technical documentation of the share of cobalt, lead, lithium and nickel recovered from waste, per battery
model, year and plant; Annex XIII point 1: public passport information), fixed in the registered document
(it changes only through the manufacturer). An allocation is recorded by the holder of the product lot (a
recycler or refiner) and is the evidence for that declaration, under the mass-balance chain of custody.
Both are shown side by side, under the passport's field names (``lithium_post_consumer_fraction``...),
wherever one is shown: :func:`passport_recycled_content` feeds the passport view and
:func:`recycled_content_of`, so the two always agree.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from circulith.auth.policy import Principal, Scope
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.ledger.events import format_timestamp
from circulith.recovery.compliance import Check, recycled_content_checks
from circulith.recovery.lots import NewBattery, ProductLot, RecycledContentShare, allocate_recycled_content
from circulith.services.access_rules import require_scope
from circulith.services.lot_custody import custody_state
from circulith.services.recycled_content_view import (
    CUSTODY_MODEL,
    AllocationLine,
    PassportRecycledContent,
    allocation_line,
    allocation_shares,
    passport_view,
)
from circulith.store.allocation_repo import StoredAllocation, allocated_kg, allocations, insert_allocations
from circulith.store.lot_repo import get_battery, get_lots, transfers_of
from circulith.store.registry import resolve, stored_passport


class RecycledContentResult(BaseModel):
    """Recycled-content shares of new batteries, with the supply they were computed from [kg]."""

    method: str
    product_lots: list[str]
    recycled_kg: dict[str, float]
    primary_kg: dict[str, float]
    shares: list[RecycledContentShare]
    note: str
    checks: list[Check]


def recycled_content_for(session: Session, principal: Principal, product_lot_ids: Sequence[str],
                         battery_ids: Sequence[str] = (), *, new_batteries: Sequence[NewBattery] = (),
                         primary_kg: Mapping[str, float] | None = None,
                         year: int | None = None) -> RecycledContentResult:
    """Recycled-content shares for new batteries, by mass balance from a plant's product lots.

    Recycled Co, Li and Ni are the battery-origin element masses of the product lots (those that count as
    recycling); ``primary_kg`` is the primary (mined) supply of each in the same period. New batteries are
    registry batteries (their passports' ``cobalt_kg``, ``lithium_kg``, ``nickel_kg``) or
    :class:`NewBattery` records for batteries not yet registered.

    A calculation: nothing is reserved; :func:`allocate_to_target` records the kilograms.
    """
    require_scope(principal, Scope.READ)
    problems: list[Problem] = []
    recycled = {"Co": 0.0, "Li": 0.0, "Ni": 0.0}
    bats: list[NewBattery] = list(new_batteries)
    lots = get_lots(session, product_lot_ids)
    for lid in product_lot_ids:
        s = lots.get(lid)
        if s is None:
            problems.append(Problem(None, "lots", f"no lot '{lid}' is recorded", lid))
        elif not isinstance(s.lot, ProductLot):
            problems.append(Problem(None, "lots", f"lot '{lid}' is a {s.lot.lot_type} lot, not a product lot", lid))
        elif s.lot.counts_as_recycling:
            for el, kg in s.lot.element_kg().items():
                if el in recycled:
                    recycled[el] += kg
    for ident in battery_ids:
        try:
            b = get_battery(session, resolve(session, ident))
        except (InvalidInput, NotFound) as e:
            problems.append(Problem(None, "batteries", str(e), ident))
            continue
        m = stored_passport(b).materials
        if m.cobalt_kg is None and m.lithium_kg is None and m.nickel_kg is None:
            problems.append(Problem(None, "batteries", "the passport declares no cobalt, lithium or nickel mass",
                                    b.battery_id))
            continue
        bats.append(NewBattery(battery_id=b.battery_id, co_kg=m.cobalt_kg or 0.0, li_kg=m.lithium_kg or 0.0,
                               ni_kg=m.nickel_kg or 0.0))
    if not bats and not problems:
        problems.append(Problem(None, "batteries", "no new batteries given"))
    if problems:
        raise InvalidInput(problems, source="recycled-content allocation")
    primary = {el: float((primary_kg or {}).get(el, 0.0)) for el in ("Co", "Li", "Ni")}
    shares = allocate_recycled_content(recycled, primary, bats)
    return RecycledContentResult(
        method="mass balance: each element's recycled share is recycled / (recycled + primary) of the supply in "
               "the period, applied to every new battery alike",
        product_lots=list(product_lot_ids), recycled_kg=recycled, primary_kg=primary, shares=shares,
        note="A calculation: nothing is reserved. Record the kilograms per passport or batch with 'circulith "
             "compliance allocate' (POST /api/v1/recycled-content/allocations): reserved once, and the passport's "
             "shares then come from those records (recycled-content-of).",
        checks=recycled_content_checks(shares, year) if year is not None else [])


# ---------------------------------------------------------------- allocation as a recorded fact

#: Art. 8 elements and the passport field that declares each battery's content of it.
ART8_FIELDS = {"Co": "cobalt_kg", "Li": "lithium_kg", "Ni": "nickel_kg", "Pb": "lead_kg"}


class AllocationIn(BaseModel):
    """Recycled kilograms of one product lot allocated to one battery passport or batch."""

    model_config = ConfigDict(extra="forbid")

    product_lot_id: str = Field(min_length=1, max_length=200)
    target_kind: Literal["passport", "batch"]
    target_id: str = Field(min_length=1, max_length=300, description="Battery identifier, or a batch ID.")
    element_kg: dict[Literal["Co", "Li", "Ni", "Pb"], float] = Field(min_length=1)
    target_element_kg: dict[Literal["Co", "Li", "Ni", "Pb"], float] = Field(
        default_factory=dict, description="A batch's total content of each element [kg] (passports: declared).")


class AllocationOut(BaseModel):
    """What an allocation reserved, and what is left of the lot."""

    lines: list[AllocationLine]
    remaining_kg: dict[str, float]


class TargetRecycledContent(BaseModel):
    """A passport's or batch's recycled-content shares from the recorded allocations (Art. 8)."""

    target_id: str
    target_kind: str | None
    custody_model: str
    element_kg: dict[str, float] = Field(description="The target's content of each element [kg].")
    post_consumer_kg: dict[str, float]
    pre_consumer_kg: dict[str, float]
    post_consumer_share: dict[str, float]
    pre_consumer_share: dict[str, float]
    allocations: list[AllocationLine]
    passport: PassportRecycledContent | None = Field(
        None, description="For a passport: its declared fractions beside the allocated ones (as the passport "
                          "view shows them).")


def _target(session: Session, body: AllocationIn) -> tuple[str, dict[str, float]]:
    """The target's registry ID (passports) or batch ID, and its content of each element [kg]."""
    if body.target_kind == "batch":
        missing = [el for el in body.element_kg if body.target_element_kg.get(el, 0.0) <= 0]
        if missing:
            raise InvalidInput(Problem(None, "target_element_kg", f"give the batch's total {', '.join(missing)} [kg]"))
        return body.target_id, {k: float(v) for k, v in body.target_element_kg.items()}
    b = get_battery(session, resolve(session, body.target_id))
    m = stored_passport(b).materials
    return b.battery_id, {el: float(getattr(m, f) or 0.0) for el, f in ART8_FIELDS.items()}


def allocate_to_target(session: Session, principal: Principal, body: AllocationIn, *,
                       now: dt.datetime | None = None) -> AllocationOut:
    """Reserve recycled kilograms of a product lot for a passport or batch (mass balance), once.

    The caller must hold the lot (:mod:`circulith.services.lot_custody`); the lot must count as recycling;
    no element may be allocated beyond the lot's battery-origin content less what is already allocated,
    nor beyond the target's own content of it. Origin: lots traced to waste batteries are post-consumer.
    """
    require_scope(principal, Scope.WRITE)
    now = now or dt.datetime.now(dt.UTC)
    stored = get_lots(session, [body.product_lot_id]).get(body.product_lot_id)
    if stored is None:
        raise NotFound(f"no lot '{body.product_lot_id}' is recorded")
    lot = stored.lot
    if not isinstance(lot, ProductLot) or not lot.counts_as_recycling:
        raise InvalidInput(Problem(None, "product_lot_id", f"lot {lot.lot_id} is not a product lot counted as "
                                   "recycling", lot.lot_id))
    holder, _ = custody_state(stored.actor_org_id, transfers_of(session, [lot.lot_id]).get(lot.lot_id, []))
    if holder != principal.org_id:
        raise InvalidInput(Problem(None, "product_lot_id", f"lot {lot.lot_id} is held by '{holder}', not by "
                                   f"'{principal.org_id}': only its holder allocates it", lot.lot_id))
    target_id, content = _target(session, body)
    held = lot.element_kg()
    used = allocated_kg(session, [lot.lot_id])
    on_target: dict[str, float] = {}
    for a in allocations(session, target_id=target_id):
        on_target[a.element] = on_target.get(a.element, 0.0) + a.kg
    problems = []
    for el, kg in body.element_kg.items():
        left = held.get(el, 0.0) - used.get((lot.lot_id, el), 0.0)
        if kg <= 0:
            problems.append(Problem(None, f"element_kg.{el}", "must be positive", lot.lot_id))
        elif kg > left + 1e-9:
            problems.append(Problem(None, f"element_kg.{el}", f"{kg:.3f} kg {el} asked but lot {lot.lot_id} has "
                                    f"{left:.3f} kg left of {held.get(el, 0.0):.3f} kg (the rest is already "
                                    "allocated)", lot.lot_id))
        elif on_target.get(el, 0.0) + kg > content.get(el, 0.0) + 1e-9:
            problems.append(Problem(None, f"element_kg.{el}", f"{target_id} holds {content.get(el, 0.0):.3f} kg {el}; "
                                    f"{on_target.get(el, 0.0):.3f} kg already allocated to it", lot.lot_id))
    if problems:
        raise InvalidInput(problems, source="recycled-content allocation")
    at = format_timestamp(now)
    rows = [StoredAllocation(uuid.uuid4().hex, lot.lot_id, el, float(kg), "post_consumer", CUSTODY_MODEL,
                             body.target_kind, target_id, content.get(el, 0.0), principal.org_id or "",
                             principal.user_id, at) for el, kg in sorted(body.element_kg.items())]
    insert_allocations(session, rows)
    used = allocated_kg(session, [lot.lot_id])
    return AllocationOut(lines=[allocation_line(r) for r in rows],
                         remaining_kg={el: kg - used.get((lot.lot_id, el), 0.0) for el, kg in held.items()})


def recycled_content_of(session: Session, principal: Principal, target: str) -> TargetRecycledContent:
    """A passport's (any battery identifier) or batch's recycled-content shares from its recorded allocations.

    For a passport, ``passport`` puts the shares under the passport's field names beside the declared values,
    exactly as the passport view does.
    """
    require_scope(principal, Scope.READ)
    try:
        target_id = resolve(session, target)
    except (InvalidInput, NotFound):
        target_id = target
    rows = allocations(session, target_id=target_id)
    if not rows and target_id == target:
        raise NotFound(f"no recycled content is allocated to '{target}'")
    content, post, pre, post_share, pre_share = allocation_shares(rows)
    passport = None
    if rows and rows[0].target_kind == "passport":
        declared = stored_passport(get_battery(session, target_id)).recycled_content
        passport = passport_view(rows, declared.model_dump() if declared is not None else {})
    return TargetRecycledContent(
        target_id=target_id, target_kind=rows[0].target_kind if rows else None, custody_model=CUSTODY_MODEL,
        element_kg=content, post_consumer_kg=post, pre_consumer_kg=pre, post_consumer_share=post_share,
        pre_consumer_share=pre_share, allocations=[allocation_line(a) for a in rows], passport=passport)
