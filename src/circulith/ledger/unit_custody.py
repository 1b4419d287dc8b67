"""Custody of modules and cells follows their pack's receipt.

A pack's modules and cells have passports of their own, but while they sit in the pack nobody ships
or receives them apart: whoever receives the pack takes them too. So every ``received`` event on a
pack (or module) is accompanied by a ``received`` event on each unit inside it that travels with it,
at the same time, by the same organisation, at the same site, its payload naming the pack
(``with_parent``). A unit travels with its pack when it is still tracked only through the pack
(``manufactured``: never collected, shipped or received on its own) or is held by the pack's holder
before the receipt; a unit held apart by someone else, already held by the receiver, or no longer a
unit of the pack's life (``second_life``, ``shredded``, ``recycled``) stays where it is, and so do
the units inside it.

Pure computation: the caller gives each battery's children as stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from circulith.ledger.events import EventKind, LedgerEvent

__all__ = ["LEFT_BEHIND_STATES", "Unit", "following_units", "unit_receipts"]

LEFT_BEHIND_STATES = frozenset({"second_life", "shredded", "recycled"})
"""States in which a unit no longer travels with the pack it was part of."""


@dataclass(frozen=True)
class Unit:
    """A module or cell as stored: its parent, holder and state."""

    battery_id: str
    parent_battery_id: str
    custodian_org_id: str | None
    lifecycle_state: str


def following_units(root: str, holder_before: str | None, receiver: str,
                    children: Mapping[str, Sequence[Unit]]) -> list[str]:
    """The units inside ``root`` that change hands with it (depth first, in the children's order).

    Parameters
    ----------
    root : str
        The received pack (or module).
    holder_before : str or None
        Who held ``root`` before the receipt.
    receiver : str
        The receiving organisation.
    children : mapping of str to sequence of Unit
        Each battery's direct children.
    """
    out: list[str] = []
    stack = list(reversed(children.get(root, ())))
    while stack:
        unit = stack.pop()
        if unit.lifecycle_state in LEFT_BEHIND_STATES or unit.custodian_org_id == receiver:
            continue
        if unit.lifecycle_state != "manufactured" and unit.custodian_org_id != holder_before:
            continue  # moved on its own: held apart
        out.append(unit.battery_id)
        stack.extend(reversed(children.get(unit.battery_id, ())))
    return out


def unit_receipts(event: LedgerEvent, holder_before: str | None, children: Mapping[str, Sequence[Unit]],
                  payload: Mapping[str, Any] | None = None) -> list[LedgerEvent]:
    """The ``received`` events of the units that change hands with the battery ``event`` receives.

    Parameters
    ----------
    event : LedgerEvent
        A ``received`` event (any other kind gives no unit events).
    holder_before : str or None
        Who held the received battery before.
    children : mapping of str to sequence of Unit
        Each battery's direct children.
    payload : mapping, optional
        Payload keys every unit event carries besides ``with_parent`` (a consignment's ID, say).
    """
    if event.kind is not EventKind.RECEIVED:
        return []
    extra = dict(payload or {})
    return [LedgerEvent(battery_id=bid, kind=EventKind.RECEIVED, occurred_at=event.occurred_at,
                        actor_org_id=event.actor_org_id, site_id=event.site_id,
                        payload={**extra, "with_parent": event.battery_id})
            for bid in following_units(event.battery_id, holder_before, event.actor_org_id, children)]
