"""Network benchmarks: 500 x 30 (target: proven optimal within 60 s) and 2,000 x 100 (target: within 3 % of
the LP bound within 300 s), with the greedy baseline's gap. Figures go to benchmarks/RESULTS_planning.md.

Usage: python benchmarks/planning_network.py [small|large|all]
"""

import os
import platform
import sys
import time

import highspy

from circulith.planning.network_milp import plan_network
from circulith.planning.synthetic import synthetic_network


def fmt(v, spec=",.0f"):
    return "n/a" if v is None else format(v, spec)


def run(n_src, n_sp, limit, **kw):
    sites, demand = synthetic_network(n_src, n_sp, 4, seed=2)
    t = time.perf_counter()
    p = plan_network(sites, demand, time_limit_s=limit, **kw)
    wall = time.perf_counter() - t
    print(f"{n_src} x {n_sp} {kw}: status={p.status} solver={p.solver_status} objective={fmt(p.objective_usd)} "
          f"bound={fmt(p.dual_bound_usd)} gap={fmt(p.mip_gap, '.4f')} greedy={fmt(p.greedy_cost_usd)} "
          f"greedy_gap={fmt(p.greedy_gap, '.3f')} vars={p.n_variables} rows={p.n_constraints} int={p.n_integer} "
          f"wall={wall:.1f}s")
    print(f"  screening: {p.screening}")
    for n in p.notes:
        print(f"  note: {n}")
    sys.stdout.flush()


print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; HiGHS {highspy.__version__ if hasattr(highspy, '__version__') else ''}")
which = sys.argv[1] if len(sys.argv) > 1 else "small"
if which in ("small", "all"):
    run(500, 30, 60)
    run(500, 30, 60, k_nearest=6)
    run(500, 30, 60, integer_trucks=False)
if which in ("large", "all"):
    run(2000, 100, 300, k_nearest=8)
