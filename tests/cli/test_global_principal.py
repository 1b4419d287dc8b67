"""Every command group acts as the one global principal: ``circulith --as ORG`` or ``CIRCULITH_AS``.

No subcommand names its own acting organisation: what a command records names the global
organisation as its actor, and what it shows is that organisation's scope (the same access rules
as the API's). A ``--as`` given after the subcommand is a usage error, never silently ignored.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from circulith.cli.main import run
from circulith.services.demo import build_demo
from circulith.services.registry import history, passport_document
from circulith.store.database import create_db_engine, transaction
from circulith.store.models import Battery

RECEIVER = "REC-NORDMET"
Registry = tuple[str, Engine]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    path = tmp_path_factory.mktemp("principal") / "demo.db"
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    build_demo(engine, 200, seed=21, today=dt.date(2026, 11, 1))
    return url, engine


def _cli(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    code = run(["--db", url, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _truck(engine: Engine, n: int) -> list[str]:
    with transaction(engine) as s:
        return list(s.execute(select(Battery.battery_id).where(
            Battery.level == "pack", Battery.lifecycle_state.in_(["collected", "removed", "evaluated"]),
            Battery.custodian_org_id.like("DIS-%")).order_by(Battery.battery_id).limit(n)).scalars())


def test_triage_records_as_the_global_organisation(registry: Registry, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url, engine = registry
    truck = tmp_path / "truck.txt"
    truck.write_text("\n".join(_truck(engine, 12)) + "\n", encoding="utf-8")
    code, out, err = _cli(capsys, url, "receive", "--from", str(truck), "--org", RECEIVER, "--json")
    assert code == 0, err
    cons = json.loads(out)["consignment_id"]
    # a --as after the subcommand is refused, not ignored in favour of the registry operator
    code, _, err = _cli(capsys, url, "triage", "grade", "--consignment", cons, "--as", RECEIVER)
    assert code == 2 and "No such option: --as" in err
    grades = tmp_path / "grades.json"
    monkeypatch.setenv("CIRCULITH_AS", RECEIVER)  # the environment's organisation, as the global option's
    code, out, err = _cli(capsys, url, "triage", "grade", "--consignment", cons, "--out", str(grades), "--json")
    assert code == 0, err
    graded = json.loads(out)
    assert graded["scope"] == RECEIVER and graded["graded_packs"] == 12 and graded["events_written"] > 0
    for u in graded["units"][:40]:
        last = history(engine, u["battery_id"])[-2:]
        assert [(e["kind"], e["actor_org_id"]) for e in last] == [("tested", RECEIVER), ("graded", RECEIVER)]
    monkeypatch.delenv("CIRCULITH_AS")
    code, out, err = _cli(capsys, url, "--as", RECEIVER, "triage", "regroup", str(grades), "--record", "--json")
    assert code == 0, err
    groups = json.loads(out)["groups"]
    assert groups, "a 12-pack truck of the demo holds modules fit for a second life"
    for g in groups[:3]:
        pack, _ = passport_document(engine, g["successor_battery_id"])
        assert pack.operator is not None and pack.operator.id == RECEIVER
        assert history(engine, g["successor_battery_id"])[0]["actor_org_id"] == RECEIVER
    # a fit module left over: its successor's operator is, by default, the organisation acting
    used = {b for g in groups for b in g["battery_ids"]}
    spare = next(u["battery_id"] for u in graded["units"] if u["level"] == "module"
                 and u["grade"] in ("reuse", "repurpose") and u["battery_id"] not in used)
    new_id = "urn:uuid:3f1d2b7a-9c4e-4f7b-8a2d-5e6c7b8a9d01"
    code, _, err = _cli(capsys, url, "--as", RECEIVER, "passport", "successor", spare, "--status", "repurposed",
                        "--new-id", new_id)
    assert code == 0, err
    successor, _ = passport_document(engine, new_id)
    assert successor.operator is not None and successor.operator.id == RECEIVER


def test_compliance_late_is_shown_only_to_the_global_organisations_role(registry: Registry,
                                                                        capsys: pytest.CaptureFixture[str],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = registry
    args = ("compliance", "late", "--year", "2026", "--json")
    code, _, err = _cli(capsys, url, "--as", "DIS-KREIS", *args)  # a dismantler sees no one else's record
    assert code == 2 and "only authorities" in err
    monkeypatch.setenv("CIRCULITH_AS", "DIS-KREIS")
    code, _, err = _cli(capsys, url, *args)
    assert code == 2 and "only authorities" in err
    code, out, err = _cli(capsys, url, "--as", "MSA-DE", *args)  # the global option wins over the environment
    assert code == 0, err
    assert {o["org_id"] for o in json.loads(out)["operators"]} >= {"DIS-KREIS", "DIS-RECUP"}


def test_national_view_is_the_global_authoritys(registry: Registry, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = registry
    code, out, err = _cli(capsys, url, "--as", "MSA-DE", "national", "view", "--json")  # the README's command
    assert code == 0, err
    view = json.loads(out)
    assert view["org_id"] == "MSA-DE" and view["regions"] == ["DE"]
    assert {r["region"] for r in view["inventory"]} <= {"DE"}
    monkeypatch.setenv("CIRCULITH_AS", "MSA-DE")
    code, out, err = _cli(capsys, url, "national", "view", "--json")
    assert code == 0, err
    assert json.loads(out) == view
    code, _, err = _cli(capsys, url, "--as", "OEM-ALBIS", "national", "view")
    assert code == 2 and "Traceback" not in err


def test_ledger_keys_and_signatures_as_the_global_organisation(registry: Registry, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = registry
    keys = str(tmp_path / "keys")
    code, out, err = _cli(capsys, url, "--as", "OEM-NORDVIK", "ledger", "keygen", "--key-dir", keys, "--json")
    assert code == 0, err
    assert json.loads(out)["org_id"] == "OEM-NORDVIK"  # its own key, by default
    code, _, err = _cli(capsys, url, "--as", "OEM-NORDVIK", "ledger", "keygen", "--org", "OEM-ALBIS",
                        "--key-dir", keys)
    assert code == 2 and "OEM-ALBIS itself" in err  # no other organisation's key
    code, _, err = _cli(capsys, url, "ledger", "keygen", "--org", "OEM-ALBIS", "--key-dir", keys)
    assert code == 0, err  # the registry operator (the default) makes anyone's
    monkeypatch.setenv("CIRCULITH_AS", "OEM-NORDVIK")
    code, out, err = _cli(capsys, url, "ledger", "sign-events", "--key-dir", keys, "--json")
    assert code == 0, err
    signed = json.loads(out)
    # its own events only: OEM-ALBIS's key is in the directory too, but its events are left to it
    assert signed["signed"] > 0 and "OEM-NORDVIK" not in signed["unsigned_by_org"]
    assert signed["unsigned_by_org"].get("OEM-ALBIS", 0) > 0
    code, _, err = _cli(capsys, url, "ledger", "sign-events", "--org", "OEM-ALBIS", "--key-dir", keys)
    assert code == 2 and "No such option: --org" in err


def test_passport_search_filters_restricted_columns_within_the_global_organisations_interest(
        registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    url, engine = registry
    with transaction(engine) as s:
        held = set(s.execute(select(Battery.battery_id).where(Battery.custodian_org_id == RECEIVER)).scalars())
    assert held, "the demo's recycler holds batteries"
    args = ("passport", "search", "--custodian", RECEIVER, "--limit", "500", "--json")
    code, out, err = _cli(capsys, url, "--as", RECEIVER, *args)
    assert code == 0, err
    found = json.loads(out)["items"]
    assert found and {p["battery_id"] for p in found} <= held
    assert {p["custodian_org_id"] for p in found} == {RECEIVER}
    # a dismantler with no interest in them matches none of them on the restricted custodian column
    code, out, err = _cli(capsys, url, "--as", "DIS-KREIS", *args)
    assert code == 0, err
    assert json.loads(out)["items"] == []
    code, _, err = _cli(capsys, url, "passport", "search", "--level", "packs")
    assert code == 2 and "--level" in err and "pack, module, cell" in err
