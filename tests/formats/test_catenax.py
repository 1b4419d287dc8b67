"""Catena-X io.catenax.battery.battery_pass 6.1.0: the published example both ways, refusals, the schema."""

from __future__ import annotations

import copy
import json

import pytest

from circulith.errors import InvalidInput
from circulith.passport import example_passport
from circulith.passport.formats.catenax import export_catenax, read_catenax, read_catenax_schema
from circulith.passport.formats.registry import read_documents
from circulith.passport.formats.table import get_path, leaf_paths

from .conftest import CATENAX, read_catenax_example


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(p for p in set(leaf_paths(before)) | set(leaf_paths(after)) if get_path(before, p) != get_path(after, p))


def test_shipped_schema_is_the_published_one():
    path = CATENAX / "6.1.0_BatteryPass-schema.json"
    if not path.is_file():
        pytest.skip("shared Catena-X reference not found")
    assert read_catenax_schema() == json.loads(path.read_text(encoding="utf-8"))


def test_the_published_example_round_trips_without_a_changed_value():
    doc = read_catenax_example()
    result = read_catenax(copy.deepcopy(doc))
    assert result.version == "6.1.0"
    p = result.passport
    assert p.passport_id == "urn:uuid:550e8400-e29b-41d4-a716-446655440000"
    assert p.battery_id == "SN12345678" and p.category == "SLI" and p.chemistry == "NMC"
    assert p.mass_kg == pytest.approx(0.020)  # 20 unit:gram
    assert p.predecessor_passport_id is None  # the nil UUID
    assert p.dynamic.soh_pct.value == 50.0 and p.original_power_w == 39000.0
    assert _changed(doc, export_catenax(p)) == []


def test_units_and_implausible_values_are_reported():
    findings = {f.path: f for f in read_catenax(read_catenax_example()).findings}
    assert "is held as 0.02" in findings["characteristics.physicalDimension.weight.value"].reason
    assert findings["mass_kg"].kind == "plausibility" and "Wh/kg" in findings["mass_kg"].reason
    assert findings["materials.active.nickel.recycled"].kind == "kept"


def test_the_example_as_published_is_refused_at_its_path():
    with pytest.raises(InvalidInput) as exc:
        read_catenax(read_catenax_example(repair=False))
    assert exc.value.problems[0].field == "operation.intoServiceDate"
    assert str(exc.value).startswith("Catena-X battery_pass document:")


def test_schema_violations_and_unvalidated_garbage_name_the_json_path():
    doc = read_catenax_example()
    doc["identification"]["category"] = "car"
    with pytest.raises(InvalidInput) as exc:
        read_catenax(doc)
    assert [p.field for p in exc.value.problems] == ["identification.category"]
    with pytest.raises(InvalidInput) as exc:
        read_catenax({"metadata": {}, "identification": {}}, validate=False)
    assert "Catena-X battery_pass document" in str(exc.value)


def test_detected_and_read_from_bytes_in_utf16():
    data = json.dumps(read_catenax_example()).encode("utf-16")
    (result,) = read_documents(data, source="cx.json")
    assert result.format == "catenax"


def test_a_native_passport_export_names_what_catenax_requires_and_circulith_lacks():
    with pytest.raises(InvalidInput) as exc:
        export_catenax(example_passport())
    assert "fire class" in str(exc.value)
    with pytest.raises(InvalidInput) as exc:
        export_catenax(example_passport(), strict=False)
    assert "circulith holds no value for it" in str(exc.value)


@pytest.mark.parametrize(
    ("doc", "version"),
    [
        ({"electrochemicalProperties": {}, "batteryIdentification": {}, "cellChemistry": {}}, "3.x"),
        ({"metadata": {"passportIdentifier": {"left": "urn:uuid:x"}}, "identification": {}, "generalInformation": {}},
         "4.x"),
    ],
)
def test_older_layouts_are_recognised_and_refused_by_name(doc, version):
    with pytest.raises(InvalidInput, match=f"battery_pass {version} layout"):
        read_documents(json.dumps(doc).encode(), source="old.json")
