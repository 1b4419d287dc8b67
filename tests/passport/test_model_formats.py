"""Passport model rules that foreign formats rely on: plain serials, chemistry families, categories,
plausibility findings as warnings for received documents, and the export's list of what a format leaves out."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from circulith.errors import InvalidInput
from circulith.passport import example_passport, example_passport_data
from circulith.passport.formats.registry import not_written
from circulith.passport.model import Passport, battery_key


def _data(**changes: object) -> dict:
    data = example_passport_data()
    data.update(changes)
    return data


def test_a_plain_serial_is_kept_as_given_but_a_phrase_is_not_an_identifier():
    assert Passport.model_validate(_data(battery_id="SN-12345/A")).battery_id == "SN-12345/A"
    assert battery_key("SN-12345/A") == "SN-12345/A"
    with pytest.raises(ValidationError, match="not a recognised identifier"):
        Passport.model_validate(_data(battery_id="not an id"))
    with pytest.raises(InvalidInput):
        battery_key("not an id")


def test_the_nmc_family_checks_against_the_envelope_of_its_members():
    p = Passport.model_validate(_data(chemistry="NMC"))
    assert p.chemistry == "NMC"


@pytest.mark.parametrize("category", ["SLI", "portable"])
def test_every_category_of_the_regulation_that_foreign_passports_use(category):
    assert Passport.model_validate(_data(category=category)).category == category


def test_plausibility_refuses_own_records_and_warns_for_received_documents():
    bad = _data(rated_energy_kwh=150.0)  # 214 Ah x 350 V = 75 kWh
    with pytest.raises(ValidationError, match="rated_energy_kwh"):
        Passport.model_validate(bad)
    warnings: list[str] = []
    received = {"format": "batterypass", "version": "1.2", "document": {}}
    p = Passport.model_validate({**bad, "received": received}, context={"plausibility": warnings})
    assert p.rated_energy_kwh == 150.0
    assert [w.split(":")[0] for w in warnings] == ["rated_energy_kwh"]
    # a stored foreign passport reads back without the context
    assert Passport.model_validate(p.model_dump(mode="json")) == p


def test_physical_impossibilities_are_refused_even_for_received_documents():
    received = {"format": "batterypass", "version": "1.2", "document": {}}
    with pytest.raises(ValidationError, match="min < nominal < max"):
        Passport.model_validate({**_data(min_voltage_v=500.0), "received": received})


def test_an_export_lists_what_the_format_has_no_place_for():
    assert not_written(example_passport(), "batterypass") == []
    assert {"labels", "carbon_footprint", "level"} <= set(not_written(example_passport(), "aas"))
