"""Benchmark: value and route-choose N batteries in one vectorised call vs a per-battery Python loop.

    .venv/bin/python benchmarks/recovery_pricing_bench.py [N] [N_LOOP]

Defaults: N = 10,000,000 batteries (vectorised), N_LOOP = 100,000 (loop; its rate is per battery, so a
subset is enough and the ratio is measured in the same run). Also times the full scalar API
(`evaluate` per battery and route) on a small sample, for reference.
"""

from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np
import pandas as pd

from circulith.recovery.composition import FORMS
from circulith.recovery.pricing import price_fleet, value_tables
from circulith.recovery.valuation import evaluate


def fleet(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = value_tables()
    return pd.DataFrame({
        "chemistry": pd.Categorical.from_codes(rng.integers(0, len(t.chemistries), n), categories=list(t.chemistries)),
        "form": pd.Categorical.from_codes(rng.integers(0, len(FORMS), n), categories=list(FORMS)),
        "mass_kg": rng.uniform(0.05, 700.0, n),
    })


def loop(frame: pd.DataFrame, tables, logistics_usd_per_kg: float, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-battery Python loop over the same precomputed tables (the fair scalar baseline)."""
    chem_index = {c: i for i, c in enumerate(tables.chemistries)}
    form_index = {f: i for i, f in enumerate(FORMS)}
    n_routes = len(tables.routes)
    rev_t, cost_t = tables.revenue.tolist(), tables.cost.tolist()
    offers, best_routes = np.empty(len(frame)), np.empty(len(frame), dtype=np.int64)
    for k, (chem, form, mass) in enumerate(zip(frame["chemistry"], frame["form"], frame["mass_kg"], strict=True)):
        cf = chem_index[chem] * len(FORMS) + form_index[form]
        best, best_net, best_rev, best_cost = 0, -float("inf"), 0.0, 0.0
        for r in range(n_routes):
            rev = rev_t[r][cf] * mass
            cost = cost_t[r][cf] * mass
            if rev - cost > best_net:
                best, best_net, best_rev, best_cost = r, rev - cost, rev, cost
        offers[k] = best_rev - best_cost - logistics_usd_per_kg * mass - margin * best_rev
        best_routes[k] = best
    return offers, best_routes


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    n_loop = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    t0 = time.perf_counter()
    tables = value_tables()
    t_tables = time.perf_counter() - t0
    frame = fleet(n)
    kw = {"logistics_usd_per_kg": 0.3, "margin_fraction": 0.1}
    price_fleet(frame.head(1000), tables=tables, detail=False, **kw)  # warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = price_fleet(frame, tables=tables, detail=False, **kw)
        times.append(time.perf_counter() - t0)
    t_first, t_vec = times[0], min(times)
    sub = frame.head(n_loop)
    t0 = time.perf_counter()
    offers, best = loop(sub, tables, 0.3, 0.1)
    t_loop = time.perf_counter() - t0
    route_of = {r: i for i, r in enumerate(tables.routes)}
    assert np.allclose(offers, out["offer_usd"].to_numpy()[:n_loop])
    assert (best == out["best_route"].head(n_loop).map(route_of).to_numpy()).all()
    n_api = 200
    t0 = time.perf_counter()
    for chem, form, mass in zip(sub["chemistry"][:n_api], sub["form"][:n_api], sub["mass_kg"][:n_api], strict=True):
        max(evaluate(chem, form, mass, r).net_usd for r in tables.routes)
    t_api = time.perf_counter() - t0
    vec_rate, loop_rate, api_rate = n / t_vec, n_loop / t_loop, n_api / t_api
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}")
    print(f"value tables (4 routes x {len(tables.chemistries)} chemistries x {len(FORMS)} forms): {t_tables:.2f} s")
    print(f"vectorised: {n:,} batteries in {t_vec:.2f} s (best of 3; first call {t_first:.2f} s = "
          f"{n / t_first:,.0f}/s) = {vec_rate:,.0f} batteries/s")
    print(f"python loop over the same tables: {n_loop:,} batteries in {t_loop:.2f} s = {loop_rate:,.0f} batteries/s")
    print(f"scalar API (evaluate per battery and route): {n_api} batteries in {t_api:.2f} s = {api_rate:,.0f} batteries/s")
    print(f"speed-up vs the hand-written loop over the same tables: {vec_rate / loop_rate:,.0f}x "
          f"(first call {n / t_first / loop_rate:,.0f}x); vs the per-battery scalar API loop: {vec_rate / api_rate:,.0f}x")
    print("routes chosen:", out["best_route"].value_counts().to_dict())


if __name__ == "__main__":
    main()
