"""``circulith triage read`` on large cycler exports: time and peak memory against file size.

Writes Arbin-style CSV exports of increasing size (``--sizes-mb``, default 64 256; use 1024 for the
1 GB figure), then, each in a fresh process, (a) reads the file with ``triage read``'s service (block
by block above 64 MB) and (b) the baseline: ``pandas.read_csv`` in the same blocks, summing nothing
(the I/O and parsing floor). Reports wall time, MB/s, the ratio to the baseline and peak RSS
(``ru_maxrss``): flat memory means the peak does not grow with the file.

Run: ``.venv/bin/python benchmarks/triage_read_large.py [--sizes-mb 64 256 1024]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
path, mode = Path(sys.argv[1]), sys.argv[2]
t0 = time.perf_counter()
if mode == "triage_read":
    from circulith.auth.policy import Principal
    from circulith.services.measurements import read_measurement_file
    r = read_measurement_file(Principal(), path)
    rows = r.rows
else:
    import pandas as pd
    rows = 0
    for block in pd.read_csv(path, chunksize=200_000):
        rows += len(block)
dt = time.perf_counter() - t0
print(json.dumps({"rows": rows, "seconds": dt, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_arbin(path: Path, target_mb: int) -> None:
    rng = np.random.default_rng(0)
    with path.open("w") as fh:
        fh.write("Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage\n")
        k = 0
        while fh.tell() < target_mb * 1024 * 1024:
            n = 100_000
            t = np.arange(k, k + n, dtype=float)
            cur = np.where((t // 3600) % 2 == 0, -2.0, 2.0)
            v = 3.6 + 0.1 * np.sin(t / 3600) + rng.normal(0, 1e-4, n)
            step = (t // 3600).astype(int) % 4 + 1
            block = np.column_stack([t, t, step, t // 7200 + 1, cur, v])
            np.savetxt(fh, block, fmt=["%d", "%.3f", "%d", "%d", "%.5f", "%.6f"], delimiter=",")
            k += n


def run(path: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes-mb", type=int, nargs="+", default=[64, 256])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for mb in args.sizes_mb:
            path = Path(tmp) / f"arbin_{mb}.csv"
            t0 = time.perf_counter()
            write_arbin(path, mb)
            size_mb = path.stat().st_size / 1024 / 1024
            ours, base = run(path, "triage_read"), run(path, "pandas_blocks")
            print(f"{size_mb:7.0f} MB  {ours['rows']:>10,} rows  triage read {ours['seconds']:6.1f} s "
                  f"({size_mb / ours['seconds']:5.1f} MB/s, peak {ours['peak_rss_mb']:5.0f} MB)  "
                  f"pandas blocks {base['seconds']:6.1f} s (peak {base['peak_rss_mb']:5.0f} MB)  "
                  f"ratio {base['seconds'] / ours['seconds']:.2f}  [written in {time.perf_counter() - t0:.0f} s]")


if __name__ == "__main__":
    main()
