"""End-to-end speed from raw 1 Hz, 15-minute test files, and memory when streaming a large file.

1. Writes 500 canonical CSVs (900 samples at 1 Hz: rest, 1C discharge pulse train, rest) and times
   read -> validate (LFP window, sign, duration) -> DC resistance -> charge throughput per file.
   Baseline in the same run: the same files through ``pandas.read_csv`` alone (I/O floor).
2. Writes a large canonical CSV (``--stream-gb``, default 0.25 GB; use 1 for the issue's figure) and
   streams it with ``stream_summary``; reports peak RSS growth (memory flat = independent of size).

Run: ``.venv/bin/python benchmarks/triage_files.py [--stream-gb 1]``
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from circulith.triage.capacity import coulomb_count_ah
from circulith.triage.readers.read_measurements import read_measurement
from circulith.triage.readers.read_stream import stream_summary
from circulith.triage.resistance import dc_resistance
from circulith.triage.timeseries import validate_timeseries


def test_file(rng: np.random.Generator) -> pd.DataFrame:
    t = np.arange(900.0)
    i = np.where((t > 60) & (t < 840) & ((t // 30) % 2 == 0), -20.0, 0.0)
    r = rng.uniform(0.002, 0.004)
    v = 3.30 + r * i - 1e-5 * np.cumsum(-np.minimum(i, 0)) + rng.normal(0, 2e-4, len(t))
    return pd.DataFrame({"time_s": t, "voltage_v": v, "current_a": i})


def files_per_second(tmp: Path, n: int = 500) -> None:
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        p = tmp / f"test_{k:04d}.csv"
        test_file(rng).to_csv(p, index=False)
        paths.append(p)
    t0 = time.perf_counter()
    for p in paths:
        pd.read_csv(p)
    floor = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = []
    for p in paths:
        f = validate_timeseries(read_measurement(p), chemistry="LFP", rated_capacity_ah=20.0, min_duration_s=600)
        r = dc_resistance(f)
        q = coulomb_count_ah(f.time_s.to_numpy(), f.current_a.to_numpy())[-1]
        out.append((r.resistance_ohm, q))
    dt = time.perf_counter() - t0
    print(f"end-to-end (read, validate, resistance, throughput): {n / dt:,.0f} files/s (goal >= 100); "
          f"pandas.read_csv alone: {n / floor:,.0f} files/s; pipeline/IO time ratio {dt / floor:.2f}")


def streaming(tmp: Path, gb: float) -> None:
    p = tmp / "big.csv"
    rows_per_chunk = 2_000_000
    rng = np.random.default_rng(1)
    t_start = 0.0
    with p.open("w") as fh:
        fh.write("time_s,voltage_v,current_a\n")
        while p.stat().st_size < gb * 1e9:
            t = t_start + np.arange(rows_per_chunk, dtype=float)
            i = np.where((t // 30) % 2 == 0, -20.0, 0.0)
            v = 3.3 + 0.003 * i + rng.normal(0, 2e-4, rows_per_chunk)
            pd.DataFrame({"time_s": t, "voltage_v": v.round(5), "current_a": i}).to_csv(fh, header=False, index=False)
            fh.flush()
            t_start = t[-1] + 1
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    s = stream_summary(p, chunksize=1_000_000)
    dt = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = p.stat().st_size / 1e9
    print(f"streamed {size:.2f} GB ({s.n_samples:,} samples) in {dt:.1f} s ({size / dt * 1000:.0f} MB/s); "
          f"peak RSS {rss0:.0f} -> {rss1:.0f} MB (growth {rss1 - rss0:.0f} MB; one chunk of 1e6 rows); "
          f"R = {1000 * (s.resistance_ohm or 0):.2f} mOhm (true 3.00)")


def main() -> None:
    gb = float(sys.argv[sys.argv.index("--stream-gb") + 1]) if "--stream-gb" in sys.argv else 0.25
    with tempfile.TemporaryDirectory() as d:
        files_per_second(Path(d))
    with tempfile.TemporaryDirectory() as d:
        streaming(Path(d), gb)


if __name__ == "__main__":
    main()
