"""Journey 5 on the dashboard: the triage overview logs one entry per request; empty charts say so; a reuse
customer's fleet page lists what it was granted."""

from __future__ import annotations

import re
from urllib.parse import quote

from sqlalchemy import select

from circulith.services.ledger_trust import operator_principal
from circulith.services.triage_views import triage_grade
from circulith.store.database import transaction
from circulith.store.models import Battery

FLEET_CHARTS = ("chemistry", "region", "production_year", "status")


def _log(client) -> list[dict]:
    r = client.get("/api/v1/access-log", params={"limit": 500})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_an_overview_of_many_packs_is_one_log_entry_with_its_scope(registry, clients) -> None:
    _, engine, _ = registry
    graded = triage_grade(engine, operator_principal("ORG-REGISTRY"), record=True)
    assert graded.graded_packs >= 2  # several packs, so one entry per pack would show as several
    authority = clients["NB-TUV"]
    before = _log(authority)
    overview = authority.get("/api/v1/triage/overview")
    assert overview.status_code == 200
    n = overview.json()["graded_packs"]
    assert n == graded.graded_packs
    after = _log(authority)
    assert len(after) == len(before) + 1
    entry = after[0]
    assert entry["action"] == "triage_overview" and entry["org_id"] == "NB-TUV"
    assert entry["battery_id"] == f"triage_overview: {n} graded packs"
    assert entry["ground"] == "scope: whole fleet" and entry["audience"] == "authority"
    # A custodian's overview names its narrower scope.
    holder = clients["DIS-KREIS"]
    mine = holder.get("/api/v1/triage/overview").json()["graded_packs"]
    assert 1 <= mine < n
    latest = _log(holder)[0]
    assert latest["ground"] == "scope: custody, grants"
    assert latest["battery_id"] == f"triage_overview: {mine} graded pack{'' if mine == 1 else 's'}"


def test_reuse_customer_sees_no_data_lines_and_its_granted_passports(registry, clients, scenario) -> None:
    _, engine, _ = registry
    with transaction(engine) as s:
        modules = list(s.execute(select(Battery.battery_id).where(Battery.level == "module",
                                                                  Battery.manufacturer_id == scenario.maker)
                                 .order_by(Battery.battery_id.desc()).limit(3)).scalars())
    buyer = clients["REU-SECONDVOLT"]
    empty = buyer.http.get("/dashboard/fleet").text
    for chart in FLEET_CHARTS:  # owns nothing, granted nothing yet: every chart says so, none is drawn
        assert f'id="nodata-{chart}"' in empty and f'id="chart-{chart}"' not in empty
    assert "No data for packs by chemistry in your scope." in empty
    assert 'id="fleet-granted"' not in empty
    r = buyer.post("/api/v1/grants", json={"battery_ids": modules, "purpose": "repurposing",
                                           "justification": "three modules for a storage pack"})
    assert r.status_code == 201, r.text
    (grant,) = r.json()["grants"]
    d = clients[scenario.maker].post(f"/api/v1/grants/{grant['grant_id']}/decision", json={"decision": "approve"})
    assert d.status_code == 200, d.text
    page = buyer.http.get("/dashboard/fleet").text
    table = re.search(r'<table class="data" id="fleet-granted">.*?</table>', page, re.S)
    assert table is not None
    assert sorted(re.findall(r'href="/dashboard/access/passport/([^"]+)"', table.group(0))) == \
        sorted(quote(m, safe="/") for m in modules)
    assert "No data for packs by chemistry in your scope." in page  # granted modules are not packs
    opened = buyer.http.get(f"/dashboard/access/passport/{quote(modules[0], safe='/')}")
    assert opened.status_code == 200 and "<strong>legitimate</strong>" in opened.text


def test_charts_with_data_are_drawn_and_empty_ones_are_not(registry, clients) -> None:
    page = clients["ORG-REGISTRY"].http.get("/dashboard/fleet").text
    for chart in FLEET_CHARTS:
        assert f'id="chart-{chart}"' in page and f'id="nodata-{chart}"' not in page
    triage = clients["REF-SALTWORKS"].http.get("/dashboard/triage").text
    assert "No data for grade mix of graded packs in your scope." in triage
    assert "No data for graded packs in your scope." in triage  # the table's empty row says the same
