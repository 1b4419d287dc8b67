"""Concurrency benchmark (issue 14 item 4): 8, 32 and 64 clients on SQLite and PostgreSQL vs a bare endpoint.

    .venv/bin/python benchmarks/platform_concurrency.py --passports 2000 --requests 600

For each backend a registry of N passports is loaded (SQLite file in a temporary directory; a throwaway
PostgreSQL server), the circulith app is served by one uvicorn worker with its default worker threads
and pool, next to a bare FastAPI app returning a constant (same server settings), and at each
concurrency level a fixed number of keep-alive requests is sent to the public page ``/p/{id}``, the
API-key passport read ``/api/v1/passports/{id}`` and the bare endpoint. Prints JSON: throughput
[requests/s], p50/p99/max latency [ms], errors by status, and each target's throughput as a fraction
of the bare endpoint's at the same concurrency, all measured in the same run. The issue's goals: no
errors and no stall (every request answered) at 64 clients on both backends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).parent))

from platform_load import (
    _free_port,
    battery_id,
    hammer,
    load_registry,
    machine,
    serve,
    wait_up,
)

LEVELS = (8, 32, 64)


def run_backend(url: str, label: str, args: argparse.Namespace) -> dict:
    """Load the registry behind ``url``, serve it and measure every target at every level."""
    reg = load_registry(url, args.passports, chunk=min(args.passports, 20_000))
    env = {"CIRCULITH_DATABASE_URL": url, "CIRCULITH_ENV": "test"}
    app_port, bare_port = _free_port(), _free_port()
    procs = [serve("circulith.api.app:create_app", app_port, 1, env),
             serve("platform_load:bare_app", bare_port, 1, {})]
    try:
        wait_up(f"http://127.0.0.1:{app_port}/api/v1/auth/me")
        wait_up(f"http://127.0.0.1:{bare_port}/bare")
        rng = random.Random(7)
        ids = [quote(battery_id(rng.randrange(args.passports)), safe="") for _ in range(args.requests)]
        auth = {"Authorization": f"Bearer {reg['secret']}"}
        targets = {
            "bare_constant": (bare_port, ["/bare"] * args.requests, {}),
            "public_page": (app_port, [f"/p/{i}" for i in ids], {}),
            "passport_get_api_key": (app_port, [f"/api/v1/passports/{i}" for i in ids], auth),
        }
        out: dict[str, dict] = {}
        for level in LEVELS:
            row: dict[str, dict] = {}
            for name, (port, paths, headers) in targets.items():
                asyncio.run(hammer(port, paths[:100], level, headers))  # warm-up
                row[name] = asyncio.run(asyncio.wait_for(hammer(port, paths, level, headers), args.stall_s))
                print(f"{label} c={level} {name}: {row[name]}", file=sys.stderr)
            bare_rps = row["bare_constant"]["throughput_rps"]
            for name in ("public_page", "passport_get_api_key"):
                row[name]["fraction_of_bare"] = round(row[name]["throughput_rps"] / bare_rps, 3)
            out[f"c{level}"] = row
        return out
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passports", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=600, help="requests per target and concurrency level")
    ap.add_argument("--stall-s", type=float, default=60.0, help="a target not done within this is a stall [s]")
    ap.add_argument("--backends", default="sqlite,postgres")
    args = ap.parse_args()

    from circulith.store.throwaway_postgres import ThrowawayPostgres, postgres_bindir

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "sqlite" in args.backends:
            results["sqlite"] = run_backend(f"sqlite:///{Path(tmp) / 'bench.db'}", "sqlite", args)
        if "postgres" in args.backends:
            bindir = postgres_bindir()
            if bindir is None:
                raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
            server = ThrowawayPostgres(bindir)
            try:
                results["postgres"] = run_backend(server.start(), "postgres", args)
            finally:
                server.stop()
    print(json.dumps({"benchmark": "platform_concurrency", "machine": machine(), "passports": args.passports,
                      "requests_per_target": args.requests, "server": "uvicorn, 1 worker process, default threads",
                      "loadavg_1min_end": round(os.getloadavg()[0], 2), "results": results}, indent=1))


if __name__ == "__main__":
    main()
