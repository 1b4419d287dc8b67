"""Authorisation matrix: every role × endpoint × own/other organisation's battery.

Each case asserts what is shown AND what is withheld. The expected audience is computed here
independently from the role table of :mod:`circulith.auth.policy` (written out plainly), and the
expected attributes from the Annex XIII entitlements of Art. 77(2) (:mod:`circulith.passport.access`).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import text

from circulith.demo.fleet import ORGANISATIONS
from circulith.passport.attributes import withheld as lattice_withheld

ROLE = {o["org_id"]: o["role"] for o in ORGANISATIONS}
ORGS: list[str | None] = [None, *ROLE]
BATTERIES = ("own", "custody", "recycled")
LI_ONLY = ("dynamic", "status", "predecessor_passport_id", "putting_into_service_date")


def expected_audience(org: str | None, maker: str, custodian: str) -> str:
    """The role table, written out independently of the implementation."""
    if org is None:
        return "public"
    role = ROLE[org]
    if role in ("notified_body", "market_surveillance"):
        return "authority"
    if role == "commission":
        return "commission"
    if role == "operator":
        return "public"
    if custodian == org or (role in ("oem", "battery_maker") and maker == org):
        return "legitimate"
    return "public"


def facts(scenario, which: str) -> tuple[str, str, str]:
    """(battery ID, maker, custodian) of one of the scenario's batteries."""
    bid = getattr(scenario, which)
    if which == "own":
        return bid, scenario.maker, scenario.maker
    if which == "custody":
        return bid, scenario.other_maker, "DIS-KREIS"
    return bid, _maker_of(scenario, bid), "REC-HYDROLUX"


_MAKERS: dict[str, str] = {}


def _maker_of(scenario, bid: str) -> str:
    return _MAKERS[bid]


@pytest.fixture(scope="module", autouse=True)
def _makers(clients, scenario) -> None:
    body = clients["EC"].get(f"/api/v1/passports/{scenario.recycled}").json()
    _MAKERS[scenario.recycled] = body["passport"]["manufacturer"]["id"]


def _leaves(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        if isinstance(v, dict) and k in ("materials", "carbon_footprint", "recycled_content", "dismantling",
                                         "end_of_life", "dynamic"):
            out |= _leaves(v, f"{prefix}{k}.")
        else:
            out.add(prefix + k)
    return out


@pytest.mark.parametrize("which", BATTERIES)
@pytest.mark.parametrize("org", ORGS)
def test_read_passport(clients, scenario, org, which) -> None:
    bid, maker, custodian = facts(scenario, which)
    r = clients[org].get(f"/api/v1/passports/{bid}")
    assert r.status_code == 200, r.text
    body = r.json()
    aud = expected_audience(org, maker, custodian)
    assert body["audience"] == aud
    shown = _leaves(body["passport"])
    assert not shown & set(lattice_withheld(aud)), "an attribute the lattice withholds was shown"
    assert body["ceased"] is (which == "recycled")
    if aud == "legitimate":
        assert "dynamic" in body["passport"]  # Annex XIII 4: shown
        assert body["state"]["custodian_org_id"] == custodian
        assert "test_report_url" not in body["passport"]  # Annex XIII 3: authorities only
    else:
        assert body["state"] is None
        for key in LI_ONLY:
            assert key not in body["passport"], key
    if aud in ("authority", "commission"):
        assert body["passport"]["test_report_url"].startswith("https://")
        assert "dismantling" in body["passport"]  # Annex XIII 2: Art. 77(2)(b)
    if aud == "public":
        assert "test_report_url" not in body["passport"]
        assert "dismantling" not in body["passport"]
        assert body["passport"]["model"] and body["passport"]["rated_energy_kwh"] > 0  # Annex XIII 1 shown


@pytest.mark.parametrize("which", BATTERIES)
@pytest.mark.parametrize("org", ORGS)
def test_history(clients, scenario, org, which) -> None:
    bid, maker, custodian = facts(scenario, which)
    r = clients[org].get(f"/api/v1/passports/{bid}/events")
    aud = expected_audience(org, maker, custodian)
    if org is None:
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "not_authenticated"
        return
    if aud == "public" and ROLE[org] != "operator":
        assert r.status_code == 403, r.text
        assert "events" not in r.json()
        return
    assert r.status_code == 200, r.text
    events = r.json()["events"]
    assert events[0]["kind"] == "registered"
    for e in events:
        if e["actor_org_id"] == org:
            assert e["withheld"] == []
            continue
        if aud != "legitimate":  # authorities, Commission, operator: no dynamic values (Annex XIII 4)
            assert "soh_pct" not in e["payload"] and "module_soh_pct" not in e["payload"]
        if e["kind"] == "bms_snapshot" and aud == "legitimate":
            assert "soh_pct" in e["payload"]
        if e["kind"] == "collected" and "price_eur" in e["payload"] | dict.fromkeys(e["withheld"]):
            # a dismantler's price is its private record: the actor and overseers only
            overseer = ROLE[org] in ("notified_body", "market_surveillance", "commission", "operator")
            assert ("price_eur" in e["payload"]) is overseer


@pytest.mark.parametrize("org", ORGS)
def test_lineage(clients, scenario, org) -> None:
    bid, maker, custodian = facts(scenario, "recycled")
    r = clients[org].get(f"/api/v1/passports/{bid}/lineage")
    assert r.status_code == 200
    body = r.json()
    assert body["ceased"] is True
    assert len(body["children"]) >= 1 and all(c["level"] == "module" for c in body["children"])
    if expected_audience(org, maker, custodian) == "legitimate":
        assert body["withheld"] == []
    else:
        assert body["withheld"] == ["predecessor", "successors"]
        assert body["predecessor"] is None and body["successors"] == []
    child = body["children"][0]["battery_id"]
    up = clients[org].get(f"/api/v1/passports/{child}/lineage").json()
    assert up["parent"]["battery_id"] == bid


@pytest.mark.parametrize("org", ORGS)
def test_search_restricted_filter_cannot_reveal(clients, scenario, org) -> None:
    r = clients[org].get("/api/v1/passports", params={"lifecycle_state": "collected", "limit": 500})
    if org is None:
        assert r.status_code == 401
        return
    assert r.status_code == 200
    ids = {i["battery_id"] for i in r.json()["items"]}
    bid, maker, custodian = facts(scenario, "custody")
    assert (bid in ids) is (expected_audience(org, maker, custodian) == "legitimate")
    for item in r.json()["items"]:
        assert item["audience"] == "legitimate"
    # Unfiltered: everyone logged in sees the public columns of every battery, restricted ones only where entitled.
    items = clients[org].get("/api/v1/passports", params={"level": "pack", "limit": 500}).json()["items"]
    for item in items:
        restricted = item["lifecycle_state"] is not None
        assert restricted is (item["audience"] == "legitimate")


@pytest.mark.parametrize("org", ORGS)
def test_fleet_summary_scope(clients, registry, org) -> None:
    r = clients[org].get("/api/v1/fleet/summary")
    if org is None:
        assert r.status_code == 401
        return
    body = r.json()
    role = ROLE[org]
    whole = role in ("notified_body", "market_surveillance", "commission", "operator")
    assert (body["scope"] == "whole fleet") is whole
    # Independent count straight from the table: custody, or own make for makers.
    with registry[1].connect() as conn:
        rows = conn.execute(text("SELECT manufacturer_id, custodian_org_id FROM batteries WHERE level = 'pack'")).all()
    mine = [r for r in rows if r[1] == org or (role in ("oem", "battery_maker") and r[0] == org)]
    assert body["batteries"] == (len(rows) if whole else len(mine))
    assert sum(body["by_chemistry"].values()) == body["batteries"]


@pytest.mark.parametrize("org", ORGS)
def test_ledger_verify_and_access_log(clients, org) -> None:
    v = clients[org].get("/api/v1/ledger/verify")
    log = clients[org].get("/api/v1/access-log")
    if org is None:
        assert v.status_code == 401 and log.status_code == 401
        return
    role = ROLE[org]
    if role in ("notified_body", "market_surveillance", "commission", "operator"):
        assert v.status_code == 200 and v.json()["ok"] is True
    else:
        assert v.status_code == 403 and v.json()["error"]["code"] == "forbidden"
    # Journey 5: every organisation reads the log within its scope (its reads, reads of its data); overseers all.
    assert log.status_code == 200, log.text
    if role not in ("notified_body", "market_surveillance", "commission", "operator"):
        assert log.json()["scope"] == f"reads by {org} and reads of its batteries"


def test_every_non_public_read_is_logged(clients, scenario) -> None:
    before = clients["ORG-REGISTRY"].get("/api/v1/access-log", params={"limit": 1}).json()["items"]
    top = before[0]["entry_id"] if before else 0
    clients["NB-TUV"].get(f"/api/v1/passports/{scenario.own}")
    clients[None].get(f"/api/v1/passports/{scenario.own}")  # public read: not logged
    clients["DIS-RECUP"].get(f"/api/v1/passports/{scenario.own}")  # public audience: not logged
    items = clients["ORG-REGISTRY"].get("/api/v1/access-log", params={"limit": 10}).json()["items"]
    new = [i for i in items if i["entry_id"] > top]
    assert [(i["org_id"], i["audience"], i["ground"]) for i in new] == [("NB-TUV", "authority", "authority")]


def test_writes_respect_ownership(clients, scenario, registry) -> None:
    head = clients["ORG-REGISTRY"].get("/api/v1/ledger/head").json()
    at = "2026-11-01T00:00:00Z"
    # Another organisation's battery: refused, nothing written.
    r = clients["DIS-RECUP"].post("/api/v1/events", json={"battery_id": scenario.custody, "kind": "tested",
                                                            "occurred_at": at})
    assert r.status_code == 403
    r = clients[scenario.other_maker if scenario.other_maker != scenario.maker else "OEM-KANTO"].patch(
        f"/api/v1/passports/{scenario.own}/dynamic", json={"values": {"soh_pct": 50.0}})
    assert r.status_code == 403
    r = clients["NB-TUV"].post("/api/v1/events", json={"battery_id": scenario.own, "kind": "removed", "occurred_at": at})
    assert r.status_code == 403
    assert clients["ORG-REGISTRY"].get("/api/v1/ledger/head").json() == head
    # The maker updates its own battery's dynamic values: a ledger event, visible in the passport.
    r = clients[scenario.maker].patch(f"/api/v1/passports/{scenario.own}/dynamic",
                                      json={"values": {"soh_pct": 88.5, "full_cycles": 900}})
    assert r.status_code == 201, r.text
    assert r.json()["appended"] == 1
    p = clients[scenario.maker].get(f"/api/v1/passports/{scenario.own}").json()
    assert p["passport"]["dynamic"]["soh_pct"]["value"] == 88.5
    hist = clients[scenario.maker].get(f"/api/v1/passports/{scenario.own}/events").json()["events"]
    assert hist[-1]["kind"] == "bms_snapshot" and hist[-1]["actor_org_id"] == scenario.maker


def test_grant_flow(clients, scenario) -> None:
    c = clients["REU-SECONDVOLT"]
    assert c.get(f"/api/v1/passports/{scenario.own}").json()["audience"] == "public"
    r = c.post("/api/v1/grants", json={"battery_id": scenario.own, "purpose": "repurposing",
                                       "justification": "second-life storage assessment"})
    assert r.status_code == 201, r.text
    (grant,) = r.json()["grants"]
    gid = grant["grant_id"]
    assert grant["owner_org_id"] == scenario.maker and grant["battery_ids"] == [scenario.own]
    assert c.post("/api/v1/grants", json={"battery_id": scenario.own, "purpose": "repurposing",
                                          "justification": "second-life storage assessment"}).status_code == 409
    # The requester does not decide; an organisation that neither owns the data nor runs the registry cannot
    # even see the request (journey 5: the data's owner or the operator decides).
    assert c.post(f"/api/v1/grants/{gid}/decision", json={"decision": "approve"}).status_code == 403
    assert clients["DIS-RECUP"].post(f"/api/v1/grants/{gid}/decision", json={"decision": "approve"}).status_code == 404
    assert c.get(f"/api/v1/passports/{scenario.own}").json()["audience"] == "public"
    r = clients["ORG-REGISTRY"].post(f"/api/v1/grants/{gid}/decision", json={"decision": "approve", "valid_days": 30})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    body = c.get(f"/api/v1/passports/{scenario.own}").json()
    assert body["audience"] == "legitimate" and body["ground"] == "grant"
    assert "dynamic" in body["passport"]
    # Another organisation is not helped by someone else's grant.
    assert clients["DIS-RECUP"].get(f"/api/v1/passports/{scenario.own}").json()["audience"] == "public"
    log = clients["ORG-REGISTRY"].get("/api/v1/access-log", params={"org_id": "REU-SECONDVOLT"}).json()["items"]
    assert log[0]["ground"] == "grant" and log[0]["battery_id"] == scenario.own
    # Revoked: back to public.
    assert clients["ORG-REGISTRY"].post(f"/api/v1/grants/{gid}/decision", json={"decision": "revoke"}).status_code == 200
    assert c.get(f"/api/v1/passports/{scenario.own}").json()["audience"] == "public"
    mine = c.get("/api/v1/grants").json()
    assert {g["org_id"] for g in mine} == {"REU-SECONDVOLT"}


def test_resolve_any_scheme(clients, scenario) -> None:
    p = clients[None].get(f"/api/v1/passports/{scenario.own}").json()["passport"]
    for ident in [p["passport_id"], *p["identifiers"]]:
        r = clients[None].get("/api/v1/resolve", params={"identifier": ident})
        assert r.status_code == 200, r.text
        assert r.json()["battery_id"] == scenario.own
        assert clients[None].get(f"/api/v1/passports/{quote(ident, safe='')}").json()["battery_id"] == scenario.own
