"""Network benchmarks: 500 x 30 (target: proven optimal within 60 s) and 2,000 x 100 (target: within 3 % of
the LP bound within 300 s), with the greedy baseline's gap. Figures go to benchmarks/RESULTS.md.

Usage: python benchmarks/planning_network.py [small|large|all|milp]
  small: 500 x 30, default method (auto -> LP-guided heuristic), 60 s
  large: 2,000 x 100, default method, 300 s
  milp:  500 x 30 with the plain MILP (method="milp"), 60 s, for comparison
"""

import os
import platform
import sys
import time

import highspy

from circulith.planning.network_milp import NetworkOptions, plan_network
from circulith.planning.synthetic import synthetic_network


def fmt(v, spec=",.0f"):
    return "n/a" if v is None else format(v, spec)


def run(n_src, n_sp, limit, **kw):
    sites, demand = synthetic_network(n_src, n_sp, 4, seed=2)
    t = time.perf_counter()
    p = plan_network(sites, demand, options=NetworkOptions(time_limit_s=limit, **kw))
    wall = time.perf_counter() - t
    lb = p.dual_bound_usd
    greedy_vs_bound = (p.greedy_cost_usd - lb) / p.greedy_cost_usd if lb and p.greedy_cost_usd else None
    print(f"{n_src} x {n_sp} {kw} limit {limit} s: status={p.status} solver={p.solver_status!r}")
    print(f"  objective={fmt(p.objective_usd)} bound={fmt(lb)} proven gap={fmt(p.mip_gap, '.4%')} "
          f"greedy={fmt(p.greedy_cost_usd)} (greedy above plan {fmt(p.greedy_gap, '.1%')}, greedy's proven gap "
          f"{fmt(greedy_vs_bound, '.1%')}) vars={p.n_variables} rows={p.n_constraints} wall={wall:.1f}s "
          f"load={os.getloadavg()[0]:.2f}")
    print(f"  screening: {p.screening}")
    for n in p.notes:
        print(f"  note: {n}")
    sys.stdout.flush()


print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}; "
      f"HiGHS {highspy.Highs().version() if hasattr(highspy.Highs, 'version') else ''}")
which = sys.argv[1] if len(sys.argv) > 1 else "small"
if which in ("small", "all"):
    run(500, 30, 60)
if which in ("large", "all"):
    run(2000, 100, 300)
if which == "milp":
    run(500, 30, 60, method="milp")
