"""Concurrent logged reads never fork the access log's chain (SQLite, the registry's default backend)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from circulith.store.access_log_store import verify_access_log
from circulith.store.database import transaction
from circulith.store.platform_models import AccessLogEntry

THREADS, READS = 8, 10


def test_parallel_readers_leave_one_intact_chain(registry, clients, scenario) -> None:
    app, engine, _ = registry
    r = clients[scenario.maker].post("/api/v1/api-keys", json={"name": "parallel", "scopes": ["read"]})
    secret = r.json()["secret"]
    url = f"/api/v1/passports/{quote(scenario.own, safe='')}"
    with transaction(engine) as s:
        before = s.execute(select(func.count()).select_from(AccessLogEntry)).scalar_one()

    def reader(_: int) -> list[int]:
        c = TestClient(app)
        return [c.get(url, headers={"Authorization": f"Bearer {secret}"}).status_code for _ in range(READS)]

    with ThreadPoolExecutor(THREADS) as pool:
        codes = [code for part in pool.map(reader, range(THREADS)) for code in part]
    assert codes == [200] * THREADS * READS
    with transaction(engine) as s:
        after = s.execute(select(func.count()).select_from(AccessLogEntry)).scalar_one()
        report = verify_access_log(s)
    assert after - before == THREADS * READS
    assert report.ok, report.findings[:3]
