"""National-view benchmark: each dashboard query of the national view through Ibis on a synthetic registry.

The registry (SQLite, real schema from the migrations) holds N packs and 5 N events (registered, installed,
removed, collected, received); the analytics columns are read through the store's engine into DuckDB
(:func:`circulith.analytics.connect.connect`), then each query of :mod:`circulith.analytics.national` runs
scoped to one member state and unscoped. Baseline in the same run: the same aggregation in pandas on the same
columns (ratio = Ibis/DuckDB time / pandas time).

Usage: python benchmarks/planning_national.py [n_packs]   (default 100,000 packs, 500,000 events: ~1-2 min on
the 2-core machine; the issue's 1,000,000 / 5,000,000 is the same script with n_packs=1000000, ~10x longer)
"""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from circulith.analytics.connect import connect
from circulith.analytics.national import custody_moves, inventory_by_status, retirements_per_year
from circulith.store.analytics_tables import read_registry_tables
from circulith.store.database import create_db_engine, upgrade

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
REGIONS = ["DE", "FR", "NO", "NL", "SE", "IT", "ES", "BE", "DK", "AT", "PL", "FI", "PT", "IE", "CZ"]
CHEMS = ["LFP", "NMC811", "NMC622", "NCA", "LMO"]
ORGS = ["DIS-KREIS", "DIS-RECUP", "REC-NORDMET", "REC-HYDROLUX"]


def build(path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    rng = np.random.default_rng(1)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA journal_mode=OFF")
    con.executemany("INSERT OR IGNORE INTO organisations (org_id, name, role, country) VALUES (?, ?, ?, ?)",
                    [(o, o, "recycler", c) for o, c in zip(ORGS, ["DE", "FR", "NO", "BE"], strict=True)])
    region = rng.integers(0, len(REGIONS), N)
    chem = rng.integers(0, len(CHEMS), N)
    retired = rng.random(N) < 0.3
    z = "0" * 64
    con.executemany(
        "INSERT INTO batteries (battery_id, passport_id, level, category, chemistry, model, manufacturer_id, "
        "manufacturing_date, status, lifecycle_state, region, mass_kg, rated_energy_kwh, document, dynamic_json, "
        "document_sha256, registered_sha256, registered_at, updated_at, last_seq, last_chain_sha256, "
        "last_occurred_at) VALUES (?, ?, 'pack', 'ev', ?, 'm', 'OEM', ?, 'original', ?, ?, ?, ?, '{}', '{}', ?, ?, "
        "'2020', '2020', 5, ?, '2020')",
        ((f"B{i}", f"P{i}", CHEMS[chem[i]], f"{2015 + i % 10}-01", "waste" if retired[i] else "in_service",
          REGIONS[region[i]], 400.0, 60.0, z, z, z) for i in range(N)))
    kinds = ["registered", "installed", "removed", "collected", "received"]

    def events():
        g = 0
        for i in range(N):
            for k, kind in enumerate(kinds):
                g += 1
                year = 2016 + i % 10 + (k >= 2) * 3
                yield (f"B{i}", k + 1, g, f"E{g}", kind, f"{year}-06-01T00:00:00.000000Z", ORGS[(i + k) % 4], "{}",
                       z, z, z, z, z)

    con.executemany("INSERT INTO events (battery_id, battery_seq, global_seq, event_id, kind, occurred_at, "
                    "actor_org_id, payload_json, content_sha256, battery_prev_sha256, battery_chain_sha256, "
                    "global_prev_sha256, global_chain_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)"
                    .replace("NULL", "?"), events())  # fmt: skip
    con.commit()
    con.close()


def timed(fn, *a):
    t = time.perf_counter()
    out = fn(*a)
    return out, time.perf_counter() - t


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"{N:,} packs, {5 * N:,} events")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "registry.db"
        _, t_build = timed(build, path)
        print(f"build synthetic SQLite registry: {t_build:.1f} s")
        engine = create_db_engine(f"sqlite:///{path}")
        tables, t_read = timed(read_registry_tables, engine)
        print(f"read analytics columns through the store's engine: {t_read:.1f} s")
        con, t_conn = timed(connect, engine)
        print(f"connect (read + register in DuckDB): {t_conn:.1f} s")
        b = tables["batteries"].to_pandas()
        e = tables["events"].to_pandas()

        def pd_inventory(regions):
            x = b if regions is None else b[b["region"].isin(regions)]
            return x.groupby(["region", "status", "lifecycle_state", "chemistry"]).agg(
                units=("battery_id", "count"), mass_kg=("mass_kg", "sum"))

        def pd_moves():
            x = e[e["kind"].isin(["collected", "received"])][["battery_id", "actor_org_id"]].drop_duplicates()
            x = x.merge(b[["battery_id", "region", "mass_kg"]], on="battery_id")
            return x.groupby(["region", "actor_org_id"]).agg(units=("battery_id", "nunique"), mass_kg=("mass_kg", "sum"))

        def pd_retire(regions):
            x = e[e["kind"] == "removed"].groupby("battery_id")["occurred_at"].min().reset_index()
            keep = b if regions is None else b[b["region"].isin(regions)]
            x = x.merge(keep[["battery_id"]], on="battery_id")
            return x.groupby(x["occurred_at"].str[:4].astype(int)).size()

        for scope in (["DE"], None):
            label = "DE" if scope else "all"
            for name, ibis_fn, pd_fn in (
                ("inventory by status x chemistry", lambda s=scope: inventory_by_status(con, s), lambda s=scope: pd_inventory(s)),
                ("custody flows between regions", lambda: custody_moves(con), pd_moves),
                ("retirements per year", lambda s=scope: retirements_per_year(con, s), lambda s=scope: pd_retire(s)),
            ):
                ibis_fn()  # warm
                _, t_i = timed(ibis_fn)
                _, t_p = timed(pd_fn)
                print(f"  [{label}] {name}: Ibis/DuckDB {t_i * 1000:.0f} ms, pandas baseline {t_p * 1000:.0f} ms, "
                      f"ratio {t_i / t_p:.2f}")
        engine.dispose()


if __name__ == "__main__":
    main()
