"""Every passport of a small generated demo fleet exports in each format and reads back."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from circulith.demo.fleet import generate_fleet
from circulith.errors import InvalidInput
from circulith.passport import Passport
from circulith.passport.formats.aas import export_aas, read_aas
from circulith.passport.formats.batterypass import export_batterypass, import_batterypass
from circulith.passport.formats.catenax import export_catenax, read_catenax
from circulith.passport.formats.catenax.mapping import TABLE as CATENAX_TABLE
from circulith.passport.formats.table import dump

FLEET = generate_fleet(4, seed=7, today=dt.date(2026, 12, 1)).passports


def test_fractional_equivalent_full_cycles_export_as_the_completed_whole_cycles():
    data = FLEET[0].model_dump(mode="json")
    data["dynamic"]["full_cycles"] = {"value": 570.2, "updated_at": "2026-11-30T00:00:00Z"}
    passport = Passport.model_validate(data)
    back = read_aas(export_aas(passport)).passport
    assert back.dynamic.full_cycles is not None and back.dynamic.full_cycles.value == 570


@pytest.mark.parametrize("passport", FLEET, ids=lambda p: p.battery_id)
def test_battery_pass_export_reads_back(passport):
    back = import_batterypass(export_batterypass(passport))
    assert back.battery_id == passport.battery_id
    assert back.extinguishing_agent == passport.extinguishing_agent


@pytest.mark.parametrize("passport", FLEET, ids=lambda p: p.battery_id)
def test_aas_export_writes_the_completed_full_cycles_and_reads_back(passport):
    back = read_aas(export_aas(passport)).passport
    assert back.battery_id == passport.battery_id
    if passport.dynamic.full_cycles is not None:
        assert back.dynamic.full_cycles.value == math.floor(passport.dynamic.full_cycles.value)


@pytest.mark.parametrize("passport", FLEET, ids=lambda p: p.battery_id)
def test_catenax_holds_a_fire_class_for_every_demo_agent(passport):
    doc, missing = dump(CATENAX_TABLE, passport.model_dump(mode="json"))
    assert not [m for m in missing if "fire class" in m]
    assert doc["safety"]["usableExtinguishAgent"] == [{"media": "water, large quantities", "fireClass": "A"}]


def test_an_agent_without_fire_class_is_refused_in_one_line_naming_passport_and_agent():
    passport = FLEET[0].model_copy(update={"extinguishing_agent": ["foam"]})
    with pytest.raises(InvalidInput) as exc:
        export_catenax(passport, validate=False)
    assert passport.battery_id in str(exc.value) and "fire class ('foam')" in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.xfail(strict=True, reason="the Catena-X 6.1.0 schema requires BPN identifiers and ~30 properties "
                   "(materials, commercial, idDmc, dynamic fades ...) that the passport model does not hold")
@pytest.mark.parametrize("passport", FLEET[:1], ids=lambda p: p.battery_id)
def test_catenax_export_reads_back(passport):
    back = read_catenax(export_catenax(passport)).passport
    assert back.extinguishing_agent == passport.extinguishing_agent
