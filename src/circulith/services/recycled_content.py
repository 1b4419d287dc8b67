"""Recycled-content shares (Regulation (EU) 2023/1542, Art. 8) of new batteries by mass balance from product lots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel
from sqlalchemy.orm import Session

from circulith.auth.policy import Principal, Scope
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.recovery.compliance import Check, recycled_content_checks
from circulith.recovery.lots import NewBattery, ProductLot, RecycledContentShare, allocate_recycled_content
from circulith.services.platform import _require_scope
from circulith.store.lot_repo import get_battery, get_lots
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

    A registered passport's static document is immutable: the shares are returned for the OEM to put in
    the passports it registers (``recycled_content`` fields), not written to existing passports.
    """
    _require_scope(principal, Scope.READ)
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
        note="A registered passport's static document is immutable: put these shares in the recycled_content of "
             "the passports you register for these batteries (post-consumer fractions).",
        checks=recycled_content_checks(shares, year) if year is not None else [])
