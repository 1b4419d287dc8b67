"""Who may record which lifecycle event on which battery: custody and role, never a read grant.

One pure rule per event kind (:data:`WRITE_RULES`). A rule names who may record the event:

``holder``
    the organisation that holds the battery (``custodian_org_id``); where the registry itself or the
    operator registered the passport and nobody has taken custody yet, the manufacturer holds it.
``manufacturer``
    the battery's manufacturer (``manufacturer_id``), for facts only it can state (production, and
    BMS data an OEM reads from its vehicles while the battery is in use).
``consignee``
    the organisation the battery's latest shipment names (``to_org_id``): the receiver of a receipt.
``remover``
    the organisation that recorded the battery's latest removal, which collects what it removed.
``dismantler_from_first_life``
    an authorised treatment facility (role ``dismantler``) removing a battery from a vehicle or
    product still held by its maker or OEM (end-of-life vehicles reach the dismantler, not the
    maker; Regulation (EU) 2023/1542 Art. 61(3) and Directive 2000/53/EC Art. 6).

and may restrict the roles of the recording organisation: terminal states (``dismantled``,
``shredded``, ``recycled``) are recorded only by a recycler that holds the battery; the
recycling outputs (black mass, refining, material output) by a recycler or refiner that holds it.

Read grants (Art. 77(2) legitimate interest) never confer write rights; authorities and the
Commission never write; the registry operator writes no lifecycle facts (it holds no battery).
``registered`` is written by the registry itself when a passport is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from circulith.auth.policy import CHAIN_ROLES, Role
from circulith.ledger.events import EventKind
from circulith.ledger.state_machine import CUSTODY_TAKING, LifecycleState


class Party(StrEnum):
    """A relation between the recording organisation and the battery that entitles it to write."""

    HOLDER = "holder"
    MANUFACTURER = "manufacturer"
    CONSIGNEE = "consignee"
    REMOVER = "remover"
    DISMANTLER_FROM_FIRST_LIFE = "dismantler_from_first_life"


@dataclass(frozen=True)
class WriteRule:
    """Who may record one event kind.

    Parameters
    ----------
    parties : tuple of Party
        Relations any one of which entitles the organisation.
    roles : frozenset of Role or None
        Roles the recording organisation must have (None: any chain role).
    """

    parties: tuple[Party, ...]
    roles: frozenset[Role] | None = None


_K = EventKind
_P = Party
_RECYCLER = frozenset({Role.RECYCLER})
_RECYCLING_OUTPUT = frozenset({Role.RECYCLER, Role.REFINER})

WRITE_RULES: dict[EventKind, WriteRule | None] = {
    _K.REGISTERED: None,  # the registry writes it with the passport
    _K.MANUFACTURED: WriteRule((_P.MANUFACTURER,)),
    _K.PLACED_ON_MARKET: WriteRule((_P.HOLDER,)),
    _K.INSTALLED: WriteRule((_P.HOLDER,)),
    _K.BMS_SNAPSHOT: WriteRule((_P.HOLDER, _P.MANUFACTURER)),
    _K.REPAIRED: WriteRule((_P.HOLDER,)),
    _K.MODULE_REPLACED: WriteRule((_P.HOLDER,)),
    _K.SWAPPED: WriteRule((_P.HOLDER,)),
    _K.REMOVED: WriteRule((_P.HOLDER, _P.DISMANTLER_FROM_FIRST_LIFE)),
    _K.COLLECTED: WriteRule((_P.HOLDER, _P.REMOVER)),
    _K.SHIPPED: WriteRule((_P.HOLDER,)),
    _K.RECEIVED: WriteRule((_P.CONSIGNEE,)),
    _K.TESTED: WriteRule((_P.HOLDER,)),
    _K.GRADED: WriteRule((_P.HOLDER,)),
    _K.REPURPOSED: WriteRule((_P.HOLDER,)),
    _K.REUSED: WriteRule((_P.HOLDER,)),
    _K.REMANUFACTURED: WriteRule((_P.HOLDER,)),
    _K.DISCHARGED: WriteRule((_P.HOLDER,)),
    _K.QUARANTINED: WriteRule((_P.HOLDER, _P.CONSIGNEE)),  # damaged or unsafe: held apart by whoever has it
    _K.DISMANTLED: WriteRule((_P.HOLDER,), _RECYCLER),
    _K.SHREDDED: WriteRule((_P.HOLDER,), _RECYCLER),
    _K.BLACK_MASS_LOT_CREATED: WriteRule((_P.HOLDER,), _RECYCLING_OUTPUT),
    _K.REFINED: WriteRule((_P.HOLDER,), _RECYCLING_OUTPUT),
    _K.MATERIAL_OUTPUT: WriteRule((_P.HOLDER,), _RECYCLING_OUTPUT),
    _K.RECYCLED: WriteRule((_P.HOLDER,), _RECYCLER),
}
"""The rule of every event kind (None: no organisation records it through the API or an import)."""


@dataclass(frozen=True)
class CustodyFacts:
    """What decides a write: the battery's maker, holder, state, and its latest shipment and removal.

    Parameters
    ----------
    manufacturer_id : str
        The battery's manufacturer.
    custodian_org_id : str or None
        The organisation holding it.
    custodian_is_chain_actor : bool
        Whether the holder is a chain organisation (False when the registry or operator registered
        the passport and nobody has taken custody yet: the manufacturer then holds it).
    state : LifecycleState
        The battery's lifecycle state.
    shipped_to_org_id : str or None
        Consignee of the latest shipment, if the battery has been shipped.
    removed_by_org_id : str or None
        Organisation that recorded the latest removal.
    """

    manufacturer_id: str
    custodian_org_id: str | None
    custodian_is_chain_actor: bool
    state: LifecycleState
    shipped_to_org_id: str | None = None
    removed_by_org_id: str | None = None

    @property
    def holder(self) -> str | None:
        """The organisation that holds the battery (see the module docstring)."""
        if self.custodian_org_id and self.custodian_is_chain_actor:
            return self.custodian_org_id
        return self.manufacturer_id


def _relations(org_id: str, role: Role, facts: CustodyFacts) -> set[Party]:
    out: set[Party] = set()
    if facts.holder == org_id:
        out.add(Party.HOLDER)
    if facts.manufacturer_id == org_id:
        out.add(Party.MANUFACTURER)
    if facts.shipped_to_org_id == org_id and facts.state is not LifecycleState.RECYCLED:
        out.add(Party.CONSIGNEE)
    if facts.removed_by_org_id == org_id and facts.state is LifecycleState.REMOVED:
        out.add(Party.REMOVER)
    first_life_holder = facts.holder == facts.manufacturer_id or not facts.custodian_is_chain_actor
    if role is Role.DISMANTLER and first_life_holder:
        out.add(Party.DISMANTLER_FROM_FIRST_LIFE)
    return out


def write_refusal(org_id: str | None, role: Role | None, kind: EventKind, facts: CustodyFacts) -> str | None:
    """Why ``org_id`` (with ``role``) may not record ``kind`` on the battery, or None if it may.

    Parameters
    ----------
    org_id : str or None
        The recording organisation (None: anonymous).
    role : Role or None
        Its role.
    kind : EventKind
        The event to record.
    facts : CustodyFacts
        The battery's custody facts before the event.

    Returns
    -------
    str or None
        A reason a user can act on, or None when the write is allowed.
    """
    if org_id is None or role is None:
        return "log in or present an API key with the 'write' scope"
    rule = WRITE_RULES[kind]
    if rule is None:
        return f"'{kind.value}' is written by the registry itself (create the passport)"
    if role not in CHAIN_ROLES:
        who = "the registry operator" if role is Role.OPERATOR else "authorities and the Commission"
        return f"{who} record no lifecycle events: only the organisation holding the battery does"
    if rule.roles is not None and role not in rule.roles:
        names = " or ".join(sorted(r.value for r in rule.roles))
        return f"'{kind.value}' is recorded only by a {names} holding the battery (you are a {role.value})"
    if not _relations(org_id, role, facts) & set(rule.parties):
        return f"'{kind.value}' is recorded only by {_describe(rule, facts)}"
    return None


_WORDS = {
    Party.HOLDER: "the organisation holding it{holder}",
    Party.MANUFACTURER: "its manufacturer ({maker})",
    Party.CONSIGNEE: "the consignee of its latest shipment{consignee}",
    Party.REMOVER: "the organisation that removed it{remover}",
    Party.DISMANTLER_FROM_FIRST_LIFE: "a dismantler taking it from its first life",
}


def _describe(rule: WriteRule, facts: CustodyFacts) -> str:
    fill = {"holder": f" ({facts.holder})" if facts.holder else "", "maker": facts.manufacturer_id,
            "consignee": f" ({facts.shipped_to_org_id})" if facts.shipped_to_org_id else " (none recorded)",
            "remover": f" ({facts.removed_by_org_id})" if facts.removed_by_org_id else ""}
    return " or ".join(_WORDS[p].format(**fill) for p in rule.parties)


def after_event(facts: CustodyFacts, kind: EventKind, org_id: str, to_org_id: str | None,
                state_after: LifecycleState) -> CustodyFacts:
    """The custody facts once ``org_id`` has recorded ``kind`` (for files holding several events per battery).

    Parameters
    ----------
    facts : CustodyFacts
        Facts before the event.
    kind : EventKind
        The event recorded.
    org_id : str
        Its recording organisation.
    to_org_id : str or None
        The consignee a shipment names.
    state_after : LifecycleState
        The state the state machine gives after the event.
    """
    custodian, chain_actor = facts.custodian_org_id, facts.custodian_is_chain_actor
    if kind in CUSTODY_TAKING:
        custodian, chain_actor = org_id, True
    shipped = to_org_id if kind is EventKind.SHIPPED and to_org_id else facts.shipped_to_org_id
    if kind is EventKind.RECEIVED:
        shipped = None
    removed = org_id if kind is EventKind.REMOVED else facts.removed_by_org_id
    return CustodyFacts(facts.manufacturer_id, custodian, chain_actor, state_after, shipped, removed)
