"""Event payloads follow the passport view's Annex XIII rules, for every audience and whoever recorded them.

A BMS snapshot carries the same data as the passport's dynamic block (Annex XIII point 4: legitimate
interest), so it is shown to the ``legitimate`` audience only: not to the registry operator (public),
not to authorities or the Commission (Art. 77(2)(b) gives them points 2 and 3), and not to an
organisation that recorded it but no longer has legitimate interest.
"""

from __future__ import annotations

import pytest

from circulith.auth.policy import ALL_SCOPES, Principal, Role, event_view
from circulith.passport.access import Audience
from circulith.passport.attributes import withheld as lattice_withheld
from circulith.passport.payload_access import payload_key_access, read_payload_access
from circulith.services.passports import DYNAMIC_FIELDS

SNAPSHOT = {"kind": "bms_snapshot", "actor_org_id": "OEM-ALBIS", "payload": {
    "soh_pct": 81.2, "module_soh_pct": [80.1, 82.3], "full_cycles": 679.1, "remaining_capacity_ah": 160.2,
    "internal_resistance_increase_pct": 31.9, "accident": {"kind": "thermal"}, "region": "NO"}}
REGISTERED = {"kind": "registered", "actor_org_id": "OEM-ALBIS", "payload": {
    "passport_id": "urn:uuid:ed1ba5c8-c4ff-464e-9304-3fca9543c6c3", "status": "original",
    "dynamic": {"soh_pct": {"value": 100.0}}, "document_sha256": "ab" * 32}}
INSTALLED = {"kind": "installed", "actor_org_id": "OEM-ALBIS", "payload": {"region": "NO", "vehicle_id": "VIN1"}}
DYNAMIC = set(SNAPSHOT["payload"]) - {"region"}


def _who(org: str, role: Role) -> Principal:
    return Principal(org_id=org, role=role, scopes=ALL_SCOPES, via="cli")


CASES = [
    (_who("ORG-REGISTRY", Role.OPERATOR), Audience.PUBLIC, False),
    (_who("REC-HYDROLUX", Role.RECYCLER), Audience.LEGITIMATE, True),
    (_who("MSA-DE", Role.MARKET_SURVEILLANCE), Audience.AUTHORITY, False),
    (_who("EU-COM", Role.COMMISSION), Audience.COMMISSION, False),
    (_who("OEM-ALBIS", Role.OEM), Audience.LEGITIMATE, True),  # the maker that recorded it
    (_who("OEM-ALBIS", Role.OEM), Audience.PUBLIC, False),  # recorded it, no legitimate interest now
]


@pytest.mark.parametrize(("principal", "audience", "sees"), CASES)
def test_a_bms_snapshot_is_shown_as_the_passport_view_would(principal, audience, sees):
    out = event_view(SNAPSHOT, principal, audience, DYNAMIC_FIELDS)
    assert out["payload"]["region"] == "NO"  # a custody fact: shown with the history
    if sees:
        assert set(out["payload"]) == DYNAMIC | {"region"} and out["withheld"] == []
    else:
        assert set(out["payload"]) == {"region"} and set(out["withheld"]) == DYNAMIC
    # The same answer as the passport view for the attribute behind every key.
    assert ("dynamic.soh_pct" in lattice_withheld(audience)) is not sees


@pytest.mark.parametrize(("principal", "audience", "sees"), CASES)
def test_registration_and_installation_withhold_the_dynamic_block_status_and_vehicle(principal, audience, sees):
    reg = event_view(REGISTERED, principal, audience, DYNAMIC_FIELDS)
    assert ("dynamic" in reg["payload"]) is sees and ("status" in reg["payload"]) is sees
    assert ("status" in lattice_withheld(audience)) is not sees
    assert reg["payload"]["passport_id"] == REGISTERED["payload"]["passport_id"]
    inst = event_view(INSTALLED, principal, audience, DYNAMIC_FIELDS)
    assert ("vehicle_id" in inst["payload"]) is sees


def test_an_event_the_operator_recorded_shows_it_no_state_of_health():
    tested = {"kind": "tested", "actor_org_id": "ORG-REGISTRY",
              "payload": {"method": "bms", "soh_pct": 68.1, "soh_low_pct": 65.1, "soh_high_pct": 71.1}}
    out = event_view(tested, _who("ORG-REGISTRY", Role.OPERATOR), Audience.PUBLIC, DYNAMIC_FIELDS)
    assert out["payload"] == {"method": "bms"} and out["withheld"] == ["soh_high_pct", "soh_low_pct", "soh_pct"]


def test_the_rule_table_follows_the_passport_attributes():
    table = read_payload_access()
    assert table["module_soh_pct"] == payload_key_access("soh_pct")
    assert {str(v) for v in table.values()} == {"legitimate_interest"}
    assert payload_key_access("to_org_id") is None and payload_key_access("price_eur") is None
