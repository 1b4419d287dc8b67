"""Recycled content of a passport: the manufacturer's declaration beside the recorded allocations.

The view shared by the passport read (:mod:`circulith.services.passports`) and
:func:`circulith.services.recycled_content.recycled_content_of`, so that both always show the same figures
(see :mod:`circulith.services.recycled_content` for who states what). Storage only through
:mod:`circulith.store.allocation_repo`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from circulith.store.allocation_repo import StoredAllocation, allocations

CUSTODY_MODEL = "mass_balance"
"""Chain-of-custody model of the allocations: mass balance (ISO 22095:2020, clause 3.3.4): recycled and
primary material mix physically; recycled kilograms are booked to outputs, each kilogram once."""


class AllocationLine(BaseModel):
    """One allocated element."""

    allocation_id: str
    product_lot_id: str
    element: str
    kg: float
    origin: str
    custody_model: str
    target_kind: str
    target_id: str
    org_id: str
    recorded_at: str


#: Art. 8 element → the stem of the passport's recycled-content fields (``<stem>_post_consumer_fraction``).
PASSPORT_FIELD_STEM = {"Co": "cobalt", "Li": "lithium", "Ni": "nickel", "Pb": "lead"}


class PassportRecycledContent(BaseModel):
    """A passport's recycled content: the manufacturer's declaration beside the recorded allocations [-]."""

    custody_model: str
    declared: dict[str, float | None] = Field(description="Passport field → the fraction the manufacturer declared "
                                                          "in the registered passport.")
    allocated: dict[str, float] = Field(description="Passport field → the fraction the recorded mass-balance "
                                                    "allocations give (allocated kg / the passport's kg).")
    agrees: bool = Field(description="Every allocated fraction equals the declared one (to 0.001).")
    evidence: list[AllocationLine] = Field(description="The allocations (lot, kilograms, holder, time).")
    note: str


def allocation_line(a: StoredAllocation) -> AllocationLine:
    """The public form of a stored allocation."""
    return AllocationLine(allocation_id=a.allocation_id, product_lot_id=a.product_lot_id, element=a.element, kg=a.kg,
                          origin=a.origin, custody_model=a.custody_model, target_kind=a.target_kind,
                          target_id=a.target_id, org_id=a.org_id, recorded_at=a.recorded_at)


def allocation_shares(rows: Sequence[StoredAllocation]) -> tuple[dict[str, float], dict[str, float], dict[str, float],
                                                   dict[str, float], dict[str, float]]:
    """Content, post- and pre-consumer kilograms, and post- and pre-consumer shares per element."""
    content = {a.element: a.target_element_kg for a in rows}
    post: dict[str, float] = {}
    pre: dict[str, float] = {}
    for a in rows:
        bucket = post if a.origin == "post_consumer" else pre
        bucket[a.element] = bucket.get(a.element, 0.0) + a.kg
    return (content, post, pre, {el: kg / content[el] for el, kg in post.items() if content.get(el, 0) > 0},
            {el: kg / content[el] for el, kg in pre.items() if content.get(el, 0) > 0})


def passport_view(rows: Sequence[StoredAllocation], declared_doc: Mapping[str, object]) -> PassportRecycledContent:
    _content, _post, _pre, post_share, pre_share = allocation_shares(rows)
    allocated: dict[str, float] = {}
    for origin, shares in (("post", post_share), ("pre", pre_share)):
        for el, share in shares.items():
            allocated[f"{PASSPORT_FIELD_STEM[el]}_{origin}_consumer_fraction"] = round(share, 6)
    declared: dict[str, float | None] = {}
    for f in allocated:
        v = declared_doc.get(f)
        declared[f] = float(v) if isinstance(v, int | float) else None
    agrees = all(declared[f] is not None and abs(float(declared[f] or 0.0) - v) <= 1e-3 for f, v in allocated.items())
    return PassportRecycledContent(
        custody_model=CUSTODY_MODEL, declared=declared, allocated=allocated, agrees=agrees,
        evidence=[allocation_line(a) for a in rows],
        note="declared: the manufacturer's figure in the registered passport (Art. 8(1) technical documentation); "
             "allocated: the recorded mass-balance allocations of recycled kilograms, the evidence for it"
             + ("" if agrees else "; they differ until the manufacturer declares the allocated share"))


def passport_recycled_content(session: Session, battery_id: str,
                              declared_doc: Mapping[str, object]) -> PassportRecycledContent | None:
    """The allocations recorded to a passport beside its declared fractions (None: nothing allocated).

    Parameters
    ----------
    session : Session
        An open session.
    battery_id : str
        The battery's registry ID.
    declared_doc : mapping
        The passport's ``recycled_content`` section as the caller sees it (field → declared fraction [-]).
    """
    rows = [a for a in allocations(session, target_id=battery_id) if a.target_kind == "passport"]
    return passport_view(rows, declared_doc) if rows else None
