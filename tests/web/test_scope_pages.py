"""Journey 5: the triage overview logs one access-log entry per request, with its scope."""

from __future__ import annotations

from circulith.services.ledger_trust import operator_principal
from circulith.services.triage_views import triage_grade


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
