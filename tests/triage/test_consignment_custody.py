"""Who may receive what: the consignee is the acting organisation, and only a battery's holder hands it over.

A receipt moves custody, so it is refused (row, identifier, reason; nothing written for the whole
consignment) when the named shipper does not hold a listed battery, when the battery is still in
service, or when the CLI's ``--org`` names another organisation than the acting one (``--as``).
"""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from circulith.api.settings import Settings
from circulith.cli.main import run
from circulith.errors import InvalidInput
from circulith.server import create_app
from circulith.services import demo_users
from circulith.services.demo import build_demo
from circulith.services.intake import principal_for_org, receive
from circulith.services.registry import history, passport_document, verify
from circulith.store.database import create_db_engine, transaction
from circulith.store.models import Battery


@pytest.fixture(scope="module")
def yard(tmp_path_factory):
    path = tmp_path_factory.mktemp("custody") / "r.db"
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    build_demo(engine, 200, seed=21, today=dt.date(2026, 11, 1))
    yield url, engine
    engine.dispose()


def _packs(engine, custodian: str, states: tuple[str, ...] = ("collected", "removed", "evaluated")) -> list[str]:
    with transaction(engine) as s:
        return list(s.execute(select(Battery.battery_id).where(
            Battery.level == "pack", Battery.custodian_org_id == custodian,
            Battery.lifecycle_state.in_(states)).order_by(Battery.battery_id)).scalars())


def _holder(engine, battery_id: str) -> str:
    return str(passport_document(engine, battery_id)[1]["custodian_org_id"])


def test_a_shipper_that_does_not_hold_the_packs_is_refused_and_nothing_is_written(yard):
    url, engine = yard
    truck = _packs(engine, "DIS-RECUP")
    assert len(truck) >= 3, "the demo should leave retired packs at DIS-RECUP"
    head = verify(engine).head_global_seq
    who = principal_for_org(engine, "REC-HYDROLUX")
    with pytest.raises(InvalidInput) as info:
        receive(engine, who, truck, shipper_org_id="DIS-KREIS", expected_count=len(truck))
    problems = info.value.problems
    assert [p.row for p in problems] == list(range(1, len(truck) + 1))
    assert all(p.field == "identifier" and "held by DIS-RECUP" in p.reason and "DIS-KREIS" in p.reason
               for p in problems)
    # One listed pack held by someone else spoils the whole consignment.
    with pytest.raises(InvalidInput) as info:
        receive(engine, who, [*truck[:2], _packs(engine, "DIS-KREIS")[0]], shipper_org_id="DIS-RECUP")
    assert [p.row for p in info.value.problems] == [3]
    assert verify(engine).head_global_seq == head
    assert {_holder(engine, b) for b in truck} == {"DIS-RECUP"}


def test_an_in_service_pack_and_another_recyclers_pack_are_refused(yard):
    url, engine = yard
    with transaction(engine) as s:
        used = s.execute(select(Battery.battery_id).where(Battery.level == "pack", Battery.custodian_org_id ==
                                                          "OEM-ALBIS", Battery.lifecycle_state == "in_service")
                         .limit(1)).scalar_one()
    head = verify(engine).head_global_seq
    for shipper in ("OEM-ALBIS", "DIS-KREIS", None):
        with pytest.raises(InvalidInput) as info:
            receive(engine, principal_for_org(engine, "REC-HYDROLUX"), [used], shipper_org_id=shipper)
        reason = info.value.problems[0].reason
        assert ("in service" in reason and "OEM-ALBIS" in reason) if shipper != "DIS-KREIS" \
            else "held by OEM-ALBIS (in_service)" in reason
    theirs = _packs(engine, "REC-HYDROLUX")[0]
    with pytest.raises(InvalidInput, match="held by REC-HYDROLUX"):
        receive(engine, principal_for_org(engine, "REC-NORDMET"), [theirs], shipper_org_id="DIS-RECUP")
    assert verify(engine).head_global_seq == head
    assert _holder(engine, used) == "OEM-ALBIS" and _holder(engine, theirs) == "REC-HYDROLUX"


def test_a_processors_pack_moves_only_by_its_holders_shipment(yard):
    """Reported: with no shipper named, a recycler took another recycler's graded pack by receiving it."""
    from circulith.ledger.events import EventKind, LedgerEvent
    from circulith.store.ledger_store import append_events

    url, engine = yard
    theirs = _packs(engine, "REC-HYDROLUX")[1]
    nordmet = principal_for_org(engine, "REC-NORDMET")
    for shipper in (None, "REC-HYDROLUX"):  # naming the holder is not its consent
        with pytest.raises(InvalidInput, match="was not shipped to REC-NORDMET"):
            receive(engine, nordmet, [theirs], shipper_org_id=shipper)
    assert _holder(engine, theirs) == "REC-HYDROLUX"
    with transaction(engine) as s:
        append_events(s, [LedgerEvent(battery_id=theirs, kind=EventKind.SHIPPED, occurred_at=dt.datetime.now(dt.UTC),
                                      actor_org_id="REC-HYDROLUX", payload={"to_org_id": "REC-NORDMET"})])
    assert receive(engine, nordmet, [theirs]).received == [theirs]
    assert _holder(engine, theirs) == "REC-NORDMET"
    # a dismantler's retired pack is still handed over on pick-up, its holder recorded as the shipper
    picked = _packs(engine, "DIS-RECUP")[-1]
    assert receive(engine, nordmet, [picked]).received == [picked]


def test_the_cli_receives_as_the_acting_organisation_only(yard, tmp_path, capsys):
    url, engine = yard
    truck = _packs(engine, "DIS-KREIS")[:2]
    head = verify(engine).head_global_seq
    # Acting as the OEM while naming a recycler as consignee is impersonation: refused, nothing written.
    assert run(["--db", url, "--as", "OEM-ALBIS", "receive", *truck, "--org", "REC-HYDROLUX"]) == 2
    err = capsys.readouterr().err
    assert "--org REC-HYDROLUX is not the acting organisation OEM-ALBIS" in err and "Traceback" not in err
    listing = tmp_path / "truck.txt"
    listing.write_text("\n".join(truck) + "\n", encoding="utf-8")
    assert run(["--db", url, "receive", "--from", str(listing), "--org", "REC-HYDROLUX", "--shipper", "DIS-RECUP",
                "--expected", "2"]) == 2
    assert "row 1" in capsys.readouterr().err
    assert verify(engine).head_global_seq == head
    # Acting as the recycler, from the packs' holder: received, the holder recorded as shipper.
    assert run(["--db", url, "--as", "REC-HYDROLUX", "receive", "--from", str(listing), "--shipper", "DIS-KREIS",
                "--expected", "2", "--json"]) == 0
    capsys.readouterr()
    assert {_holder(engine, b) for b in truck} == {"REC-HYDROLUX"}
    last = [e for e in history(engine, truck[0]) if e["kind"] == "received"][-1]
    assert last["actor_org_id"] == "REC-HYDROLUX" and last["payload"]["from_org_id"] == "DIS-KREIS"


def test_the_api_refuses_a_made_up_shipper(yard):
    url, engine = yard
    demo_users.seed_demo_users(engine)
    http = TestClient(create_app(Settings(database_url=url, env="test"), engine=engine))
    r = http.post("/api/v1/auth/login", json={"email": demo_users.demo_email("REC-NORDMET"),
                                               "password": demo_users.DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    csrf = {"X-CSRF-Token": r.json()["csrf_token"]}
    theirs = _packs(engine, "DIS-RECUP")[:2]
    head = verify(engine).head_global_seq
    r = http.post("/api/v1/consignments", json={"identifiers": theirs, "shipper_org_id": "DIS-NOBODY"},
                  headers=csrf)
    assert r.status_code == 422, r.text
    assert "held by DIS-RECUP" in r.text and "DIS-NOBODY" in r.text
    assert verify(engine).head_global_seq == head and {_holder(engine, b) for b in theirs} == {"DIS-RECUP"}
    r = http.post("/api/v1/consignments", json={"identifiers": theirs, "shipper_org_id": "DIS-RECUP"},
                  headers=csrf)
    assert r.status_code == 200, r.text
    assert r.json()["receiver_org_id"] == "REC-NORDMET"
    assert {_holder(engine, b) for b in theirs} == {"REC-NORDMET"}


def test_a_receipt_time_is_refused_on_the_users_terms(yard, tmp_path, capsys):
    url, engine = yard
    truck = _packs(engine, "DIS-RECUP")[:2]
    listing = tmp_path / "late.txt"
    listing.write_text("\n".join(truck) + "\n", encoding="utf-8")
    head = verify(engine).head_global_seq
    base = ["--db", url, "--as", "REC-HYDROLUX", "receive", "--from", str(listing), "--shipper", "DIS-RECUP"]
    # Before the packs' last recorded event: the consignment row and the receipt time are named.
    with transaction(engine) as s:
        last = s.execute(select(Battery.last_occurred_at).where(Battery.battery_id == truck[0])).scalar_one()
    early = dt.datetime.fromisoformat(last.replace("Z", "+00:00")) - dt.timedelta(hours=1)
    assert run([*base, "--received-at", early.astimezone(dt.timezone(dt.timedelta(hours=1))).isoformat()]) == 2
    err = capsys.readouterr().err
    assert "row 1" in err and truck[0] in err and "'received_at'" in err and "before the battery's last" in err
    assert "events: row" not in err
    # A time without a zone is refused, never taken as UTC (as in event imports).
    assert run([*base, "--received-at", "2027-06-01T10:00"]) == 2
    err = capsys.readouterr().err
    assert "'received-at'" in err and "has no timezone" in err
    with pytest.raises(InvalidInput, match="has no timezone"):
        receive(engine, principal_for_org(engine, "REC-HYDROLUX"), truck,
                received_at=dt.datetime(2027, 6, 1, 10, 0))
    assert verify(engine).head_global_seq == head
