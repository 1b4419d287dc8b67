"""The write rule table over every event kind x role x own/other battery (issue 14 item 3)."""

from __future__ import annotations

import pytest

from circulith.auth.policy import CHAIN_ROLES, MAKER_ROLES, Role
from circulith.auth.write_policy import WRITE_RULES, CustodyFacts, after_event, write_refusal
from circulith.ledger.events import EventKind
from circulith.ledger.state_machine import LifecycleState

ME, OTHER, MAKER = "ORG-ME", "ORG-OTHER", "OEM-MAKER"
K = EventKind
TERMINAL = {K.DISMANTLED, K.SHREDDED, K.RECYCLED}
OUTPUTS = {K.BLACK_MASS_LOT_CREATED, K.REFINED, K.MATERIAL_OUTPUT}


def _facts(holder: str, maker: str = MAKER, state: LifecycleState = LifecycleState.IN_SERVICE, **kw: str) -> CustodyFacts:
    return CustodyFacts(maker, holder, True, state, kw.get("shipped_to"), kw.get("removed_by"))


def _expected_own(kind: EventKind, role: Role) -> bool:
    """Written out from the issue: what the holder of a battery (not its maker) may record."""
    if kind in (K.REGISTERED, K.MANUFACTURED, K.RECEIVED) or role not in CHAIN_ROLES:
        return False  # the registry writes 'registered'; production by the maker; receipt by a consignee
    if kind in TERMINAL:
        return role is Role.RECYCLER
    if kind in OUTPUTS:
        return role in (Role.RECYCLER, Role.REFINER)
    return True


@pytest.mark.parametrize("kind", list(EventKind))
@pytest.mark.parametrize("role", list(Role))
def test_every_kind_role_own_and_other(kind: EventKind, role: Role) -> None:
    own = write_refusal(ME, role, kind, _facts(holder=ME))
    assert (own is None) == _expected_own(kind, role), own
    # Another organisation's battery, held by someone other than its maker (no take-over from first life): never.
    other = write_refusal(ME, role, kind, _facts(holder=OTHER, maker=MAKER))
    assert other is not None
    assert isinstance(other, str) and len(other) > 10


@pytest.mark.parametrize("role", sorted(MAKER_ROLES))
def test_the_maker_states_production_and_bms_data_of_its_batteries(role: Role) -> None:
    held_by_dealer = _facts(holder=OTHER, maker=ME)
    assert write_refusal(ME, role, K.MANUFACTURED, held_by_dealer) is None
    assert write_refusal(ME, role, K.BMS_SNAPSHOT, held_by_dealer) is None
    for kind in (K.REMOVED, K.COLLECTED, K.SHIPPED, K.DISMANTLED, K.RECYCLED):
        assert write_refusal(ME, role, kind, held_by_dealer) is not None, kind


def test_oem_cannot_collect_a_pack_a_recycler_holds() -> None:  # issue 14, "what breaks" 3
    held = CustodyFacts(ME, OTHER, True, LifecycleState.COLLECTED)
    why = write_refusal(ME, Role.OEM, K.COLLECTED, held)
    assert why is not None and "holding it (ORG-OTHER)" in why


def test_terminal_states_only_from_a_recycler_holding_the_battery() -> None:
    dismantled = _facts(holder=ME, state=LifecycleState.DISMANTLED)
    assert write_refusal(ME, Role.RECYCLER, K.RECYCLED, dismantled) is None
    assert "recycler" in (write_refusal(ME, Role.DISMANTLER, K.DISMANTLED, _facts(holder=ME)) or "")
    assert write_refusal(ME, Role.RECYCLER, K.RECYCLED, _facts(holder=OTHER, state=LifecycleState.DISMANTLED))


def test_dismantler_takes_a_battery_from_first_life_then_collects_what_it_removed() -> None:
    in_car = _facts(holder=MAKER)  # installed by the OEM: the OEM holds it
    assert write_refusal(ME, Role.DISMANTLER, K.REMOVED, in_car) is None
    assert write_refusal(ME, Role.REUSE_INTEGRATOR, K.REMOVED, in_car) is not None  # issue 14: read grant holder
    assert write_refusal(ME, Role.RECYCLER, K.REMOVED, in_car) is not None
    removed = after_event(in_car, K.REMOVED, ME, None, LifecycleState.REMOVED)
    assert write_refusal(ME, Role.DISMANTLER, K.COLLECTED, removed) is None
    assert write_refusal(OTHER, Role.DISMANTLER, K.COLLECTED, removed) is not None
    collected = after_event(removed, K.COLLECTED, ME, None, LifecycleState.COLLECTED)
    assert collected.holder == ME
    # Not from a second life held by a reuse integrator: that holder decides.
    second = _facts(holder=OTHER, maker=MAKER, state=LifecycleState.SECOND_LIFE)
    assert write_refusal(ME, Role.DISMANTLER, K.REMOVED, second) is not None


def test_receipt_only_by_the_consignee_of_the_latest_shipment() -> None:
    shipped = after_event(_facts(holder=OTHER, maker=OTHER, state=LifecycleState.COLLECTED), K.SHIPPED, OTHER, ME,
                          LifecycleState.COLLECTED)
    assert write_refusal(ME, Role.RECYCLER, K.RECEIVED, shipped) is None
    assert write_refusal("ORG-THIRD", Role.RECYCLER, K.RECEIVED, shipped) is not None
    assert write_refusal(OTHER, Role.DISMANTLER, K.RECEIVED, shipped) is not None  # the shipper holds, not receives
    received = after_event(shipped, K.RECEIVED, ME, None, LifecycleState.COLLECTED)
    assert received.holder == ME and received.shipped_to_org_id is None
    assert write_refusal(ME, Role.RECYCLER, K.RECEIVED, received) is not None  # no second receipt


def test_registry_registered_passport_is_held_by_its_manufacturer() -> None:
    facts = CustodyFacts(MAKER, "ORG-REGISTRY", False, LifecycleState.MANUFACTURED)
    assert facts.holder == MAKER
    assert write_refusal(MAKER, Role.OEM, K.PLACED_ON_MARKET, facts) is None
    assert write_refusal("ORG-REGISTRY", Role.OPERATOR, K.PLACED_ON_MARKET, facts) is not None


def test_every_kind_has_a_rule() -> None:
    assert set(WRITE_RULES) == set(EventKind)
