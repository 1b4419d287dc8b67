"""Network benchmarks: 500 x 30 (target: proven optimal within 60 s) and 2,000 x 100 (target: within 3 % of
the bound within 300 s), with the greedy baseline's gap. Usage: python benchmarks/planning_network.py [small|large]"""

import sys
import time

from circulith.planning.network_milp import plan_network
from circulith.planning.synthetic import synthetic_network


def run(n_src, n_sp, limit, **kw):
    sites, demand = synthetic_network(n_src, n_sp, 4, seed=2)
    t = time.perf_counter()
    p = plan_network(sites, demand, time_limit_s=limit, **kw)
    wall = time.perf_counter() - t
    print(f"{n_src} x {n_sp} {kw}: status={p.status} solver={p.solver_status} objective={p.objective_usd:,.0f} "
          f"bound={p.dual_bound_usd:,.0f} gap={p.mip_gap:.4f} greedy={p.greedy_cost_usd:,.0f} "
          f"greedy_gap={p.greedy_gap:.3f} vars={p.n_variables} int={p.n_integer} wall={wall:.1f}s "
          f"screening={p.screening}")


which = sys.argv[1] if len(sys.argv) > 1 else "small"
if which == "small":
    run(500, 30, 60)
    run(500, 30, 60, integer_trucks=False)
else:
    run(2000, 100, 300, k_nearest=8)
