"""Grading benchmarks: speed from BMS summaries, and confusion on a labelled synthetic population.

Speed: ``grade_frame`` on 100,000 batteries vs. the same engine called one battery at a time
(baseline measured in the same run, reported as a ratio).

Confusion: a population whose *true* state is known. True SOH ~ N(75, 10); the BMS reports it with
noise N(0, 2.5) and a +/-3 point interval (rules default). Truly unsafe units (10 %) are of two kinds:
recorded abuse/damage (thermal event, swelling, overcharge, accident) and a hidden soft internal
short that only shows as self-discharge, measured with noise N(0, 3) mV/day around 35 mV/day
(healthy: 2 mV/day). The true grade applies the same rules to the true values. "Unsafe graded
reusable" (truly quarantine, graded reuse or repurpose) is the worst error; goal zero.

Run: ``.venv/bin/python benchmarks/triage_grading.py``
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "triage"))
from fleet import make_fleet

from circulith.triage.grading import grade_frame
from circulith.triage.rules import GRADES

AS_OF = date(2026, 1, 1)


def speed() -> None:
    fleet = make_fleet(100_000, seed=0)
    grade_frame(fleet.head(1000), as_of=AS_OF)  # warm-up
    t0 = time.perf_counter()
    res = grade_frame(fleet, as_of=AS_OF)
    dt = time.perf_counter() - t0
    small = fleet.head(200)
    t0 = time.perf_counter()
    for k in range(len(small)):
        grade_frame(small.iloc[[k]], as_of=AS_OF)
    dt_loop = (time.perf_counter() - t0) / len(small)
    print(f"grade_frame: {len(fleet):,} batteries in {dt:.2f} s = {len(fleet) / dt:,.0f} batteries/s "
          f"(goal >= 10,000/s)")
    print(f"baseline one battery per call: {1 / dt_loop:,.0f} batteries/s; vectorised speed-up x{dt_loop * len(fleet) / dt:.0f}")
    print("grade counts:", res["grade"].value_counts().to_dict())


def confusion(n: int = 20_000, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    fleet = make_fleet(n, seed=seed, unsafe_fraction=0.08)
    true_soh = np.clip(rng.normal(75, 10, n), 35, 100)
    hidden_short = rng.random(n) < 0.02
    true_sd = np.where(hidden_short, 35.0, 2.0)
    truth = fleet.assign(soh_pct=true_soh, soh_low_pct=true_soh, soh_high_pct=true_soh,
                         self_discharge_mv_per_day=true_sd)
    observed = fleet.assign(soh_pct=np.clip(true_soh + rng.normal(0, 2.5, n), 1.5, 130),
                            self_discharge_mv_per_day=np.clip(true_sd + rng.normal(0, 3, n), 0, None))
    t = grade_frame(truth, as_of=AS_OF)["grade"]
    p = grade_frame(observed, as_of=AS_OF)["grade"]
    tab = pd.crosstab(pd.Categorical(t, GRADES), pd.Categorical(p, GRADES), rownames=["true"], colnames=["graded"],
                      dropna=False)
    print(f"\nconfusion on {n:,} labelled synthetic batteries (rows: true grade, columns: graded):")
    print(tab.to_string())
    worst = int(((t == "quarantine") & p.isin(["reuse", "repurpose"])).sum())
    up = int((p.map(GRADES.index) < t.map(GRADES.index)).sum())
    print(f"unsafe graded reusable/repurposable: {worst} (goal 0)")
    print(f"graded better than true (any): {up}; accuracy {100 * (t == p).mean():.1f} %")
    print("(graded worse than true are the price of deciding on the interval's lower bound)")


if __name__ == "__main__":
    speed()
    confusion()
