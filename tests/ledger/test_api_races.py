"""Racing writers through the REST API (issue 14 item 1, as reported): re-posts of a recorded event at the same
moment as a new event never move the ledger head backwards, and every later write still succeeds."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import func, select
from tests.api.conftest import Client
from tests.api.scenario import build_scenario

from circulith.api.settings import Settings
from circulith.server import create_app
from circulith.store.database import create_db_engine, transaction, upgrade
from circulith.store.ledger_store import verify_ledger
from circulith.store.models import Event, LedgerHead

ROUNDS = 30


def test_thirty_rounds_of_racing_api_writers_leave_the_head_at_the_last_event(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    sc = build_scenario(engine, n_packs=6)
    app = create_app(Settings(database_url=url, env="test"), engine=engine)
    clients = [Client(app, sc.maker, sc.password) for _ in range(4)]
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    body = {"battery_id": sc.own, "kind": "bms_snapshot", "occurred_at": at.isoformat(), "payload": {"soc_pct": 10.0}}
    assert clients[0].post("/api/v1/events", json=body).status_code in (200, 201)
    statuses: list[int] = []

    def post(c: Client, b: dict, barrier: threading.Barrier) -> None:
        barrier.wait(timeout=30)
        statuses.append(c.post("/api/v1/events", json=b).status_code)

    for n in range(1, ROUNDS + 1):
        new = body | {"occurred_at": (at + dt.timedelta(seconds=n)).isoformat(), "payload": {"soc_pct": float(n)}}
        barrier = threading.Barrier(4)
        threads = [threading.Thread(target=post, args=(c, body, barrier)) for c in clients[:3]]
        threads.append(threading.Thread(target=post, args=(clients[3], new, barrier)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        with transaction(engine, read_only=True) as s:
            head = s.execute(select(LedgerHead.global_seq)).scalar_one()
            last = s.execute(select(func.max(Event.global_seq))).scalar_one()
        assert head == last, f"round {n}: head #{head}, events end at #{last}"
    assert set(statuses) <= {200, 201}, sorted(set(statuses))
    with transaction(engine, read_only=True) as s:
        assert verify_ledger(s).ok
    engine.dispose()
