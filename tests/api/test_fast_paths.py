"""The request paths the load benchmark measures stay cheap without weakening access rules.

* the cached, precomputed passport view equals the Annex XIII view of the validated passport;
* an API-key read is still logged, every time, and the key's ``last_used_at`` is written at most
  once per :data:`~circulith.services.credentials.KEY_TOUCH_INTERVAL`;
* the public page and an authenticated passport read stay within a fixed number of SQL statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from sqlalchemy import event, func, select, text

from circulith.passport.access import Audience
from circulith.passport.attributes import view
from circulith.services import passports as svc
from circulith.store.database import transaction
from circulith.store.models import Battery
from circulith.store.platform_models import AccessLogEntry, ApiKey
from circulith.store.registry import stored_passport


@contextmanager
def statements(engine) -> Iterator[list[str]]:
    """SQL statements executed on ``engine`` (and engines derived from it) inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture(scope="module")
def key(clients, scenario) -> dict:
    """An API key of the maker of ``scenario.own`` (read scope)."""
    r = clients[scenario.maker].post("/api/v1/api-keys", json={"name": "fast-path", "scopes": ["read"]})
    assert r.status_code == 201, r.text
    return r.json()


def _get(clients, url: str, secret: str | None = None):
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return clients[None].http.get(url, headers=headers)


def test_cached_view_equals_the_annex_xiii_view(registry) -> None:
    _, engine, _ = registry
    with transaction(engine) as s:
        batteries = list(s.execute(select(Battery).order_by(Battery.battery_id).limit(40)).scalars())
    assert batteries
    for b in batteries:
        passport = stored_passport(b)
        for audience in Audience:
            shown, withheld = svc._cached_view(b.document, b.status, b.dynamic_json, audience)
            assert shown == view(passport, audience), (b.battery_id, audience)
            assert withheld == sorted(withheld)
            for path in withheld:  # a withheld path is absent from what is shown
                node = shown
                for k in path.split(".")[:-1]:
                    node = node.get(k) or {}
                assert path.split(".")[-1] not in node, path


def test_key_reads_are_all_logged_and_last_use_is_throttled(registry, clients, scenario, key) -> None:
    _, engine, _ = registry
    url = f"/api/v1/passports/{quote(scenario.own, safe='')}"

    def logged() -> int:
        with transaction(engine) as s:
            return int(s.execute(select(func.count()).select_from(AccessLogEntry)
                                 .where(AccessLogEntry.key_id == key["key_id"])).scalar_one())

    def last_used() -> str | None:
        with transaction(engine) as s:
            return s.get_one(ApiKey, key["key_id"]).last_used_at

    before = logged()
    for n in range(1, 4):
        r = _get(clients, url, key["secret"])
        assert r.status_code == 200, r.text
        assert r.json()["audience"] == "legitimate" and r.json()["ground"] == "custody"  # the maker holds it
        assert logged() == before + n  # every read of non-public data, each one
    first = last_used()
    assert first is not None
    assert _get(clients, url, key["secret"]).status_code == 200
    assert last_used() == first  # within KEY_TOUCH_INTERVAL: not rewritten
    with engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET last_used_at = '2020-01-01T00:00:00.000000Z' WHERE key_id = :k"),
                     {"k": key["key_id"]})
    assert _get(clients, url, key["secret"]).status_code == 200
    assert last_used() > "2020-01-01T00:00:00.000000Z"  # stale: rewritten on use


def test_public_reads_are_not_logged_and_anonymous_sees_public_only(registry, clients, scenario) -> None:
    _, engine, _ = registry
    with transaction(engine) as s:
        before = int(s.execute(select(func.count()).select_from(AccessLogEntry)).scalar_one())
    r = _get(clients, f"/api/v1/passports/{quote(scenario.own, safe='')}")
    assert r.status_code == 200 and r.json()["audience"] == "public" and r.json()["state"] is None
    assert r.json()["passport"] == svc._cached_view(*_stored(engine, scenario.own), Audience.PUBLIC)[0]
    with transaction(engine) as s:
        assert int(s.execute(select(func.count()).select_from(AccessLogEntry)).scalar_one()) == before


def _stored(engine, battery_id: str) -> tuple[str, str, str]:
    with transaction(engine) as s:
        b = s.get_one(Battery, battery_id)
        return b.document, b.status, b.dynamic_json


def test_revoked_key_is_refused_on_the_next_request(clients, scenario) -> None:
    owner = clients[scenario.maker]
    k = owner.post("/api/v1/api-keys", json={"name": "short", "scopes": ["read"]}).json()
    url = f"/api/v1/passports/{quote(scenario.own, safe='')}"
    assert _get(clients, url, k["secret"]).status_code == 200
    assert owner.delete(f"/api/v1/api-keys/{k['key_id']}").status_code == 200
    assert _get(clients, url, k["secret"]).status_code == 401


def test_statement_budget_of_the_benchmarked_paths(registry, clients, scenario, key) -> None:
    _, engine, _ = registry
    quoted = quote(scenario.own, safe="")
    _get(clients, f"/api/v1/passports/{quoted}", key["secret"])  # last_used_at fresh: no touch below
    with statements(engine) as seen:
        assert _get(clients, f"/p/{quoted}").status_code == 200
    reads = [q for q in seen if q.lstrip().upper().startswith("SELECT")]
    # The battery by identifier with its children; then the signature line (services.passport_seal): the
    # battery by its key, its own events with their signatures, the published keys. None grows with the ledger.
    assert len(reads) == 4, seen
    assert sum("FROM identifiers" in q for q in reads) == 0, seen
    assert sum("event_signatures" in q for q in reads) == 1, seen
    assert not [q for q in seen if q.lstrip().upper().startswith(("INSERT", "UPDATE"))], seen
    with statements(engine) as seen:
        assert _get(clients, f"/api/v1/passports/{quoted}", key["secret"]).status_code == 200
    kinds = [q.lstrip().split(None, 1)[0].upper() for q in seen]
    # the key with its organisation, the battery (in custody: no grant query), the passport's recycled-content
    # allocations (one indexed lookup by target, shown beside the declared fractions)
    assert kinds.count("SELECT") <= 3, seen
    assert kinds.count("INSERT") == 1, seen  # the access-log row
    # The log is evidence (chained): the head is locked and moved in the same short transaction.
    assert [q for q in seen if q.lstrip().upper().startswith("UPDATE")] == [q for q in seen if "access_log_head" in q
                                                                             and q.lstrip().upper().startswith("UPDATE")]
    assert kinds.count("UPDATE") == 2, seen


def test_public_lineage_in_one_query_equals_the_lineage_route(registry, clients) -> None:
    _, engine, _ = registry
    with transaction(engine) as s:
        parents = list(s.execute(select(Battery.parent_battery_id).where(Battery.parent_battery_id.is_not(None))
                                 .distinct().limit(3)).scalars())
        leaf = s.execute(select(Battery.battery_id).where(Battery.level == "cell").limit(1)).scalar_one_or_none()
    assert parents, "the scenario has packs with modules"
    for bid in [*parents, *([leaf] if leaf else [])]:
        with transaction(engine) as s:
            page = svc.public_passport(s, bid).lineage.model_dump(mode="json")
        route = _get(clients, f"/api/v1/passports/{quote(bid, safe='')}/lineage").json()
        assert page["children"] == route["children"], bid
        assert page["parent"] == route["parent"], bid
        if bid in parents:
            assert page["children"], bid
