"""Cost of typed service results: API reads on this branch against a baseline source tree, same database.

The services now return pydantic models that FastAPI serves as response models (before: plain dicts
validated into the same response models). This runs the same requests in-process (FastAPI TestClient, no
network) under two source trees in alternating subprocesses, on one SQLite demo registry, and reports the
ratio of median times per request:

    python benchmarks/arch_typed_services.py --baseline-src ../main/src --rounds 3 --n 400

Cap: a few hundred requests per round (well under 2 minutes on the 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from urllib.parse import quote
from fastapi.testclient import TestClient
from circulith.api.settings import Settings
try:
    from circulith.server import create_app
except ImportError:  # the baseline tree, before the app factory moved
    from circulith.api.app import create_app  # type: ignore[no-redef]
from sqlalchemy import select
from circulith.store.database import create_db_engine, transaction
from circulith.store.models import Battery

url, n = sys.argv[1], int(sys.argv[2])
engine = create_db_engine(url)
with transaction(engine) as s:
    b = s.execute(select(Battery).where(Battery.level == "pack", Battery.lifecycle_state == "in_service")
                  .order_by(Battery.battery_id)).scalars().first()
    bid, maker = b.battery_id, b.manufacturer_id
app = create_app(Settings(database_url=url, env="test"), engine=engine)
c = TestClient(app)
r = c.post("/api/v1/auth/login", json={"email": f"{maker.lower()}@demo.circulith", "password": "circulith-demo-2026"})
assert r.status_code == 200, r.text
out = {}
for name, path in (("passport", f"/api/v1/passports/{quote(bid, safe='')}"),
                   ("lineage", f"/api/v1/passports/{quote(bid, safe='')}/lineage"),
                   ("search", "/api/v1/passports?limit=50"),
                   ("fleet", "/api/v1/fleet/summary")):
    for _ in range(20):
        assert c.get(path).status_code == 200
    times = []
    for _ in range(n if name != "fleet" else max(20, n // 10)):
        t0 = time.perf_counter()
        assert c.get(path).status_code == 200
        times.append(time.perf_counter() - t0)
    times.sort()
    out[name] = times[len(times) // 2]
print(json.dumps(out))
"""


def _build(url: str) -> None:
    from circulith.services.demo import build_demo
    from circulith.services.demo_users import seed_demo_users
    from circulith.store.database import create_db_engine, upgrade

    engine = create_db_engine(url)
    upgrade(engine)
    import datetime as dt

    build_demo(engine, 200, today=dt.date(2026, 1, 15))
    seed_demo_users(engine)


def _run(src: Path, url: str, n: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src), CIRCULITH_ENV="test")
    res = subprocess.run([sys.executable, "-c", CHILD, url, str(n)], env=env, capture_output=True, text=True,
                         check=True, timeout=300)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-src", type=Path, required=True, help="src/ folder of the baseline checkout")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=400, help="requests per endpoint per round")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        _build(url)
        runs: dict[str, list[dict[str, float]]] = {"baseline": [], "branch": []}
        for _ in range(args.rounds):
            runs["baseline"].append(_run(args.baseline_src.resolve(), url, args.n))
            runs["branch"].append(_run(HERE / "src", url, args.n))
    print(f"{'endpoint':10} {'baseline [ms]':>14} {'branch [ms]':>12} {'ratio':>7}")
    for name in runs["baseline"][0]:
        base = statistics.median(r[name] for r in runs["baseline"]) * 1e3
        new = statistics.median(r[name] for r in runs["branch"]) * 1e3
        print(f"{name:10} {base:14.2f} {new:12.2f} {new / base:7.2f}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
