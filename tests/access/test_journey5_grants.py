"""Journey 5: one request for a set of batteries, one approval by the data's owner; the log by scope."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import select, text

from circulith.store.access_log_store import verify_access_log
from circulith.store.database import transaction
from circulith.store.models import Battery

PURPOSE = {"purpose": "repurposing", "justification": "second-life storage modules, 40 to buy"}


def _modules_of(engine, maker: str, n: int) -> list[str]:
    with transaction(engine) as s:
        return list(s.execute(select(Battery.battery_id).where(Battery.level == "module",
                                                               Battery.manufacturer_id == maker)
                              .order_by(Battery.battery_id).limit(n)).scalars())


def test_one_request_one_approval_for_a_set(registry, clients, scenario) -> None:
    _, engine, _ = registry
    modules = _modules_of(engine, scenario.maker, 8)
    assert len(modules) == 8
    buyer = clients["REU-SECONDVOLT"]
    r = buyer.post("/api/v1/grants", json={"battery_ids": modules, **PURPOSE})
    assert r.status_code == 201, r.text
    (grant,) = r.json()["grants"]  # one owner: one grant
    assert grant["battery_ids"] == sorted(modules) and grant["owner_org_id"] == scenario.maker
    # The owner sees the request over its data and approves it once.
    assert grant["grant_id"] in {g["grant_id"] for g in clients[scenario.maker].get("/api/v1/grants").json()}
    d = clients[scenario.maker].post(f"/api/v1/grants/{grant['grant_id']}/decision",
                                     json={"decision": "approve", "valid_days": 30})
    assert d.status_code == 200, d.text
    assert d.json()["status"] == "approved" and d.json()["decided_by_org_id"] == scenario.maker
    for m in modules:
        body = buyer.get(f"/api/v1/passports/{quote(m, safe='')}").json()
        assert body["audience"] == "legitimate" and body["ground"] == "grant", m
    listed = {g["battery_id"] for g in buyer.get("/api/v1/grants/granted").json()["items"]}
    assert set(modules) <= listed
    # A read grant never confers a write right.
    w = buyer.post("/api/v1/events", json={"battery_id": modules[0], "kind": "removed",
                                           "occurred_at": "2026-11-01T00:00:00Z"})
    assert w.status_code == 403 and "holding it" in w.json()["error"]["message"]
    # The dashboard lists what was granted and opens it at the grantee's level.
    page = buyer.http.get("/dashboard/access").text
    assert modules[0] in page
    opened = buyer.http.get(f"/dashboard/access/passport/{quote(modules[0], safe='')}")
    assert opened.status_code == 200 and "legitimate" in opened.text


def test_a_set_over_two_owners_is_one_grant_per_owner(registry, clients, scenario) -> None:
    r = clients["REC-HYDROLUX"].post("/api/v1/grants", json={"battery_ids": [scenario.own, scenario.custody],
                                                             "purpose": "recycling",
                                                             "justification": "recycling offer for two packs"})
    assert r.status_code == 201, r.text
    owners = {g["owner_org_id"] for g in r.json()["grants"]}
    assert owners == {scenario.maker, scenario.other_maker}
    mine = next(g for g in r.json()["grants"] if g["owner_org_id"] == scenario.maker)
    other = next(g for g in r.json()["grants"] if g["owner_org_id"] == scenario.other_maker)
    # Each owner decides on its own data only.
    assert clients[scenario.maker].post(f"/api/v1/grants/{other['grant_id']}/decision",
                                        json={"decision": "approve"}).status_code == 404
    assert clients[scenario.maker].post(f"/api/v1/grants/{mine['grant_id']}/decision",
                                        json={"decision": "refuse"}).status_code == 200
    assert clients["ORG-REGISTRY"].post(f"/api/v1/grants/{other['grant_id']}/decision",
                                        json={"decision": "approve"}).status_code == 200


def test_unknown_identifiers_name_the_item(clients) -> None:
    r = clients["REU-SECONDVOLT"].post("/api/v1/grants", json={"battery_ids": ["urn:example:ghost"], **PURPOSE})
    assert r.status_code in (404, 422) and "ghost" in r.text


def test_owner_reads_the_log_of_reads_of_its_data_and_authorities_all(registry, clients, scenario) -> None:
    clients["NB-TUV"].get(f"/api/v1/passports/{quote(scenario.own, safe='')}")
    owner = clients[scenario.maker].get("/api/v1/access-log", params={"org_id": "NB-TUV"}).json()
    assert owner["items"] and owner["items"][0]["battery_id"] == scenario.own
    # Another organisation does not see reads of the maker's data by others.
    stranger = clients["DIS-RECUP"].get("/api/v1/access-log", params={"org_id": "NB-TUV"}).json()
    assert all(i["battery_id"] != scenario.own for i in stranger["items"])
    everything = clients["MSA-BNETZA" if "MSA-BNETZA" in clients else "NB-TUV"].get("/api/v1/access-log").json()
    assert everything["scope"] == "every read"
    # Paging and filters.
    page = clients["ORG-REGISTRY"].get("/api/v1/access-log", params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_before"] is not None
    older = clients["ORG-REGISTRY"].get("/api/v1/access-log", params={"limit": 1, "before": page["next_before"]})
    assert older.json()["items"][0]["entry_id"] < page["items"][0]["entry_id"]
    act = clients["ORG-REGISTRY"].get("/api/v1/access-log", params={"action": "read_passport", "limit": 5}).json()
    assert {i["action"] for i in act["items"]} == {"read_passport"}


def test_the_log_is_chained_and_an_edit_or_deletion_is_found(registry, clients, scenario) -> None:
    _, engine, _ = registry
    clients["NB-TUV"].get(f"/api/v1/passports/{quote(scenario.own, safe='')}")
    with transaction(engine) as s:
        assert verify_access_log(s).ok
        last = s.execute(text("SELECT max(entry_id) FROM access_log")).scalar_one()
        s.execute(text("UPDATE access_log SET org_id = 'FORGER' WHERE entry_id = :i"), {"i": last - 1})
        report = verify_access_log(s)
        assert not report.ok and "edited" in str(report.findings[0])
        s.rollback()
    with transaction(engine) as s:
        s.execute(text("DELETE FROM access_log WHERE entry_id = :i"), {"i": last})
        report = verify_access_log(s)
        assert not report.ok and "head" in str(report.findings[-1])
        s.rollback()
    with transaction(engine) as s:
        assert verify_access_log(s).ok


def test_log_verification_route_is_for_overseers(clients, scenario) -> None:
    r = clients["ORG-REGISTRY"].get("/api/v1/access-log/verify")
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["entries_checked"] > 0
    assert clients[scenario.maker].get("/api/v1/access-log/verify").status_code == 403


def test_dashboard_request_and_owner_decision(registry, clients, scenario) -> None:
    import re

    _, engine, _ = registry
    modules = _modules_of(engine, scenario.maker, 12)[8:12]
    buyer = clients["REU-SECONDVOLT"]
    page = buyer.http.get("/dashboard/access").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    r = buyer.http.post("/dashboard/grants", data={"csrf_token": token, "battery_ids": "\n".join(modules),
                                                   "purpose": "repurposing", "justification": "four modules, form"},
                        follow_redirects=False)
    assert r.status_code == 303, r.text
    mine = [g for g in buyer.get("/api/v1/grants").json() if set(g["battery_ids"]) == set(modules)]
    assert len(mine) == 1 and mine[0]["status"] == "requested"
    owner = clients[scenario.maker]
    owner_page = owner.http.get("/dashboard/access").text
    assert f'/dashboard/grants/{mine[0]["grant_id"]}/decision' in owner_page  # the owner gets the buttons
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', owner_page).group(1)
    r = owner.http.post(f"/dashboard/grants/{mine[0]['grant_id']}/decision",
                        data={"csrf_token": token, "decision": "approve"}, follow_redirects=False)
    assert r.status_code == 303
    assert {g["status"] for g in buyer.get("/api/v1/grants").json() if g["grant_id"] == mine[0]["grant_id"]} == \
        {"approved"}
