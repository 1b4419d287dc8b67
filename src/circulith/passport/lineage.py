"""Passport lineage for repurposed, reused and remanufactured batteries (Art. 77(7)).

When a battery is prepared for re-use, prepared for repurposing, repurposed or remanufactured, the
economic operator placing it on the market again takes over the passport obligations, and the
battery gets a new passport linked to the passport of the original battery (Art. 77(7)). The old
passport keeps existing (it is the record of the original battery) and its status (Annex XIII
(4)(c)) is set to the new status.

The successor carries over the model data (composition, carbon footprint, dismantling) and the use
history (``dynamic``: cycles, state of health, accidents), because the history of the cells does not
restart; anything that changed (re-rated capacity, new category, new warranty) is passed as
``changes`` and validated like any passport.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ValidationError

from circulith.errors import InvalidInput, Problem, TransitionRefused
from circulith.passport.identifiers import canonical, mint_passport_id
from circulith.passport.model import Party, Passport, validation_problems

__all__ = ["SUCCESSOR_STATUSES", "successor_passport", "superseded_passport"]

SuccessorStatus = Literal["repurposed", "reused", "remanufactured"]
SUCCESSOR_STATUSES: tuple[str, ...] = ("repurposed", "reused", "remanufactured")


def _check_status(old: Passport, new_status: str) -> None:
    if new_status not in SUCCESSOR_STATUSES:
        raise InvalidInput(
            Problem(
                None,
                "status",
                f"a successor passport is for {', '.join(SUCCESSOR_STATUSES)}; got {new_status!r}",
            )
        )
    if old.status == "waste" and new_status == "reused":
        raise TransitionRefused(
            f"{old.battery_id}: a waste battery can be repurposed or remanufactured, not reused as is"
        )


def successor_passport(
    old: Passport,
    new_status: SuccessorStatus,
    *,
    new_battery_id: str,
    operator: Party,
    new_passport_id: str | None = None,
    new_identifiers: list[str] | None = None,
    **changes: Any,
) -> Passport:
    """The new passport of a repurposed, reused or remanufactured battery, linked to ``old``.

    Parameters
    ----------
    old : Passport
        Passport of the original battery.
    new_status : {"repurposed", "reused", "remanufactured"}
        Status of the battery under its new passport.
    new_battery_id : str
        Unique identifier of the battery as placed on the market again (any accepted scheme);
        must differ from every identifier of the original battery.
    operator : Party
        The economic operator now responsible (Art. 77(7)).
    new_passport_id : str or None
        Identifier of the new passport; a new ``urn:uuid`` when None.
    new_identifiers : list of str or None
        Further identifiers of the battery.
    **changes
        Passport fields that change (e.g. ``category="stationary"``, ``rated_capacity_ah=180``).

    Raises
    ------
    InvalidInput
        Bad status, reused identifiers, or changes that make an invalid passport.
    TransitionRefused
        A waste battery declared "reused".
    """
    _check_status(old, new_status)
    passport_id = new_passport_id or mint_passport_id()
    forbidden = {"passport_id", "battery_id", "identifiers", "predecessor_passport_id", "status", "operator"}
    bad = sorted(forbidden & set(changes))
    if bad:
        raise InvalidInput(Problem(None, bad[0], "set through the named arguments, not through changes"))
    old_ids = set(old.all_identifiers())
    new_ids = [new_battery_id, *(new_identifiers or [])]
    for i in new_ids:
        if canonical(i) in old_ids:
            raise InvalidInput(
                Problem(
                    None,
                    "new_battery_id",
                    f"{i!r} identifies the original battery; the successor needs its own",
                )
            )
    if canonical(passport_id) == old.passport_id:
        raise InvalidInput(Problem(None, "new_passport_id", "the successor needs a passport id of its own"))
    data = old.model_dump()
    data.update(changes)
    data.update(
        passport_id=passport_id,
        battery_id=new_battery_id,
        identifiers=list(new_identifiers or []),
        predecessor_passport_id=old.passport_id,
        status=new_status,
        operator=operator.model_dump(),
    )
    try:
        return Passport.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(
            validation_problems(exc, record_id=new_battery_id), source="successor passport"
        ) from None


def superseded_passport(old: Passport, new_status: SuccessorStatus) -> Passport:
    """The original passport with its status set to ``new_status`` (Annex XIII (4)(c))."""
    _check_status(old, new_status)
    return old.model_copy(update={"status": new_status})
