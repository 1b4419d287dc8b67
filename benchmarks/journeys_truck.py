"""Journey 1 benchmarks: a 40-pack truck received and graded in the registry; registry grading throughput.

1. Truck: receive 40 retired packs of a demo registry (custody of packs and modules moves,
   consignment recorded, unsafe packs quarantined), then grade the consignment with every event
   recorded (``collected``/``tested``/``graded`` on packs and modules). Wall time of each step.
2. Throughput on the registry's units (packs + modules of N packs): the decision
   (:func:`circulith.services.triage.grade_units`: grading rules, value seam, level reconciliation,
   typed rows) against the bare engine :func:`circulith.triage.grading.grade_frame` on the same
   frame, and the recorded writes (:func:`circulith.services.triage.record_grades`, batched chained
   inserts in one transaction) against a raw ``executemany`` insert of the same number of rows
   into a scratch SQLite table, both measured in this run.

Run: ``.venv/bin/python benchmarks/journeys_truck.py [n_packs_for_throughput]`` (default 1500 packs;
the issue asks for 100,000 units: scaled down to fit about a minute on the shared machine).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from circulith.services.demo import build_demo
from circulith.services.intake import principal_for_org, receive
from circulith.services.triage import grade_registry, grade_units, record_grades
from circulith.store.database import create_db_engine, transaction
from circulith.store.models import Battery
from circulith.store.triage_queries import grading_frame, select_pack_ids
from circulith.triage.grading import grade_frame, reconcile_levels

RECEIVER = "REC-NORDMET"


def truck(tmp: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp / 'truck.db'}")
    t0 = time.perf_counter()
    build_demo(engine, 600, seed=21, today=dt.date(2026, 11, 1))
    print(f"demo registry of 600 packs built in {time.perf_counter() - t0:.1f} s")
    with transaction(engine) as s:
        packs = list(s.execute(select(Battery.battery_id).where(
            Battery.level == "pack", Battery.lifecycle_state.in_(["collected", "removed", "evaluated"]),
            Battery.custodian_org_id != RECEIVER).order_by(Battery.battery_id).limit(40)).scalars())
    who = principal_for_org(engine, RECEIVER)
    t0 = time.perf_counter()
    report = receive(engine, who, packs, shipper_org_id="DIS-KREIS", expected_count=len(packs))
    t_receive = time.perf_counter() - t0
    t0 = time.perf_counter()
    graded = grade_registry(engine, who, consignment_id=report.consignment_id)
    t_grade = time.perf_counter() - t0
    print(f"truck: {len(packs)} packs + {report.components_received} modules received in {t_receive:.2f} s "
          f"({report.events_written} events, {len(report.quarantined)} quarantined); graded {graded.graded_units} "
          f"units in {t_grade:.2f} s ({graded.events_written} events); total {t_receive + t_grade:.2f} s (aim < 5 s)")


def throughput(tmp: Path, n_packs: int, reps: int = 30) -> None:
    engine = create_db_engine(f"sqlite:///{tmp / 'bulk.db'}")
    t0 = time.perf_counter()
    build_demo(engine, n_packs, seed=5, today=dt.date(2026, 11, 1))
    print(f"demo registry of {n_packs} packs built in {time.perf_counter() - t0:.1f} s")
    with transaction(engine) as s:
        ids = select_pack_ids(s, states=("removed", "collected", "evaluated"))
        frame = grading_frame(s, ids)
    # the decision is per row: repeat the registry's units (unique IDs) to a larger population
    big = pd.concat([frame] * reps, ignore_index=True)
    big["battery_id"] = [f"{b}#{k // len(frame)}" for k, b in enumerate(big["battery_id"])]
    big["parent_battery_id"] = [None if p is None else f"{p}#{k // len(frame)}"
                                for k, p in enumerate(big["parent_battery_id"])]
    n = len(big)
    t0 = time.perf_counter()
    grade_frame(big, as_of=dt.date(2026, 11, 1))
    t_engine = time.perf_counter() - t0
    t0 = time.perf_counter()
    reconcile_levels(grade_frame(big, as_of=dt.date(2026, 11, 1)))
    t_decide = time.perf_counter() - t0
    print(f"decision (rules + level reconciliation) on {n:,} units: {n / t_decide:,.0f} units/s "
          f"(goal >= 10,000/s); bare grade_frame {n / t_engine:,.0f} units/s (ratio {t_engine / t_decide:.2f})")
    n = len(frame)
    grade_frame(frame.head(500), as_of=dt.date(2026, 11, 1))  # warm-up
    t0 = time.perf_counter()
    grade_frame(frame, as_of=dt.date(2026, 11, 1))
    t_engine = time.perf_counter() - t0
    t0 = time.perf_counter()
    reconcile_levels(grade_frame(frame, as_of=dt.date(2026, 11, 1)))
    t_decide = time.perf_counter() - t0
    t0 = time.perf_counter()
    units, _ = grade_units(frame, as_of=dt.date(2026, 11, 1))
    t_typed = time.perf_counter() - t0
    print(f"decision (rules + level reconciliation) on {n:,} registry units: {n / t_decide:,.0f} units/s "
          f"(goal >= 10,000/s); bare grade_frame {n / t_engine:,.0f} units/s (ratio {t_engine / t_decide:.2f}); "
          f"with the recovery value seam and typed output rows {n / t_typed:,.0f} units/s")
    t0 = time.perf_counter()
    written = record_grades(engine, principal_for_org(engine, None), units)
    t_write = time.perf_counter() - t0
    rows = [(f"{k}", json.dumps({"grade": u.grade, "soh_pct": u.soh_pct, "explanation": u.explanation}))
            for k, u in enumerate(units) for _ in range(3)][:written]
    con = sqlite3.connect(tmp / "raw.db")
    con.execute("create table t (id text, payload text)")
    t0 = time.perf_counter()
    with con:
        con.executemany("insert into t values (?, ?)", rows)
    t_raw = time.perf_counter() - t0
    print(f"recorded writes: {written:,} events in {t_write:.2f} s = {written / t_write:,.0f} events/s "
          f"({n / t_write:,.0f} units/s); raw executemany of as many rows {len(rows) / t_raw:,.0f} rows/s; "
          f"ratio {t_raw / t_write:.3f}")


def main() -> None:
    n_packs = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    with tempfile.TemporaryDirectory() as d:
        truck(Path(d))
        throughput(Path(d), n_packs)


if __name__ == "__main__":
    main()
