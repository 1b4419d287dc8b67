"""A stored dynamic value that fails today's checks is shown as invalid, never a 500 (issue 14 item 2)."""

from __future__ import annotations

import json

from circulith.passport.access import Audience
from circulith.passport.model import readable_dynamic
from circulith.services.passports import _cached_view


def test_readable_dynamic_splits_out_invalid_values() -> None:
    valid, invalid = readable_dynamic({"soh_pct": {"value": 150.0}})
    assert invalid == ["soh_pct"] and valid == {}


def test_view_of_a_passport_with_a_poisoned_value_still_renders() -> None:
    from circulith.passport.examples import example_passport

    p = example_passport()
    doc = p.model_dump(mode="json", exclude={"dynamic", "status"})
    dynamic = {"soh_pct": {"value": float("inf")}}
    shown, withheld = _cached_view(json.dumps(doc), p.status, json.dumps(dynamic), Audience.LEGITIMATE)
    assert "dynamic.soh_pct (invalid)" in withheld
    assert shown["battery_id"] == p.battery_id
