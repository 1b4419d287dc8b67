"""Foreign Battery Pass v1.2 documents: lossless round trips, reported losses, vocabulary, refusals.

The document is the Battery Pass consortium's own v1.2 example (seven payloads in
``../shared/reference/batterypass/payload``), minimally repaired (see ``conftest.REPAIRS``).
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from circulith.errors import InvalidInput
from circulith.passport import example_passport
from circulith.passport.formats.batterypass import export_batterypass, import_batterypass
from circulith.passport.formats.batterypass.importing import read_batterypass
from circulith.passport.formats.table import get_path, leaf_paths

G = "GeneralProductInformation"
TECH = "PerformanceAndDurability.batteryTechicalProperties"


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(p for p in set(leaf_paths(before)) | set(leaf_paths(after)) if get_path(before, p) != get_path(after, p))


def test_the_consortium_example_round_trips_without_a_changed_value(batterypass_example):
    result = read_batterypass(copy.deepcopy(batterypass_example))
    assert result.format == "batterypass"
    out = export_batterypass(result.passport)  # strict and schema-validated
    assert _changed(batterypass_example, out) == []


def test_identifiers_are_kept_as_given(batterypass_example):
    p = read_batterypass(batterypass_example).passport
    assert p.passport_id == "urn:bmwk:123456687678"
    assert p.battery_id == "eOMtThyhVNLWUZNRcBaQKxI"  # a plain serial number, refused before
    assert export_batterypass(p)[G]["batteryPassportIdentifier"] == "urn:bmwk:123456687678"


def test_what_the_passport_cannot_hold_is_reported_not_dropped(batterypass_example):
    findings = {f.path: f for f in read_batterypass(batterypass_example).findings}
    for path in (
        f"{TECH}.cRate",
        f"{G}.manufacturerInformation.webAddress",
        "MaterialComposition.batteryMaterials.0.batteryMaterialLocation.componentId",
        f"{TECH}.originalPowerCapability.0.atSoC",
        "Circularity.dismantlingAndRemovalInformation.0.documentType",
        f"{G}.manufacturingDate",
    ):
        assert findings[path].kind == "kept", path
    assert "50.0 is held as 80.0" in findings[f"{TECH}.originalPowerCapability.0.atSoC"].reason
    # the same instant written with another offset is not a loss
    assert "PerformanceAndDurability.batteryCondition.stateOfCharge.lastUpdate" not in findings


def test_a_material_listed_twice_keeps_both_masses(batterypass_example):
    doc = copy.deepcopy(batterypass_example)
    doc["MaterialComposition"]["batteryMaterials"].append(
        {"batteryMaterialIdentifier": "7439-93-2", "batteryMaterialMass": 50.0, "batteryMaterialName": "Lithium",
         "batteryMaterialLocation": {"componentName": "Cathode"}, "isCriticalRawMaterial": True})
    doc[G]["batteryMass"] = 699
    p = read_batterypass(doc).passport
    assert p.materials.lithium_kg == pytest.approx(51.5)  # the battery holds both
    mats = export_batterypass(p)["MaterialComposition"]["batteryMaterials"]
    assert [m["batteryMaterialMass"] for m in mats] == [1.5, 50.0]


def test_materials_beyond_the_six_elements_are_kept(batterypass_example):
    doc = copy.deepcopy(batterypass_example)
    extra = [("Aluminium", "7429-90-5"), ("Copper", "7440-50-8"), ("Iron", "7439-89-6"), ("Phosphorus", "7723-14-0"),
             ("Fluorine", "7782-41-4"), ("Carbon black", "1333-86-4"), ("Silicon", "7440-21-3")]
    for name, cas in extra:
        doc["MaterialComposition"]["batteryMaterials"].append(
            {"batteryMaterialIdentifier": cas, "batteryMaterialMass": 2.0, "batteryMaterialName": name,
             "batteryMaterialLocation": {"componentName": "Cell"}, "isCriticalRawMaterial": False})
    result = read_batterypass(doc)
    kept = {f.path for f in result.findings}
    assert "MaterialComposition.batteryMaterials.7.batteryMaterialMass" in kept
    assert _changed(doc, export_batterypass(result.passport)) == []


def test_a_changed_value_is_written_and_nothing_else_moves(batterypass_example):
    p = read_batterypass(batterypass_example).passport
    soh = p.dynamic.soh_pct.model_copy(update={"value": 91.0, "updated_at": dt.datetime(2025, 9, 1, tzinfo=dt.UTC)})
    changed = p.model_copy(update={"dynamic": p.dynamic.model_copy(update={"soh_pct": soh})})
    out = export_batterypass(changed)
    assert _changed(batterypass_example, out) == [
        "PerformanceAndDurability.batteryCondition.stateOfCertifiedEnergy.lastUpdate",
        "PerformanceAndDurability.batteryCondition.stateOfCertifiedEnergy.stateOfCertifiedEnergyValue",
    ]
    assert out["PerformanceAndDurability"]["batteryCondition"]["stateOfCertifiedEnergy"] == {
        "stateOfCertifiedEnergyValue": 91.0, "lastUpdate": "2025-09-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("name", "code"),
    [("NMC", "NMC"), ("Li-NMC", "NMC"), ("NCM811", "NMC811"), ("LiFePO4", "LFP"), ("NMC 622", "NMC622"),
     ("lfp", "LFP")],
)
def test_chemistry_names_from_the_shipped_table(batterypass_example, name, code):
    doc = copy.deepcopy(batterypass_example)
    doc["MaterialComposition"]["batteryChemistry"]["shortName"] = name
    if code == "LFP":  # an LFP pack of the example's capacity: 12 cells of 3.2 V
        doc["PerformanceAndDurability"]["batteryTechicalProperties"].update(nominalVoltage=38.4, minimumVoltage=30.0, maximumVoltage=43.2, ratedEnergy=0.77)
    p = read_batterypass(doc).passport
    assert p.chemistry == code
    assert export_batterypass(p)["MaterialComposition"]["batteryChemistry"]["shortName"] == name


def test_an_unknown_chemistry_is_refused_at_its_json_path(batterypass_example):
    doc = copy.deepcopy(batterypass_example)
    doc["MaterialComposition"]["batteryChemistry"]["shortName"] = "Unobtainium"
    with pytest.raises(InvalidInput) as exc:
        read_batterypass(doc)
    assert exc.value.problems[0].field == "MaterialComposition.batteryChemistry.shortName"
    assert "unknown chemistry" in str(exc.value) and str(exc.value).startswith("Battery Pass document:")


def test_plausibility_findings_are_warnings_with_their_reason(batterypass_example):
    doc = copy.deepcopy(batterypass_example)
    doc["PerformanceAndDurability"]["batteryTechicalProperties"]["ratedEnergy"] = 2.0  # 20 Ah x 36 V = 0.72 kWh
    result = read_batterypass(doc)
    warnings = [f for f in result.findings if f.kind == "plausibility"]
    assert [w.path for w in warnings] == ["rated_energy_kwh"]
    assert "disagrees with rated capacity x nominal voltage" in warnings[0].reason
    with pytest.raises(InvalidInput, match="rated_energy_kwh"):
        import_batterypass(doc)  # the strict reader refuses, as before


def test_a_physically_impossible_value_is_refused(batterypass_example):
    doc = copy.deepcopy(batterypass_example)
    doc[G]["batteryMass"] = -5
    with pytest.raises(InvalidInput) as exc:
        read_batterypass(doc)
    assert exc.value.problems[0].field == f"{G}.batteryMass"


def test_without_validation_foreign_documents_are_refused_in_words_not_key_errors():
    for doc in ({}, {"GeneralProductInformation": {}}, {"MaterialComposition": {"batteryMaterials": "x"}}):
        with pytest.raises(InvalidInput) as exc:
            read_batterypass(doc, validate=False)
        assert str(exc.value).startswith("Battery Pass document:")
    with pytest.raises(InvalidInput, match="JSON object"):
        read_batterypass([1, 2], validate=False)  # type: ignore[arg-type]


def test_one_carbon_footprint_stage_exports():
    p = example_passport()
    cf = p.carbon_footprint.model_copy(update={"production_kg_co2e_per_kwh": None, "distribution_kg_co2e_per_kwh": None,
                                               "end_of_life_kg_co2e_per_kwh": None})
    doc = export_batterypass(p.model_copy(update={"carbon_footprint": cf}))
    stages = doc["CarbonFootprintForBatteries"]["carbonFootprintPerLifecycleStage"]
    assert [s["lifecycleStage"] for s in stages] == ["RawMaterialExtraction"]


def test_own_exports_keep_no_received_copy():
    p = example_passport()
    assert read_batterypass(export_batterypass(p)).passport == p
    assert read_batterypass(export_batterypass(p)).findings == []
