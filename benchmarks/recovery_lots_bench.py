"""Plant-lot benchmarks (issue: journeys 2 and 3). Run on demand; prints figures as JSON.

    .venv/bin/python benchmarks/recovery_lots_bench.py --batteries 2000 --per-lot 20
    .venv/bin/python benchmarks/recovery_lots_bench.py --batteries 2000 --per-lot 20 --backend postgres

* record: recording input lots (``--per-lot`` NMC622 packs each) with the engine's plan (black mass,
  products, residues, losses) through :func:`circulith.services.recovery.record_lots`, with every check,
  against the same recording with the conservation check replaced by a no-op, on two fresh registries of
  the same batteries in the same run (the ratio is the cost of conservation at write);
* report: the plant-year compliance report with its evidence (:func:`circulith.services.compliance.compliance`)
  over all those lots, best of three.

Batteries are registered and brought to ``received`` at the plant first (not timed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

import circulith.services.recovery as recovery_service
from circulith.auth.policy import Principal, Role, Scope
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.passport.examples import example_passport
from circulith.recovery.lots import InputLot, IntermediateLot, LotItem, ProductLot
from circulith.recovery.plan import plan_lots
from circulith.services.compliance import compliance
from circulith.store.database import create_db_engine, transaction, upgrade
from circulith.store.ledger_store import append_events
from circulith.store.registry import ensure_organisations, register_passports
from circulith.store.throwaway_postgres import ThrowawayPostgres, postgres_bindir

DAY = dt.date(2025, 6, 2)
PLANT = "REC-A:plant1"
AUTHORITY = Principal(org_id="MSA-DE", role=Role.MARKET_SURVEILLANCE, scopes=frozenset({Scope.READ}), via="bench")


def machine() -> dict[str, object]:
    """CPU model, cores and Python version of this run."""
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)


def prepare(engine: Engine, n: int) -> list[tuple[str, float]]:
    """Register ``n`` NMC622 packs and bring them to REC-A; returns (battery ID, mass) pairs."""
    upgrade(engine)
    passports = [example_passport(f"{i + 1:06d}", seed=i) for i in range(n)]
    with transaction(engine) as s:
        ensure_organisations(s, [{"org_id": o, "name": o, "role": r, "country": "DE"} for o, r in (
            ("OEM-X", "oem"), ("DIS-Y", "dismantler"), ("REC-A", "recycler"), ("MSA-DE", "market_surveillance"))])
        register_passports(s, passports, actor_org_id="OEM-X")
    events = []
    for p in passports:
        b = p.battery_id
        for kind, day, org in ((EventKind.PLACED_ON_MARKET, dt.date(2023, 6, 1), "OEM-X"),
                               (EventKind.INSTALLED, dt.date(2023, 7, 1), "OEM-X"),
                               (EventKind.REMOVED, dt.date(2025, 3, 3), "DIS-Y"),
                               (EventKind.COLLECTED, dt.date(2025, 3, 4), "DIS-Y"),
                               (EventKind.SHIPPED, dt.date(2025, 5, 1), "DIS-Y"),
                               (EventKind.RECEIVED, DAY, "REC-A")):
            events.append(LedgerEvent(battery_id=b, kind=kind, occurred_at=_at(day), actor_org_id=org,
                                      payload={"to_org_id": "REC-A"} if kind is EventKind.SHIPPED else {}))
    with transaction(engine) as s:
        append_events(s, events)
    return [(p.battery_id, p.mass_kg) for p in passports]


def lots_for(batteries: list[tuple[str, float]], per_lot: int) -> list[InputLot | IntermediateLot | ProductLot]:
    """Input lots of ``per_lot`` packs, each followed by its plan (black mass, products, residues, losses)."""
    out: list[InputLot | IntermediateLot | ProductLot] = []
    for k in range(0, len(batteries), per_lot):
        inp = InputLot(lot_id=f"IN-{k // per_lot:05d}", plant_id=PLANT, received_on=DAY, items=[
            LotItem(battery_id=b, chemistry="NMC622", form="pack", mass_kg=m) for b, m in batteries[k:k + per_lot]])
        out += [inp, *plan_lots(inp, produced_on=DAY + dt.timedelta(days=7))]
    return out


@contextmanager
def without_conservation() -> Iterator[None]:
    """The baseline: the conservation check replaced by a no-op for the duration."""
    saved = recovery_service._check_conserved
    recovery_service._check_conserved = lambda *_a, **_k: None  # type: ignore[assignment]
    try:
        yield
    finally:
        recovery_service._check_conserved = saved


def record(engine: Engine, lots: list, batch: int) -> float:
    """Seconds to record the lots, ``batch`` input lots' families per call."""
    t = time.perf_counter()
    family: list = []
    for lot in lots:
        if isinstance(lot, InputLot) and len(family) >= batch:
            recovery_service.record_lots(engine, family, "REC-A")
            family = []
        family.append(lot)
    if family:
        recovery_service.record_lots(engine, family, "REC-A")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batteries", type=int, default=2000)
    ap.add_argument("--per-lot", type=int, default=20)
    ap.add_argument("--batch", type=int, default=1, help="Input lots (with their plan) per record_lots call.")
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = ap.parse_args()
    pg = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "postgres":
            bindir = postgres_bindir()
            if bindir is None:
                raise SystemExit("PostgreSQL binaries not found")
            pg = ThrowawayPostgres(bindir)
            base = pg.start()
            from sqlalchemy import create_engine, text

            admin = create_engine(base, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text("CREATE DATABASE bench_checks"))
                c.execute(text("CREATE DATABASE bench_plain"))
            root = base.rsplit("/", 1)[0]
            urls = (f"{root}/bench_checks", f"{root}/bench_plain")
        else:
            urls = (f"sqlite:///{tmp}/checks.db", f"sqlite:///{tmp}/plain.db")
        try:
            checked, plain = create_db_engine(urls[0]), create_db_engine(urls[1])
            bats = prepare(checked, args.batteries)
            prepare(plain, args.batteries)
            lots = lots_for(bats, args.per_lot)
            t_checks = record(checked, lots, args.batch)
            with without_conservation():
                t_plain = record(plain, lots, args.batch)
            times = []
            for _ in range(3):
                t = time.perf_counter()
                with transaction(checked) as s:
                    rep = compliance(s, AUTHORITY, PLANT, DAY.year)
                times.append(time.perf_counter() - t)
            print(json.dumps({
                "backend": args.backend, "machine": machine(), "batteries": args.batteries, "lots": len(lots),
                "input_lots": sum(isinstance(x, InputLot) for x in lots),
                "record_with_checks_s": round(t_checks, 2), "record_without_conservation_s": round(t_plain, 2),
                "lots_per_s_with_checks": round(len(lots) / t_checks, 1),
                "lots_per_s_without": round(len(lots) / t_plain, 1),
                "ratio_with_to_without": round(t_checks / t_plain, 3),
                "report_best_s": round(min(times), 3), "report_evidence_lots": len(rep.evidence),
                "report_batteries": rep.battery_count, "recycling_efficiency_pct": rep.recycling_efficiency_pct,
            }, indent=2))
        finally:
            if pg is not None:
                pg.stop()


if __name__ == "__main__":
    main()
