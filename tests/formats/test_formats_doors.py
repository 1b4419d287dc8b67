"""Passport formats through the CLI and the API: detection, UTF-16, one-line refusals, access, parity."""

from __future__ import annotations

import copy
import json

import pytest
from fastapi.testclient import TestClient

from circulith.api.settings import Settings
from circulith.cli.main import run
from circulith.passport.formats.table import get_path, leaf_paths
from circulith.server import create_app
from circulith.services.demo import build_demo
from circulith.services.demo_users import DEMO_PASSWORD, demo_email, seed_demo_users
from circulith.store.database import create_db_engine, upgrade

from .conftest import as_manufacturer, read_example

MAKER = "OEM-ALBIS"


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(p for p in set(leaf_paths(before)) | set(leaf_paths(after)) if get_path(before, p) != get_path(after, p))


@pytest.fixture
def db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'formats.db'}"
    assert run(["--db", url, "db", "upgrade"]) == 0
    return url


def test_cli_imports_utf16_battery_pass_and_exports_it_unchanged(db, tmp_path, capsys):
    doc = read_example()
    src = tmp_path / "PerformanceAndDurability-utf16.json"
    src.write_text(json.dumps(doc), encoding="utf-16")  # as the consortium publishes some payloads
    assert run(["--db", db, "import", "passports", str(src), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "batterypass" and report["written"] == 1
    assert any(f["path"].endswith("cRate") for f in report["passports"][0]["findings"])
    assert run(["--db", db, "import", "passports", str(src), "--format", "batterypass", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unchanged"] == 1  # re-running duplicates nothing
    out = tmp_path / "out.json"
    maker = as_manufacturer(db, "urn:bmwk:123456687678")
    assert run(["--db", db, *maker, "passport", "export", "urn:bmwk:123456687678", "--format", "batterypass",
                "--out", str(out)]) == 0
    assert _changed(doc, json.loads(out.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'{"GeneralProductInformation": {"batteryMass": "x"}}', "Battery Pass document: input, field 'GeneralProductInformation"),
        (b'{"a": ', "malformed JSON: Expecting value (line 1"),
        (b"\xff\xfe\xfe", "not UTF-16 text"),
        (b'{"unknown": 1}', "not a passport document of a known format"),
    ],
)
@pytest.mark.parametrize("validate", [True, False])
def test_cli_refuses_bad_documents_in_one_line(db, tmp_path, capsys, content, needle, validate):
    src = tmp_path / "bad.json"
    src.write_bytes(content)
    args = ["--db", db, "import", "passports", str(src)] + ([] if validate else ["--no-validate"])
    assert run(args) == 2
    err = capsys.readouterr().err
    assert needle in err or (not validate and "Battery Pass" in needle and "Battery Pass document" in err)
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2  # one message (wrapped at most once)


def test_cli_format_mismatch_and_unknown_format(db, tmp_path, capsys):
    src = tmp_path / "bp.json"
    src.write_text(json.dumps(read_example()), encoding="utf-8")
    assert run(["--db", db, "import", "passports", str(src), "--format", "aas"]) == 2
    assert "looks like Battery Pass document" in capsys.readouterr().err
    assert run(["--db", db, "import", "passports", str(src), "--format", "xml"]) == 2
    assert "unknown format 'xml'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    path = tmp_path_factory.mktemp("formats-api") / "registry.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    build_demo(engine, 2)
    seed_demo_users(engine)
    app = create_app(Settings(database_url=f"sqlite:///{path}", env="test"), engine=engine)
    yield app
    engine.dispose()


def _login(app, org: str) -> tuple[TestClient, dict[str, str]]:
    client = TestClient(app)
    r = client.post("/api/v1/auth/login", json={"email": demo_email(org), "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    return client, {"X-CSRF-Token": r.json()["csrf_token"]}


def test_api_import_and_export_by_the_manufacturer(api):
    doc = read_example()
    doc["GeneralProductInformation"]["manufacturerInformation"]["identifier"] = MAKER
    client, csrf = _login(api, MAKER)
    body = json.dumps(doc).encode("utf-16")
    r = client.post("/api/v1/imports/passports", content=body, headers={**csrf, "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["written"] == 1 and r.json()["format"] == "batterypass"
    r = client.get("/api/v1/exports/batterypass/urn:bmwk:123456687678")
    assert r.status_code == 200, r.text
    assert _changed(doc, r.json()["document"]) == []
    other, _ = _login(api, "OEM-NORDVIK")
    r = other.get("/api/v1/exports/batterypass/urn:bmwk:123456687678")
    assert r.status_code == 403 and "manufacturer" in r.json()["error"]["message"]


def test_api_refuses_foreign_batteries_and_bad_documents(api):
    client, csrf = _login(api, "OEM-NORDVIK")
    doc = copy.deepcopy(read_example())
    r = client.post("/api/v1/imports/passports", content=json.dumps(doc), headers=csrf)
    assert r.status_code == 403 and "is not your organisation" in r.json()["error"]["message"]
    r = client.post("/api/v1/imports/passports?validate=false", content=b'{"GeneralProductInformation": {}}',
                    headers=csrf)
    assert r.status_code == 422
    assert "Battery Pass document" in r.json()["error"]["message"] and "GeneralProductInformation" in r.json()["error"]["message"]


def test_cli_catenax_in_and_out(db, tmp_path, capsys):
    from .conftest import read_catenax_example

    doc = read_catenax_example()
    src = tmp_path / "cx.json"
    src.write_text(json.dumps(doc), encoding="utf-8")
    assert run(["--db", db, "import", "passports", str(src), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "catenax"
    out = tmp_path / "cx-out.json"
    maker = as_manufacturer(db, "SN12345678")
    assert run(["--db", db, *maker, "passport", "export", "SN12345678", "--format", "catenax", "--out", str(out)]) == 0
    assert _changed(doc, json.loads(out.read_text(encoding="utf-8"))) == []


def test_cli_record_options_are_refused_for_foreign_documents(db, tmp_path, capsys):
    src = tmp_path / "bp.json"
    src.write_text(json.dumps(read_example()), encoding="utf-8")
    assert run(["--db", db, "import", "passports", str(src), "--skip-invalid"]) == 2
    assert "all or nothing" in capsys.readouterr().err
