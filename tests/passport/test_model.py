"""Passport model validation."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from circulith.errors import InvalidInput
from circulith.passport import Passport, example_passport, example_passport_data, parse_passport
from circulith.passport.model import cas_check_digit_ok


def _with(**changes):
    data = example_passport_data()
    data.update(changes)
    return data


def test_example_passport_is_valid_and_canonical():
    p = example_passport()
    assert p.battery_id.startswith("https://id.gs1.org/01/09506000134352/21/")
    assert p.passport_id.startswith("urn:uuid:")
    assert p.chemistry == "NMC622"
    # 96 cells x 3.65 V x 214 Ah = 75.0 kWh
    assert p.rated_energy_kwh == pytest.approx(p.rated_capacity_ah * p.nominal_voltage_v / 1000, rel=0.01)


def test_identity_keys_are_canonicalised():
    p = Passport.model_validate(_with(battery_id="HTTPS://brand.example/01/09506000134352/21/X1"))
    assert p.battery_id == "https://id.gs1.org/01/09506000134352/21/X1"


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"mass_kg": -5.0}, "mass"),
        ({"mass_kg": 480_000.0}, "mass"),
        ({"mass_kg": 0.48}, "Wh/kg"),  # kg entered as tonnes
        ({"rated_capacity_ah": 0.0}, "positive"),
        ({"rated_energy_kwh": 75_000.0}, "rated_energy_kwh"),  # Wh entered as kWh
        ({"min_voltage_v": 360.0}, "min < nominal < max"),
        ({"max_voltage_v": 96 * 4.6}, "full-charge"),
        ({"min_voltage_v": 96 * 2.0}, "cut-off"),
        ({"chemistry": "NMC999"}, "unknown chemistry"),
        ({"manufacturing_date": "2023-13"}, "YYYY-MM"),
        ({"manufacturing_date": "2023-04-17"}, "YYYY-MM"),
        ({"manufacturing_date": "2999-01"}, "future"),
        ({"battery_id": "not an id"}, "not a recognised identifier"),
        ({"predecessor_passport_id": "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"}, "original"),
        ({"parent_battery_id": "urn:example:pack1"}, "pack has no parent"),
    ],
)
def test_invalid_passports_are_refused_with_reason(changes, needle):
    with pytest.raises(InvalidInput) as exc:
        parse_passport(_with(**changes), row=3, source="fleet.json")
    text = " | ".join(str(p) for p in exc.value.problems)
    assert needle in text
    assert exc.value.problems[0].row == 3
    assert "fleet.json" in str(exc.value)


def test_voltage_window_of_lfp_pack_is_accepted_and_nmc_window_on_lfp_is_not():
    lfp = _with(
        chemistry="LFP",
        nominal_voltage_v=108 * 3.2,
        min_voltage_v=108 * 2.5,
        max_voltage_v=108 * 3.65,
        rated_capacity_ah=200.0,
        rated_energy_kwh=108 * 3.2 * 200 / 1000,
        mass_kg=550.0,
    )
    Passport.model_validate(lfp)
    # an NMC pack's max voltage (4.2 V per cell) on a 3.2 V-nominal LFP string is implausible
    lfp["max_voltage_v"] = 108 * 4.2
    with pytest.raises(ValidationError, match="full-charge"):
        Passport.model_validate(lfp)


def test_dynamic_values_need_timezone_and_bounds():
    data = _with()
    data["dynamic"] = {"soh_pct": {"value": 90.0, "updated_at": "2025-01-01T00:00:00"}}
    with pytest.raises(ValidationError, match="timezone"):
        Passport.model_validate(data)
    data["dynamic"] = {"soc_pct": {"value": 140.0, "updated_at": "2025-01-01T00:00:00+01:00"}}
    with pytest.raises(ValidationError, match="soc_pct"):
        Passport.model_validate(data)
    data["dynamic"] = {"soh_pct": {"value": 90.0, "updated_at": "2025-01-01T01:00:00+01:00"}}
    p = Passport.model_validate(data)
    assert p.dynamic.soh_pct.updated_at == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def test_carbon_footprint_stages_must_add_up():
    data = _with()
    data["carbon_footprint"] = dict(data["carbon_footprint"], production_kg_co2e_per_kwh=40.0)
    with pytest.raises(ValidationError, match="add up"):
        Passport.model_validate(data)


def test_recycled_shares_cannot_exceed_one():
    data = _with()
    data["recycled_content"] = {"cobalt_pre_consumer_fraction": 0.6, "cobalt_post_consumer_fraction": 0.5}
    with pytest.raises(ValidationError, match="exceed 1"):
        Passport.model_validate(data)


def test_cas_check_digit():
    # CAS Registry: water 7732-18-5, lithium 7439-93-2, cobalt 7440-48-4, LiPF6 21324-40-3
    for cas in ("7732-18-5", "7439-93-2", "7440-48-4", "21324-40-3"):
        assert cas_check_digit_ok(cas)
    assert not cas_check_digit_ok("7732-18-6")
    assert not cas_check_digit_ok("water")
