"""Every read of non-public data is logged, the registry operator's included; public reads are not (issue 14, item 7)."""

from __future__ import annotations

from sqlalchemy import text

from circulith.services.registry import verify_access_log

OPERATOR = "ORG-REGISTRY"


def _entries(engine, org: str) -> list[tuple[str, str, str, str]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(
            "SELECT battery_id, audience, action, ground FROM access_log WHERE org_id = :org ORDER BY entry_id"),
            {"org": org})]


def test_the_operators_history_read_of_private_fields_is_logged(clients, registry, scenario) -> None:
    engine = registry[1]
    before = _entries(engine, OPERATOR)
    r = clients[OPERATOR].get(f"/api/v1/passports/{scenario.custody}/events")
    assert r.status_code == 200
    collected = next(e for e in r.json()["events"] if e["kind"] == "collected")
    assert collected["actor_org_id"] == "DIS-KREIS" and collected["payload"]["price_eur"] == 1234.0  # private
    after = _entries(engine, OPERATOR)
    assert after[len(before):] == [(scenario.custody, "public", "history", "operator")]
    report = verify_access_log(engine)  # the entry is chained like every other
    assert report.ok, report.findings


def test_public_reads_stay_unlogged(clients, registry, scenario) -> None:
    engine = registry[1]
    with engine.connect() as c:
        count = c.execute(text("SELECT count(*) FROM access_log")).scalar_one()
    assert clients[None].get(f"/api/v1/passports/{scenario.custody}").status_code == 200
    assert clients[OPERATOR].get(f"/api/v1/passports/{scenario.custody}").json()["audience"] == "public"
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM access_log")).scalar_one() == count
