"""The lifecycle state machine: which event may happen to a battery in which state.

States follow the chain of custody of a battery::

    manufactured → on_market → in_service ⇄ removed → collected → evaluated
        → second_life (repurposed / reused / remanufactured, back in service)
        → dismantled → shredded → recycled (terminal: its passport ceases, Art. 77(8))

    any live state → quarantined (damaged or defective: thermal event, crash, abuse, no
        traceability data) → discharged / dismantled / shredded under the damaged-battery rules

A quarantined battery stays quarantined while it is tested, graded, shipped or received (its
grade is recorded, it is never released to a second life); it leaves quarantine only towards
recycling. A battery never placed on the market, or a module or cell tracked only through its
pack, may be collected as waste straight from ``manufactured``.

Events that record facts without moving the battery (BMS snapshots, repairs, shipping,
discharge, lot records) keep the state. Anything not listed here is refused with
:class:`~circulith.errors.TransitionRefused`, whose message names the battery, the event
and the states that would have allowed it: nothing leaves ``recycled``, a shredded battery
cannot be installed, a battery in a vehicle cannot be shredded without first being removed.
"""

from __future__ import annotations

from enum import StrEnum

from circulith.errors import TransitionRefused
from circulith.ledger.events import EventKind


class LifecycleState(StrEnum):
    """Where a battery is in its life."""

    MANUFACTURED = "manufactured"
    ON_MARKET = "on_market"
    IN_SERVICE = "in_service"
    REMOVED = "removed"
    COLLECTED = "collected"
    EVALUATED = "evaluated"
    SECOND_LIFE = "second_life"
    DISMANTLED = "dismantled"
    SHREDDED = "shredded"
    RECYCLED = "recycled"
    QUARANTINED = "quarantined"


S = LifecycleState
_LIVE = frozenset({S.MANUFACTURED, S.ON_MARKET, S.IN_SERVICE, S.REMOVED, S.COLLECTED, S.EVALUATED, S.SECOND_LIFE})
_OUT_OF_SERVICE = frozenset({S.REMOVED, S.COLLECTED, S.EVALUATED})
_IN_USE = frozenset({S.IN_SERVICE, S.SECOND_LIFE})
_Q = frozenset({S.QUARANTINED})
# Events that may happen to a quarantined battery without releasing it from quarantine.
_HELD_IN_QUARANTINE = frozenset({EventKind.BMS_SNAPSHOT, EventKind.SHIPPED, EventKind.RECEIVED, EventKind.TESTED,
                                 EventKind.GRADED, EventKind.DISCHARGED, EventKind.QUARANTINED})

# kind -> (states it may happen in, state afterwards; None keeps the state)
TRANSITIONS: dict[EventKind, tuple[frozenset[LifecycleState], LifecycleState | None]] = {
    EventKind.REGISTERED: (frozenset(), S.MANUFACTURED),  # only as the first event of a chain
    EventKind.MANUFACTURED: (frozenset({S.MANUFACTURED}), None),
    EventKind.PLACED_ON_MARKET: (frozenset({S.MANUFACTURED}), S.ON_MARKET),
    EventKind.INSTALLED: (frozenset({S.MANUFACTURED, S.ON_MARKET}) | _OUT_OF_SERVICE, S.IN_SERVICE),
    EventKind.BMS_SNAPSHOT: (_LIVE | _Q, None),
    EventKind.REPAIRED: (_IN_USE | _OUT_OF_SERVICE, None),
    EventKind.MODULE_REPLACED: (_IN_USE | _OUT_OF_SERVICE, None),
    EventKind.SWAPPED: (_IN_USE, None),
    EventKind.REMOVED: (_IN_USE, S.REMOVED),
    EventKind.COLLECTED: (frozenset({S.MANUFACTURED, S.ON_MARKET}) | _IN_USE | _OUT_OF_SERVICE, S.COLLECTED),
    EventKind.SHIPPED: (_LIVE | {S.DISMANTLED} | _Q, None),
    EventKind.RECEIVED: (_LIVE | {S.DISMANTLED} | _Q, None),
    EventKind.TESTED: (_OUT_OF_SERVICE | _Q, S.EVALUATED),
    EventKind.GRADED: (_OUT_OF_SERVICE | _Q, S.EVALUATED),
    EventKind.QUARANTINED: (_LIVE | _Q, S.QUARANTINED),
    EventKind.REPURPOSED: (frozenset({S.EVALUATED}), S.SECOND_LIFE),
    EventKind.REUSED: (frozenset({S.EVALUATED}), S.SECOND_LIFE),
    EventKind.REMANUFACTURED: (frozenset({S.EVALUATED}), S.SECOND_LIFE),
    EventKind.DISCHARGED: (_OUT_OF_SERVICE | {S.DISMANTLED} | _Q, None),
    EventKind.DISMANTLED: (_OUT_OF_SERVICE | _Q, S.DISMANTLED),
    EventKind.SHREDDED: (_OUT_OF_SERVICE | {S.DISMANTLED} | _Q, S.SHREDDED),
    EventKind.BLACK_MASS_LOT_CREATED: (frozenset({S.SHREDDED}), None),
    EventKind.REFINED: (frozenset({S.SHREDDED}), None),
    EventKind.MATERIAL_OUTPUT: (frozenset({S.SHREDDED}), None),
    EventKind.RECYCLED: (frozenset({S.SHREDDED, S.DISMANTLED}), S.RECYCLED),
}

# Passport status (Annex XIII 4(c)) set by an event, where the event changes it.
STATUS_AFTER: dict[EventKind, str] = {
    EventKind.REPURPOSED: "repurposed",
    EventKind.REUSED: "reused",
    EventKind.REMANUFACTURED: "remanufactured",
    EventKind.DISMANTLED: "waste",
    EventKind.SHREDDED: "waste",
    EventKind.RECYCLED: "waste",
}

# Events that change who holds the battery: the custodian becomes the acting organisation.
CUSTODY_TAKING: frozenset[EventKind] = frozenset(
    {EventKind.REGISTERED, EventKind.INSTALLED, EventKind.COLLECTED, EventKind.RECEIVED, EventKind.SWAPPED}
)


def check_transition(battery_id: str, state: LifecycleState | None, kind: EventKind) -> LifecycleState:
    """Return the state after ``kind`` happens in ``state``, or refuse it.

    Parameters
    ----------
    battery_id : str
        For the error message.
    state : LifecycleState or None
        Current state; None when the battery has no event yet.
    kind : EventKind
        The event to apply.

    Raises
    ------
    TransitionRefused
        If the event is impossible in this state.
    """
    allowed, after = TRANSITIONS[kind]
    if state is None:
        if kind is EventKind.REGISTERED:
            return S.MANUFACTURED
        raise TransitionRefused(f"battery {battery_id}: '{kind.value}' before the battery was registered")
    if kind is EventKind.REGISTERED:
        raise TransitionRefused(f"battery {battery_id}: already registered")
    if state not in allowed:
        if state is S.RECYCLED:
            why = "it is recycled: its passport has ceased and nothing may follow"
        else:
            names = ", ".join(sorted(s.value for s in allowed)) or "none"
            why = f"it is '{state.value}' (allowed only when {names})"
        raise TransitionRefused(f"battery {battery_id}: cannot record '{kind.value}' because {why}")
    if state is S.QUARANTINED and kind in _HELD_IN_QUARANTINE:
        return state
    return after or state
