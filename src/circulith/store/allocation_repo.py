"""Recycled-content allocations: which kilograms of which product lot went to which batch or passport.

Only storage; the checks (reserved once, holder, target's content) are in
:mod:`circulith.services.recycled_content`. Every function runs in the caller's session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from circulith.store.ledger_store import chunks
from circulith.store.lot_models import RecycledContentAllocation


@dataclass(frozen=True)
class StoredAllocation:
    """One recorded allocation."""

    allocation_id: str
    product_lot_id: str
    element: str
    kg: float
    origin: str
    custody_model: str
    target_kind: str
    target_id: str
    target_element_kg: float
    org_id: str
    user_id: str | None
    recorded_at: str


def insert_allocations(session: Session, rows: Iterable[StoredAllocation]) -> None:
    """Append allocations (never updated or deleted)."""
    data = [r.__dict__ for r in rows]
    if data:
        session.execute(insert(RecycledContentAllocation), data)


def allocated_kg(session: Session, lot_ids: Iterable[str]) -> dict[tuple[str, str], float]:
    """(product lot, element) → kilograms already allocated."""
    out: dict[tuple[str, str], float] = {}
    for part in chunks(list(dict.fromkeys(lot_ids))):
        for lot, el, kg in session.execute(
                select(RecycledContentAllocation.product_lot_id, RecycledContentAllocation.element,
                       func.sum(RecycledContentAllocation.kg))
                .where(RecycledContentAllocation.product_lot_id.in_(part))
                .group_by(RecycledContentAllocation.product_lot_id, RecycledContentAllocation.element)):
            out[(lot, el)] = float(kg)
    return out


def allocations(session: Session, *, target_id: str | None = None,
                lot_ids: Iterable[str] | None = None) -> list[StoredAllocation]:
    """Allocations to a target, or from given lots, in the order recorded."""
    stmt = select(RecycledContentAllocation).order_by(RecycledContentAllocation.recorded_at,
                                                      RecycledContentAllocation.allocation_id)
    if target_id is not None:
        stmt = stmt.where(RecycledContentAllocation.target_id == target_id)
    if lot_ids is not None:
        stmt = stmt.where(RecycledContentAllocation.product_lot_id.in_(list(lot_ids)))
    return [StoredAllocation(r.allocation_id, r.product_lot_id, r.element, r.kg, r.origin, r.custody_model,
                             r.target_kind, r.target_id, r.target_element_kg, r.org_id, r.user_id, r.recorded_at)
            for r in session.execute(stmt).scalars()]
