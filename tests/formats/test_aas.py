"""IDTA 02035 Digital Battery Passport as AAS v3 (JSON and AASX), checked with aas-core3.0 and the templates."""

from __future__ import annotations

import copy
import json

import aas_core3.jsonization as aas_json
import aas_core3.verification as aas_verify
import pytest

from circulith.cli.main import run
from circulith.errors import InvalidInput
from circulith.passport import example_passport
from circulith.passport.formats.aas import check_semantic_ids, export_aas, read_aas, read_aasx, write_aasx
from circulith.passport.formats.aas.io import view_semantic_ids
from circulith.passport.formats.registry import read_documents
from circulith.passport.formats.table import get_path, leaf_paths

from .conftest import IDTA, as_manufacturer, read_idta_examples


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(p for p in set(leaf_paths(before)) | set(leaf_paths(after)) if get_path(before, p) != get_path(after, p))


def test_the_idta_examples_round_trip_without_a_changed_value():
    env = read_idta_examples()
    result = read_aas(copy.deepcopy(env))
    p = result.passport
    assert p.battery_id == "A12345-X75EN" and p.manufacturing_date == "2022-01"
    assert p.rated_capacity_ah == 210 and p.dynamic.soh_pct.value == 70
    assert p.warranty_years == 8  # P96M
    assert _changed(env, export_aas(p)) == []


def test_published_constraint_violations_are_findings_not_refusals():
    kinds = {f.kind for f in read_aas(read_idta_examples()).findings}
    assert {"kept", "conformance", "plausibility"} <= kinds


def test_a_native_export_is_a_verified_instance_with_the_templates_semantic_ids():
    env = export_aas(example_passport())
    assert list(aas_verify.verify(aas_json.environment_from_jsonable(env))) == []
    assert check_semantic_ids(env) == []
    ids = view_semantic_ids(env)
    assert ids["TechnicalData"] == "https://admin-shell.io/idta/digitalbatterypassport/TechnicalData/1/0"
    assert ids["BatteryNameplate"] == "https://admin-shell.io/idta/digitalbatterypassport/nameplate/1/0/Nameplate"
    back = read_aas(env).passport
    assert back.rated_energy_kwh == example_passport().rated_energy_kwh
    assert back.materials.cobalt_kg == example_passport().materials.cobalt_kg
    assert back.dynamic.soh_pct == example_passport().dynamic.soh_pct


def test_semantic_ids_are_checked_against_the_templates():
    env = export_aas(example_passport())
    env["submodels"][1]["semanticId"]["keys"][0]["value"] = "urn:example:not-the-template"
    assert [m.split(":")[0] for m in check_semantic_ids(env)] == ["TechnicalData"]


def test_the_templates_semantic_ids_match_the_published_examples():
    if not IDTA.is_dir():
        pytest.skip("shared IDTA reference not found")
    published = view_semantic_ids(read_idta_examples())
    exported = view_semantic_ids(export_aas(example_passport()))
    assert {k: v for k, v in exported.items() if k in published and "*" not in k} == {
        k: published[k] for k in exported if k in published and "*" not in k}


def test_aasx_both_ways(tmp_path, capsys):
    package = write_aasx(export_aas(example_passport()))
    (env,) = read_aasx(package)
    (result,) = read_documents(package, source="passport.aasx")
    assert result.format == "aas" and result.passport.battery_id == example_passport().battery_id
    with pytest.raises(InvalidInput, match="not a readable AASX"):
        read_aasx(b"PK\x03\x04 broken")


def test_refusals_name_the_path():
    env = read_idta_examples()
    env["submodels"][0]["submodelElements"] = "not a list"
    with pytest.raises(InvalidInput) as exc:
        read_aas(env)
    assert "AAS environment (IDTA 02035)" in str(exc.value) and "submodels[0].submodelElements" in str(exc.value)
    with pytest.raises(InvalidInput) as exc:
        read_aas(read_idta_examples(repair=False))
    assert exc.value.problems[0].field == "TechnicalData.TechnicalPropertyAreas.PowerCapability.MaximumPermittedBatteryPower"


def test_cli_aas_in_and_out(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'aas.db'}"
    assert run(["--db", db, "db", "upgrade"]) == 0
    capsys.readouterr()
    src = tmp_path / "dbp.json"
    env = read_idta_examples()
    src.write_text(json.dumps(env), encoding="utf-8")
    assert run(["--db", db, "import", "passports", str(src), "--format", "aas", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "aas"
    out = tmp_path / "out.json"
    maker = as_manufacturer(db, "A12345-X75EN")
    assert run(["--db", db, *maker, "passport", "export", "A12345-X75EN", "--format", "aas", "--out", str(out)]) == 0
    assert _changed(env, json.loads(out.read_text(encoding="utf-8"))) == []
    pkg = tmp_path / "out.aasx"
    assert run(["--db", db, *maker, "passport", "export", "A12345-X75EN", "--format", "aas", "--out", str(pkg)]) == 0
    capsys.readouterr()
    assert run(["--db", db, "import", "passports", str(pkg), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "aas" and report["unchanged"] == 1  # the package holds the same passport
