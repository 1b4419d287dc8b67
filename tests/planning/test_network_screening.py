"""Arc screening with pricing: the LP bound is the full problem's, and the proven bound is valid."""

import numpy as np
import pytest

from circulith.planning import network_milp as nm
from circulith.planning.network import NetworkParams, validate_demand, validate_sites
from circulith.planning.network_milp import NetworkOptions
from circulith.planning.network_model import build_model, make_instance
from circulith.planning.synthetic import synthetic_network


def test_priced_screening_bounds_the_full_optimum():
    sites, demand = synthetic_network(16, 6, 2, seed=5)
    full = nm.plan_network(sites, demand, options=NetworkOptions(time_limit_s=30))
    assert full.status == "optimal"
    scr = nm.plan_network(sites, demand, options=NetworkOptions(time_limit_s=30, k_nearest=2))
    assert "pricing" in scr.screening
    lp = scr.lp_bound_usd
    # the priced LP equals the LP relaxation over every permitted arc
    params = NetworkParams.from_defaults()
    inst = make_instance(validate_sites(sites), validate_demand(demand), params, 1.0)
    model = build_model(inst, [tuple(np.nonzero(a)) for a in inst.allowed], integer_trucks=False)
    res = model.b.solve(30, 1e-4, None, relax=True)
    assert lp == pytest.approx(res["objective"], rel=1e-6)
    # bound <= full optimum <= screened plan
    assert scr.dual_bound_usd <= full.objective_usd * (1 + 1e-6)
    assert scr.objective_usd >= full.objective_usd * (1 - 1e-6)
    assert lp <= full.objective_usd * (1 + 1e-9)


def test_reduced_costs_match_solver_duals_on_present_arcs():
    """The pricing formula reproduces HiGHS' reduced costs for arcs already in the LP (sign convention)."""
    sites, demand = synthetic_network(12, 5, 2, seed=1)
    inst = make_instance(validate_sites(sites), validate_demand(demand), NetworkParams.from_defaults(), 1.0)
    arcsets = [tuple(np.nonzero(a)) for a in inst.allowed]
    model = build_model(inst, arcsets, integer_trucks=False)
    res = model.b.solve(30, 1e-4, None, relax=True)
    a = model.b.matrix()
    y, cost = res["row_dual"], res["cost"]
    np.testing.assert_allclose(res["col_dual"], cost - a.T @ y, atol=1e-6 * np.abs(cost).max())


def test_warm_start_is_accepted_and_never_worse_than_greedy():
    sites, demand = synthetic_network(20, 5, 2, seed=3)
    p = nm.plan_network(sites, demand, options=NetworkOptions(time_limit_s=10))
    assert "MIP start: greedy plan accepted" in p.notes
    assert p.objective_usd <= p.greedy_cost_usd * (1 + 1e-9)
