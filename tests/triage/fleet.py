"""A small realistic BMS-summary fleet builder for tests and benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_fleet(n: int, *, seed: int = 0, unsafe_fraction: float = 0.1) -> pd.DataFrame:
    """Synthetic BMS summaries: modules of 8 under packs, LFP/NMC, some abused or damaged units."""
    rng = np.random.default_rng(seed)
    chem = rng.choice(["LFP", "NMC811", "NMC622"], n, p=[0.5, 0.3, 0.2])
    unsafe = rng.random(n) < unsafe_fraction
    kind = rng.integers(0, 4, n)
    return pd.DataFrame({
        "battery_id": [f"M{k:07d}" for k in range(n)],
        "level": "module",
        "parent_battery_id": [f"P{k // 8:06d}" for k in range(n)],
        "chemistry": chem,
        "rated_capacity_ah": 100.0,
        "rated_energy_kwh": 3.0,
        "soh_pct": np.clip(rng.normal(78, 8, n), 40, 100),
        "resistance_growth_pct": np.clip(rng.normal(30, 20, n), 0, 150),
        "full_cycles": rng.integers(200, 3000, n).astype(float),
        "deep_discharge_events": rng.poisson(0.5, n),
        "overcharge_events": np.where(unsafe & (kind == 0), 1, 0),
        "time_above_max_temp_h": rng.exponential(20, n),
        "accident_count": np.where(unsafe & (kind == 1), 1, 0),
        "thermal_accident": unsafe & (kind == 2),
        "swelling": unsafe & (kind == 3),
        "manufacturing_date": "2017-06-01",
        "calendar_expiry_date": np.where(rng.random(n) < 0.05, "2024-01-01", "2032-01-01"),
        "has_traceability": rng.random(n) > 0.05,
    })
