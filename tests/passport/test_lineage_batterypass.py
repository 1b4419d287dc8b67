"""Successor passports (Art. 77(7)) and the Battery Pass v1.2 export/import."""

from __future__ import annotations

import copy
import json

import pytest

from circulith.errors import InvalidInput, TransitionRefused
from circulith.passport import (
    ASPECTS,
    Party,
    example_passport,
    export_batterypass,
    import_batterypass,
    successor_passport,
    superseded_passport,
    validate_aspect,
    validate_batterypass,
)

SECOND_LIFE = Party(id="EORI:NL0000000000003", name="Second Life BV")
NEW_ID = "https://id.gs1.org/01/09506000134352/21/SL-0001"


def test_successor_links_to_predecessor_and_keeps_history():
    old = example_passport()
    new = successor_passport(
        old, "repurposed", new_battery_id=NEW_ID, operator=SECOND_LIFE, category="stationary"
    )
    assert new.predecessor_passport_id == old.passport_id
    assert new.passport_id != old.passport_id and new.battery_id == NEW_ID
    assert new.status == "repurposed" and new.category == "stationary" and new.operator == SECOND_LIFE
    assert new.dynamic == old.dynamic and new.materials == old.materials
    assert superseded_passport(old, "repurposed").status == "repurposed"
    assert old.status == "original"  # the input is not mutated


def test_successor_refusals():
    old = example_passport()
    with pytest.raises(InvalidInput, match="original battery"):
        successor_passport(old, "repurposed", new_battery_id=old.battery_id, operator=SECOND_LIFE)
    with pytest.raises(InvalidInput, match="successor passport is for"):
        successor_passport(old, "waste", new_battery_id=NEW_ID, operator=SECOND_LIFE)  # type: ignore[arg-type]
    with pytest.raises(TransitionRefused):
        successor_passport(
            example_passport(status="waste"), "reused", new_battery_id=NEW_ID, operator=SECOND_LIFE
        )
    with pytest.raises(InvalidInput, match="rated_energy_kwh"):
        successor_passport(
            old, "remanufactured", new_battery_id=NEW_ID, operator=SECOND_LIFE, rated_energy_kwh=7.5
        )


def test_export_validates_and_round_trips():
    p = example_passport()
    doc = export_batterypass(p)
    assert set(ASPECTS) <= set(doc)
    validate_batterypass(doc)
    json.dumps(doc)  # plain JSON
    assert doc["GeneralProductInformation"]["batteryPassportIdentifier"] == "urn:uuid:" + p.passport_id[
        9:
    ].replace("-", "")
    assert doc["GeneralProductInformation"]["manufacturingDate"] == "2023-04-01T00:00:00Z"
    assert import_batterypass(doc) == p


def test_round_trip_of_successor_with_accidents_and_non_urn_passport_id():
    base = example_passport()
    dyn = base.dynamic.model_dump()
    dyn["accidents"] = [{"date": "2024-03-02", "kind": "crash", "description": "rear impact, housing dented"}]
    p = example_passport(dynamic=dyn)
    s = successor_passport(
        p,
        "remanufactured",
        new_battery_id="05APEA10000001P4H0000777",
        new_passport_id="https://passports.example.com/p/77",
        operator=SECOND_LIFE,
    )
    doc = export_batterypass(s)
    assert doc["GeneralProductInformation"]["batteryPassportIdentifier"].startswith("urn:circulith:")
    assert import_batterypass(doc) == s


def test_strict_export_lists_every_missing_value():
    p = example_passport(test_report_url=None, carbon_footprint=None, dynamic={})
    with pytest.raises(InvalidInput) as exc:
        export_batterypass(p)
    fields = {pr.field for pr in exc.value.problems}
    assert {"test_report_url", "carbon_footprint", "dynamic.soh_pct"} <= fields


def test_schema_violations_are_reported_by_path():
    doc = copy.deepcopy(export_batterypass(example_passport()))
    doc["GeneralProductInformation"]["batteryCategory"] = "car"
    doc["Circularity"]["recycledContent"][0]["preConsumerShare"] = 150
    del doc["Labeling"]
    with pytest.raises(InvalidInput) as exc:
        validate_batterypass(doc)
    fields = {pr.field for pr in exc.value.problems}
    assert "GeneralProductInformation.batteryCategory" in fields
    assert "Circularity.recycledContent.0.preConsumerShare" in fields
    assert "Labeling" in fields


def test_shipped_example_payloads_validate(batterypass_dir):
    for aspect in ASPECTS:
        payload = json.loads(
            (batterypass_dir / "payload" / f"{aspect}.payload.json").read_text(encoding="utf-8")
        )
        problems = validate_aspect(aspect, payload)
        if aspect == "MaterialComposition":
            # published defect: the example CAS number carries a trailing space ("7439-93-2 ")
            assert [p.field for p in problems] == [
                "MaterialComposition.batteryMaterials.0.batteryMaterialIdentifier"
            ]
            payload["batteryMaterials"][0]["batteryMaterialIdentifier"] = "7439-93-2"
            problems = validate_aspect(aspect, payload)
        assert problems == [], aspect


def test_shipped_schemas_are_the_published_ones(batterypass_dir):
    from circulith.passport.formats.batterypass import read_batterypass_schema

    for aspect in ASPECTS:
        published = json.loads(
            (batterypass_dir / "schema" / f"{aspect}.schema.json").read_text(encoding="utf-8")
        )
        assert read_batterypass_schema(aspect) == published
