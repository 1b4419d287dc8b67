"""Load benchmark of the platform (issue 5): public page and authenticated passport GET vs a bare endpoint.

    .venv/bin/python benchmarks/platform_load.py --passports 100000 --requests 20000 --workers 2

On loopback: a throwaway PostgreSQL server holds N passports (registered in bulk with
``circulith.store.registry.register_passports``); the circulith app (``create_app`` from the
environment) and a bare FastAPI app returning a constant are each served by uvicorn with the same
number of worker processes; a bounded load generator (httpx, asyncio, 50 concurrent clients, a fixed
number of requests per target) asks for random batteries. Prints JSON: throughput [requests/s],
p50/p99 latency [ms], errors, and each target's throughput as a fraction of the bare endpoint's
measured in the same run. Goals of the issue: >= 50 % of the bare throughput, p99 < 50 ms, no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
BENCH_ORG = "OEM-BENCH"

bare_app = FastAPI()


@bare_app.get("/bare")
def bare() -> dict[str, str]:
    """A constant: the ceiling of what FastAPI + uvicorn serve on this machine."""
    return {"status": "ok"}


def machine() -> dict:
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "commit": commit.strip(),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="minutes")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def battery_id(i: int) -> str:
    return f"https://id.gs1.org/01/04012345000009/21/BENCH{i:08d}"


def load_registry(url: str, n: int, chunk: int = 20_000) -> dict:
    """Migrate, add the bench organisation and its API key, register ``n`` passports; returns the key."""
    from circulith.auth.tokens import mint_api_key
    from circulith.passport.examples import example_passport_data
    from circulith.passport.identifiers import mint_passport_id
    from circulith.passport.model import Passport
    from circulith.store import platform_repo as repo
    from circulith.store.database import create_db_engine, transaction, upgrade
    from circulith.store.registry import ensure_organisations, register_passports

    engine = create_db_engine(url)
    upgrade(engine)
    with transaction(engine) as s:
        ensure_organisations(s, [{"org_id": BENCH_ORG, "name": "Benchmark OEM", "role": "oem"}])
        key = mint_api_key()
        repo.add_api_key(s, key_id=key.key_id, key_sha256=key.key_sha256, org_id=BENCH_ORG, user_id=None,
                         name="bench", scopes="read", created_at="2024-01-01T00:00:00Z",
                         expires_at="2099-01-01T00:00:00Z", revoked_at=None, last_used_at=None)
    doc = example_passport_data()
    doc["manufacturer"] = {**doc["manufacturer"], "id": BENCH_ORG}
    doc["identifiers"] = []
    template = Passport.model_validate(doc)
    rng = random.Random(1)
    t = time.perf_counter()
    for start in range(0, n, chunk):
        part = [template.model_copy(update={"passport_id": mint_passport_id(rng), "battery_id": battery_id(i)})
                for i in range(start, min(n, start + chunk))]
        with transaction(engine) as s:
            register_passports(s, part, actor_org_id=BENCH_ORG, now=T0)
        print(f"registered {min(n, start + chunk)}/{n} ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    engine.dispose()
    return {"secret": key.secret, "register_s": round(time.perf_counter() - t, 1)}


def serve(target: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port), "--workers",
           str(workers), "--log-level", "warning", "--no-access-log"]
    if target.startswith("circulith"):
        cmd.append("--factory")
    else:
        cmd += ["--app-dir", str(Path(__file__).parent)]
    return subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT)


def wait_up(url: str, timeout_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server at {url} did not come up")


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bool]:
    """One HTTP/1.1 keep-alive GET on an open connection: (status, connection kept open)."""
    writer.write(request)
    status = int((await reader.readline()).split(b" ", 2)[1])
    length, chunked, keep = 0, False, True
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            keep = False
    if chunked:
        while (size := int((await reader.readline()).strip(), 16)) > 0:
            await reader.readexactly(size + 2)
        await reader.readline()
    else:
        await reader.readexactly(length)
    return status, keep


async def hammer(port: int, paths: list[str], concurrency: int, headers: dict[str, str]) -> dict:
    """Send every path once with ``concurrency`` keep-alive clients; latency per request [ms].

    A minimal HTTP/1.1 client on asyncio streams (a general-purpose client library costs several
    times more CPU per request, and the generator shares the machine with the servers).
    """
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    latencies: list[float] = []
    errors: dict[str, int] = {}
    queue = iter(paths)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for path in queue:
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()
            t = time.perf_counter()
            try:
                status, keep = await _get(reader, writer, request)
                code = str(status)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
                status, keep, code = 0, False, type(exc).__name__
            latencies.append((time.perf_counter() - t) * 1000)
            if status != 200:
                errors[code] = errors.get(code, 0) + 1
            if not keep:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    latencies.sort()

    def q(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

    return {"requests": len(paths), "wall_s": round(wall, 2), "throughput_rps": round(len(paths) / wall, 1),
            "p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": round(latencies[-1], 2),
            "errors": sum(errors.values()), "error_codes": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passports", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=20_000, help="requests per target")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes per server")
    ap.add_argument("--database-url", help="use this PostgreSQL database instead of a throwaway server "
                    "(must already hold the passports: then give --secret)")
    ap.add_argument("--secret", help="API key of the bench organisation (with --database-url)")
    args = ap.parse_args()

    from circulith.store.throwaway_postgres import ThrowawayPostgres, postgres_bindir

    server = None
    procs: list[subprocess.Popen] = []
    try:
        if args.database_url:
            url, reg = args.database_url, {"secret": args.secret, "register_s": None}
        else:
            bindir = postgres_bindir()
            if bindir is None:
                raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
            server = ThrowawayPostgres(bindir)
            url = server.start()
            reg = load_registry(url, args.passports)
        # env "test": no planning-cache warm-up thread competing with the measured requests
        env = {"CIRCULITH_DATABASE_URL": url, "CIRCULITH_ENV": "test"}
        app_port, bare_port = _free_port(), _free_port()
        procs.append(serve("circulith.server:create_app", app_port, args.workers, env))
        procs.append(serve("platform_load:bare_app", bare_port, args.workers, {}))
        wait_up(f"http://127.0.0.1:{app_port}/api/v1/auth/me")
        wait_up(f"http://127.0.0.1:{bare_port}/bare")
        rng = random.Random(7)
        ids = [quote(battery_id(rng.randrange(args.passports)), safe="") for _ in range(args.requests)]
        auth = {"Authorization": f"Bearer {reg['secret']}"}
        targets = {
            "bare_constant": (bare_port, ["/bare"] * args.requests, {}),
            "public_page": (app_port, [f"/p/{i}" for i in ids], {}),
            "passport_get_authenticated": (app_port, [f"/api/v1/passports/{i}" for i in ids], auth),
        }
        results: dict[str, dict] = {}
        for name, (port, paths, headers) in targets.items():
            asyncio.run(hammer(port, paths[: min(500, len(paths))], args.concurrency, headers))  # warm-up
            load_before = os.getloadavg()[0]
            results[name] = asyncio.run(hammer(port, paths, args.concurrency, headers))
            results[name]["loadavg_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            print(f"{name}: {results[name]}", file=sys.stderr)
        bare_rps = results["bare_constant"]["throughput_rps"]
        for name in ("public_page", "passport_get_authenticated"):
            results[name]["fraction_of_bare"] = round(results[name]["throughput_rps"] / bare_rps, 3)
        print(json.dumps({"benchmark": "platform_load", "machine": machine(), "passports": args.passports,
                          "register_s": reg["register_s"], "concurrency": args.concurrency,
                          "workers_per_server": args.workers, "database": "PostgreSQL (throwaway, fsync off)",
                          "load_generator": "asyncio HTTP/1.1 keep-alive clients, one process, same machine", "results": results},
                         indent=1))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if server:
            server.stop()


if __name__ == "__main__":
    main()
