"""Registry and ledger benchmarks (issue: foundation). Run on demand; prints figures as JSON.

    .venv/bin/python benchmarks/registry_bench.py import  --events 1000000 --backend sqlite
    .venv/bin/python benchmarks/registry_bench.py import  --events 1000000 --backend postgres
    .venv/bin/python benchmarks/registry_bench.py verify  --events 1000000
    .venv/bin/python benchmarks/registry_bench.py checkpoint --events 50000 --backend postgres
    .venv/bin/python benchmarks/registry_bench.py lookup  --batteries 1000000

* import: ``circulith import events FILE`` path (parse JSON Lines, validate, resolve identifiers,
  check each battery's state machine and time line, chain with SHA-256, insert, update batteries)
  against a raw bulk insert of the *same final rows* into a table of the same columns, keys and
  indexes in the same database in the same run (DBAPI executemany, one transaction). On PostgreSQL,
  where circulith writes the events by COPY, a raw COPY of the same rows is timed too, for reference.
* verify: ``ledger verify`` over all events against raw ``hashlib.sha256`` over the same bytes
  (the canonical content text of each event, hashed once); the chains alone (no state replay) are
  timed too.
* checkpoint: issue a signed tree head, record 500 more events, verify against the checkpoint (the whole
  ledger) and from it (only what came after).
* lookup: resolve an identifier and load the passport document, p50/p99 over random batteries.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from circulith.ledger.hashing import content_text
from circulith.ledger.verify import verify_chains
from circulith.passport.examples import example_passport_data
from circulith.passport.identifiers import mint_gs1_digital_link, mint_passport_id
from circulith.passport.model import Passport
from circulith.services.registry import import_events
from circulith.store.database import create_db_engine, transaction, upgrade
from circulith.store.ledger_store import DYNAMIC_KEYS, stream_event_rows, verify_ledger
from circulith.store.registry import ensure_organisations, get_passport, register_passports
from circulith.store.throwaway_postgres import ThrowawayPostgres, postgres_bindir

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def machine() -> dict:
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    return {"cpu": cpu, "cores": __import__("os").cpu_count(), "python": platform.python_version()}


def make_passports(n: int) -> list[Passport]:
    base = example_passport_data()
    rng = random.Random(1)
    out = []
    for i in range(n):
        doc = dict(base)
        doc["passport_id"] = mint_passport_id(rng)
        doc["battery_id"] = mint_gs1_digital_link("4012345000009", f"B{i}")
        doc["identifiers"] = []
        out.append(Passport.model_construct(**Passport.model_validate(doc).__dict__) if i == 0 else
                   out[0].model_copy(update={"passport_id": doc["passport_id"], "battery_id": doc["battery_id"]}))
    return out


def register(engine, passports: list[Passport], chunk: int = 50_000) -> float:
    t = time.perf_counter()
    with transaction(engine) as s:  # the events' actor, registered as the CLI's import requires
        ensure_organisations(s, [{"org_id": "OEM-BENCH", "name": "Benchmark OEM", "role": "oem", "country": "DE"}])
    for i in range(0, len(passports), chunk):
        with transaction(engine) as s:  # registered by the maker, which holds them and records their snapshots
            register_passports(s, passports[i : i + chunk], actor_org_id="OEM-BENCH", now=T0)
    return time.perf_counter() - t


def write_events(path: Path, passports: list[Passport], n_events: int) -> None:
    per = max(1, n_events // len(passports))
    with path.open("w") as fh:
        k = 0
        for j in range(per):
            for p in passports:
                if k >= n_events:
                    return
                at = T0 + dt.timedelta(days=j, seconds=k % 86_000)
                fh.write(json.dumps({"battery_id": p.battery_id, "kind": "bms_snapshot",
                                     "occurred_at": at.isoformat(), "actor_org_id": "OEM-BENCH",
                                     "payload": {"soh_pct": round(100 - j * 0.01, 3), "full_cycles": j}}) + "\n")
                k += 1


def with_engine(backend: str):
    if backend == "sqlite":
        tmp = tempfile.mkdtemp()
        return create_db_engine(f"sqlite:///{tmp}/bench.db"), None
    server = ThrowawayPostgres(postgres_bindir())
    url = server.start()
    return create_db_engine(url), server


def build_ledger(engine, n_events: int) -> list[Passport]:
    """A fresh registry at the current schema with ``n_events`` events: a tenth of them passports
    (registrations), the rest BMS snapshots imported through ``import_events``. Returns the passports."""
    upgrade(engine)
    passports = make_passports(max(1, n_events // 10))
    register(engine, passports)
    path = Path(tempfile.mkdtemp()) / "events.jsonl"
    write_events(path, passports, n_events - len(passports))
    import_events(engine, path, chunk_size=50_000)
    return passports


def hashed_bytes(engine) -> tuple[list[bytes], list[bytes]]:
    """What ``ledger verify`` hashes besides the chain links: every event's canonical content text, in
    global order, and every passport document (the baselines' bytes)."""
    with transaction(engine, read_only=True) as s:
        texts = [content_text(r[3], r[1], r[4], r[5], r[6], r[7], r[8]).encode() for r in stream_event_rows(s)]
        documents = [d.encode() for (d,) in s.execute(text("SELECT document FROM batteries"))]
    return texts, documents


def bench_import(n_events: int, backend: str, cli_path: bool = False, migration: bool = False,
                 compiled: bool = True) -> dict:
    engine, server = with_engine(backend)
    try:
        upgrade(engine)
        n_bat = max(1, n_events // 10)
        passports = make_passports(n_bat)
        reg_s = register(engine, passports)
        path = Path(tempfile.mkdtemp()) / "events.jsonl"
        write_events(path, passports, n_events)
        os.environ["CIRCULITH_COMPILED_IMPORT"] = "1" if compiled else "0"
        t, cpu = time.perf_counter(), time.process_time()
        if cli_path or migration:  # what `circulith import events FILE [--migration]` runs
            from circulith.services.event_import import import_events as import_checked

            report = import_checked(engine, path, chunk_size=50_000, migration=migration)
        else:
            report = import_events(engine, path, chunk_size=50_000)
        ours, ours_cpu = time.perf_counter() - t, time.process_time() - cpu
        assert report.written == n_events, report.as_dict()
        # Raw: the same final rows into a same-shaped table, one transaction, DBAPI executemany.
        with engine.begin() as conn:  # same columns, same keys and indexes as the events table
            conn.exec_driver_sql("CREATE TABLE events_raw AS SELECT * FROM events WHERE 1=0")
            conn.exec_driver_sql("CREATE UNIQUE INDEX raw_pk ON events_raw (battery_id, battery_seq)")
            conn.exec_driver_sql("CREATE UNIQUE INDEX raw_gseq ON events_raw (global_seq)")
            conn.exec_driver_sql("CREATE UNIQUE INDEX raw_eid ON events_raw (event_id)")
            conn.exec_driver_sql("CREATE INDEX raw_kind ON events_raw (kind, occurred_at)")
        with transaction(engine) as s:
            rows = [tuple(r) for r in stream_event_rows(s)]
        cols = "global_seq, battery_id, battery_seq, event_id, kind, occurred_at, actor_org_id, site_id, payload_json, " \
               "content_sha256, battery_prev_sha256, battery_chain_sha256, global_prev_sha256, global_chain_sha256"
        marks = ", ".join(["%s" if backend == "postgres" else "?"] * 14)
        t, cpu = time.perf_counter(), time.process_time()
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            if backend == "sqlite":  # circulith's engine leaves transactions to explicit BEGINs (one here)
                cur.execute("BEGIN")
            cur.executemany(f"INSERT INTO events_raw ({cols}) VALUES ({marks})", rows)
            raw.commit()
        finally:
            raw.close()
        raw_s, raw_cpu = time.perf_counter() - t, time.process_time() - cpu
        out = {"benchmark": "import_events", "backend": backend, "events": n_events, "batteries": n_bat,
               "importer": report.importer,
               "register_s": round(reg_s, 2), "import_s": round(ours, 2), "import_events_per_s": round(n_events / ours),
               "raw_insert_s": round(raw_s, 2), "raw_rows_per_s": round(n_events / raw_s),
               "ratio_of_raw_throughput": round(raw_s / ours, 3),
               # this process's CPU time (steadier on a shared machine; on PostgreSQL the server's is not in it)
               "import_cpu_s": round(ours_cpu, 2), "raw_insert_cpu_s": round(raw_cpu, 2),
               "cpu_ratio": round(raw_cpu / ours_cpu, 3)}
        if backend == "postgres":  # for reference: circulith writes events by COPY, faster than the baseline's INSERTs
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE events_raw_copy AS SELECT * FROM events_raw WHERE 1=0")
                for i, c in enumerate(("battery_id, battery_seq", "global_seq", "event_id")):
                    conn.exec_driver_sql(f"CREATE UNIQUE INDEX raw_copy_{i} ON events_raw_copy ({c})")
                conn.exec_driver_sql("CREATE INDEX raw_copy_kind ON events_raw_copy (kind, occurred_at)")
            t = time.perf_counter()
            raw = engine.raw_connection()
            try:
                cur = raw.cursor()
                with cur.copy(f"COPY events_raw_copy ({cols}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)
                raw.commit()
            finally:
                raw.close()
            copy_s = time.perf_counter() - t
            out.update(raw_copy_s=round(copy_s, 2), ratio_of_raw_copy_throughput=round(copy_s / ours, 3))
        return out
    finally:
        engine.dispose()
        if server:
            server.stop()


def bench_verify(n_events: int, backend: str, repeat: int = 5) -> dict:
    """``ledger verify`` (compiled, as the CLI runs it, and the Python reference) against raw SHA-256.

    Two baselines, both one ``hashlib.sha256`` call per item over bytes already in memory, timed in the
    same run: the events' canonical content texts (the issue's definition), and those plus every
    passport document (all the bytes ``ledger verify`` hashes to check them, besides the chain links).
    The compiled verifier and the baselines run ``repeat`` times, interleaved, so that both see the
    same machine; the shares are of the medians (every run is kept in ``runs``). The Python verifier,
    five times slower, runs once.
    """
    from circulith.store import native_verify

    engine, server = with_engine(backend)
    try:
        build_ledger(engine, n_events)
        out: dict = {"benchmark": "ledger_verify", "backend": backend, "compiled_available": native_verify.available(),
                     "repeat": repeat}
        texts, documents = hashed_bytes(engine)
        runs: dict[str, list[float]] = {"verify_s": [], "verify_cpu_s": [], "raw_sha256_s": [], "raw_sha256_cpu_s": [],
                                        "raw_sha256_with_documents_s": [], "chains_only_s": []}
        target = native_verify.database_target(engine)
        tables = native_verify.replay_tables(DYNAMIC_KEYS)
        for _ in range(repeat):
            with transaction(engine, read_only=True) as s:
                t, cpu = time.perf_counter(), time.process_time()
                report = verify_ledger(s, compiled=True)
                runs["verify_s"].append(time.perf_counter() - t)
                runs["verify_cpu_s"].append(time.process_time() - cpu)
            assert report.ok, report.findings[:3]
            out["events"], out["verifier"] = report.events_checked, report.verifier
            t, cpu = time.perf_counter(), time.process_time()
            for b in texts:
                hashlib.sha256(b).hexdigest()
            raw_s, raw_cpu = time.perf_counter() - t, time.process_time() - cpu
            t = time.perf_counter()
            for b in documents:
                hashlib.sha256(b).hexdigest()
            runs["raw_sha256_s"].append(raw_s)
            runs["raw_sha256_cpu_s"].append(raw_cpu)
            runs["raw_sha256_with_documents_s"].append(raw_s + time.perf_counter() - t)
            if native_verify.native is not None and target is not None:  # the compiled chains and tips alone
                t = time.perf_counter()
                if target[0] == "sqlite":
                    got = native_verify.native.verify_sqlite(target[1], *tables, replay=False)
                else:
                    got = native_verify.native.verify_postgres(target[1], *tables, replay=False)
                runs["chains_only_s"].append(time.perf_counter() - t)
                assert not got["findings"] and not got["tips"], got["findings"][:3]
        with transaction(engine, read_only=True) as s:
            t = time.perf_counter()
            report = verify_ledger(s, compiled=False)
            out["verify_python_s"] = time.perf_counter() - t
        assert report.ok, report.findings[:3]
        with transaction(engine, read_only=True) as s:  # the chains alone (no state replay): what verify did before issue 14
            head = s.execute(text("SELECT global_seq, global_chain_sha256 FROM ledger_head")).one()
            t = time.perf_counter()
            chains = verify_chains(stream_event_rows(s), expected_head=(int(head[0]), str(head[1])))
            out["chains_only_python_s"] = time.perf_counter() - t
        assert chains.ok
        for key, values in runs.items():
            if values:
                out[key] = statistics.median(values)
        out["runs"] = {k: [round(v, 4) for v in vs] for k, vs in runs.items() if vs}
        out.update(content_mb=sum(map(len, texts)) / 1e6, documents_mb=sum(map(len, documents)) / 1e6)
        raw_s = out["raw_sha256_s"]
        out["events_per_s"] = out["events"] / out["verify_s"]
        out["ratio_of_raw_sha256"] = raw_s / out["verify_s"]
        out["ratio_of_raw_sha256_with_documents"] = out["raw_sha256_with_documents_s"] / out["verify_s"]
        out["python_ratio_of_raw_sha256"] = raw_s / out["verify_python_s"]
        out["chains_only_python_ratio"] = raw_s / out["chains_only_python_s"]
        if "chains_only_s" in out:
            out["chains_only_ratio_of_raw_sha256"] = raw_s / out["chains_only_s"]
        out["cpu_ratio"] = out["raw_sha256_cpu_s"] / out["verify_cpu_s"]
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}
    finally:
        engine.dispose()
        if server:
            server.stop()


def bench_checkpoint(n_events: int, backend: str, added: int = 500, repeat: int = 5) -> dict:
    """Checkpoints at ``n_events``: issue one, record ``added`` more events, then verify against it.

    Times ``issue_checkpoint`` (a full compiled verification with the Merkle leaves, the root, block roots,
    frontier and an Ed25519 JWS), ``verify_against_checkpoint`` (what ``ledger verify --checkpoint`` runs:
    the full verification, the comparison with the checkpoint and a consistency proof) and
    ``verify_since_checkpoint`` (``--only-after``: the events after it, chained onto its frontier). The two
    verifications run ``repeat`` times, alternating; medians, every run kept.
    """
    from circulith.services import ledger_trust

    engine, server = with_engine(backend)
    try:
        passports = build_ledger(engine, n_events)
        folder = Path(tempfile.mkdtemp())
        with transaction(engine) as s:
            ensure_organisations(s, [{"org_id": "OP-BENCH", "name": "Benchmark operator", "role": "operator",
                                      "country": "DE"}])
        operator = ledger_trust.operator_principal("OP-BENCH")
        ledger_trust.create_key(engine, operator, "OP-BENCH", directory=folder / "keys")
        t = time.perf_counter()
        held = ledger_trust.issue_checkpoint(engine, operator, directory=folder / "keys")
        issue_s = time.perf_counter() - t
        # `added` snapshots a year later (their own content, so new events), then the registry's next tree head
        later = [line.replace('"occurred_at": "2024', '"occurred_at": "2025')
                 for line in _event_lines(passports, added)]
        (folder / "later.jsonl").write_text("\n".join(later) + "\n")
        written = import_events(engine, folder / "later.jsonl", chunk_size=50_000).written
        ledger_trust.issue_checkpoint(engine, operator, directory=folder / "keys")
        runs: dict[str, list[float]] = {"verify_against_checkpoint_s": [], "verify_since_checkpoint_s": []}
        for _ in range(repeat):
            for key, fn in (("verify_against_checkpoint_s", ledger_trust.verify_against_checkpoint),
                            ("verify_since_checkpoint_s", ledger_trust.verify_since_checkpoint)):
                t = time.perf_counter()
                got = fn(engine, operator, held)
                runs[key].append(time.perf_counter() - t)
                assert got.ok, got
        out: dict = {"benchmark": "ledger_checkpoint", "backend": backend, "checkpoint_size": held.tree_head.tree_size,
                     "events_after": written, "repeat": repeat, "issue_checkpoint_s": issue_s}
        out.update({k: statistics.median(v) for k, v in runs.items()})
        out["runs"] = {k: [round(v, 4) for v in vs] for k, vs in runs.items()}
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}
    finally:
        engine.dispose()
        if server:
            server.stop()


def _event_lines(passports: list[Passport], n_events: int) -> list[str]:
    path = Path(tempfile.mkdtemp()) / "events.jsonl"
    write_events(path, passports, n_events)
    return path.read_text().splitlines()


def bench_lookup(n_batteries: int, backend: str, samples: int = 5000) -> dict:
    engine, server = with_engine(backend)
    try:
        upgrade(engine)
        passports = make_passports(n_batteries)
        reg_s = register(engine, passports)
        rng = random.Random(3)
        lat = []
        with transaction(engine) as s:
            s.execute(text("SELECT 1"))
            for _ in range(samples):
                p = passports[rng.randrange(n_batteries)]
                t = time.perf_counter()
                got = get_passport(s, p.battery_id)
                lat.append((time.perf_counter() - t) * 1000.0)
                assert got.battery_id == p.battery_id
        lat.sort()
        return {"benchmark": "passport_lookup", "backend": backend, "batteries": n_batteries, "register_s": round(reg_s, 1),
                "samples": samples, "p50_ms": round(statistics.median(lat), 3), "p99_ms": round(lat[int(0.99 * len(lat))], 3)}
    finally:
        engine.dispose()
        if server:
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["import", "verify", "checkpoint", "lookup"])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batteries", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--cli-path", action="store_true",
                    help="import: through the CLI's service (write authorisation too) instead of the registry's")
    ap.add_argument("--migration", action="store_true",
                    help="import: through the CLI's service as a migration (`import events --migration`)")
    ap.add_argument("--repeat", type=int, default=5,
                    help="verify: runs of the compiled verifier and the baselines; checkpoint: of each verification")
    ap.add_argument("--python-import", action="store_true",
                    help="import: the Python path only (CIRCULITH_COMPILED_IMPORT=0), for comparison")
    args = ap.parse_args()
    if args.what == "import":
        out = bench_import(args.events, args.backend, args.cli_path, args.migration, not args.python_import)
        out["path"] = ("services.event_import (CLI, --migration)" if args.migration else
                       "services.event_import (CLI)" if args.cli_path else "services.registry")
    elif args.what == "verify":
        out = bench_verify(args.events, args.backend, args.repeat)
    elif args.what == "checkpoint":
        out = bench_checkpoint(args.events, args.backend, repeat=args.repeat)
    else:
        out = bench_lookup(args.batteries, args.backend)
    out["machine"] = machine()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
