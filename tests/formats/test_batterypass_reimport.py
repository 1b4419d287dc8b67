"""Passports round-trip through the registry: an unchanged Battery Pass export imports again as the same.

The export carries the passport as it stands (status and dynamic values updated by events since its
registration), so the re-import is compared with that, in the same normalised form: recognised as
already recorded, nothing written. A hyphenated ``urn:uuid`` passport identifier, which the published
pattern refuses, is read as the same UUID; a refused identifier's message shows the pattern as written.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from circulith.cli.main import run
from circulith.services.demo import build_demo
from circulith.services.registry import passport_document, verify
from circulith.store.database import create_db_engine, transaction
from circulith.store.models import Battery


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    path = tmp_path_factory.mktemp("bp") / "r.db"
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    build_demo(engine, 40, seed=21, today=dt.date(2026, 11, 1))
    with transaction(engine) as s:
        bid, maker = s.execute(select(Battery.battery_id, Battery.manufacturer_id).where(
            Battery.level == "pack", Battery.lifecycle_state == "in_service").order_by(Battery.battery_id)
            .limit(1)).one()
    yield url, engine, bid, maker
    engine.dispose()


def _export(url: str, maker: str, bid: str, out) -> dict:
    assert run(["--db", url, "--as", maker, "passport", "export", bid, "--format", "batterypass", "--out",
                str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_an_unchanged_export_imports_again_as_already_recorded(registry, tmp_path, capsys):
    url, engine, bid, maker = registry
    passport, state = passport_document(engine, bid)
    assert passport.dynamic.full_cycles is not None, "the demo's BMS readings updated the passport"
    _export(url, maker, bid, tmp_path / "bp.json")
    capsys.readouterr()
    head = verify(engine).head_global_seq
    for who in (maker, None):  # the maker, and the registry operator
        args = ["--db", url, *(["--as", who] if who else []), "import", "passports", str(tmp_path / "bp.json")]
        assert run(args) == 0, capsys.readouterr().err
        assert "0 written, 1 already recorded" in capsys.readouterr().out
    assert verify(engine).head_global_seq == head


def test_a_hyphenated_urn_uuid_is_the_same_passport_identifier(registry, tmp_path, capsys):
    url, engine, bid, maker = registry
    doc = _export(url, maker, bid, tmp_path / "bp.json")
    capsys.readouterr()
    passport_id = passport_document(engine, bid)[0].passport_id
    assert doc["GeneralProductInformation"]["batteryPassportIdentifier"] == passport_id.replace("-", "")
    doc["GeneralProductInformation"]["batteryPassportIdentifier"] = passport_id.upper().replace("URN:UUID:",
                                                                                                "urn:uuid:")
    (tmp_path / "hy.json").write_text(json.dumps(doc), encoding="utf-8")
    assert run(["--db", url, "--as", maker, "import", "passports", str(tmp_path / "hy.json")]) == 0, \
        capsys.readouterr().err
    assert "1 already recorded" in capsys.readouterr().out
    # An identifier the registry does not accept either: the pattern is shown as published, brackets included.
    doc["GeneralProductInformation"]["batteryPassportIdentifier"] = "urn:x:not_valid"
    (tmp_path / "bad.json").write_text(json.dumps(doc), encoding="utf-8")
    assert run(["--db", url, "--as", maker, "import", "passports", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "'^urn:[a-z0-9]+:[a-z0-9]+$'" in err and "batteryPassportIdentifier" in err
