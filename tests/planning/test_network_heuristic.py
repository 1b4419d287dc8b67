"""LP-guided heuristic: a feasible, rule-compliant plan between the proven LP bound and the greedy baseline."""

import math

import numpy as np
import pandas as pd
import pytest

from circulith.errors import InvalidInput
from circulith.planning import network_milp as nm
from circulith.planning.network import (
    DAMAGE_STATES,
    FIRST_ECHELON,
    SECOND_ECHELON,
    NetworkParams,
    split_by_state,
    validate_demand,
)
from circulith.planning.network_greedy import greedy_assign
from circulith.planning.network_heuristics import _k_min
from circulith.planning.network_milp import NetworkOptions
from circulith.planning.network_model import make_instance
from circulith.planning.synthetic import synthetic_network


def _tiny():
    sites = pd.DataFrame({
        "site_id": ["A", "B", "H"], "kind": ["spoke", "spoke", "hub"],
        "lat": [50.0, 51.0, 50.5], "lon": [8.0, 10.0, 9.0],
        "capacity_t": [1000.0, 1000.0, 5000.0], "fixed_cost_usd": [20000.0, 15000.0, 0.0],
        "variable_cost_usd_per_t": [50.0, 70.0, 10.0], "accepts_damaged": [True, False, False],
        "chemistries": ["*", "*", "*"],
    })  # fmt: skip
    demand = pd.DataFrame({
        "source_id": ["S1", "S2", "S3"], "lat": [50.1, 50.9, 50.6], "lon": [8.2, 9.8, 9.1],
        "tonnes": [40.0, 25.0, 30.0], "damaged_share": [0.1, 0.0, 0.2], "chemistry": ["NMC811", "LFP", "LFP"],
    })  # fmt: skip
    return sites, demand


def _recost(plan, sites, params):
    """Cost of the reported plan recomputed from its flows and opened sites alone [USD]."""
    s = sites.set_index("site_id")
    cost = float(s.loc[plan.opened_sites, "fixed_cost_usd"].sum())
    for f in plan.flows:
        state = "intact" if f.damage_state in ("reusable",) else f.damage_state
        cost += f.tonnes * float(s.loc[f.to_id, "variable_cost_usd_per_t"])
        cost += f.trucks * f.distance_km * params.truck_cost_per_km(state)
    return cost


def test_k_min_is_the_fewest_sites_that_hold_the_tonnes():
    assert _k_min(np.array([10.0, 5.0, 5.0]), 12.0) == 2
    assert _k_min(np.array([10.0, 5.0, 5.0]), 10.0) == 1
    assert _k_min(np.array([10.0, 5.0, 5.0]), 0.0) == 0


def test_heuristic_plan_is_feasible_and_lies_between_bound_and_greedy():
    sites, demand = synthetic_network(80, 10, 3, n_reuse=2, seed=7)
    params = NetworkParams.from_defaults()
    plan = nm.plan_network(sites, demand, params, options=NetworkOptions(method="heuristic", time_limit_s=5))
    assert plan.status in ("optimal", "feasible") and not plan.unmet
    assert plan.solver_status.startswith("heuristic (LP relaxation Optimal")
    lp = plan.lp_bound_usd
    heur = plan.heuristic_cost_usd
    # proven bound <= plan <= heuristic's own plan <= greedy baseline
    assert lp <= plan.dual_bound_usd * (1 + 1e-9)
    assert plan.dual_bound_usd <= plan.objective_usd * (1 + 1e-9)
    assert plan.objective_usd <= heur * (1 + 1e-9)
    assert heur <= plan.greedy_cost_usd * (1 + 1e-9)
    assert plan.mip_gap == pytest.approx((plan.objective_usd - plan.dual_bound_usd) / plan.objective_usd)
    # the objective is the cost of the flows reported, nothing hidden
    assert _recost(plan, sites, params) == pytest.approx(plan.objective_usd, rel=1e-6)

    s = sites.set_index("site_id")
    flows = pd.DataFrame([f.__dict__ for f in plan.flows])
    # every tonne of every source and damage state is placed (reusable share to reuse sites)
    d = validate_demand(demand)
    tons = split_by_state(d)
    reusable = tons[:, 0] * d["reusable_share"].to_numpy(float)
    tons[:, 0] -= reusable
    got = flows.groupby(["from_id", "damage_state"])["tonnes"].sum()
    for i, sid in enumerate(d["source_id"]):
        for k, st in enumerate(DAMAGE_STATES):
            assert got.get((sid, st), 0.0) == pytest.approx(tons[i, k], abs=1e-6)
        assert got.get((sid, "reusable"), 0.0) == pytest.approx(reusable[i], abs=1e-6)
    # capacities: spokes, hubs, reuse; processed output equals spoke inflow
    inflow = flows.groupby("to_id")["tonnes"].sum()
    for sid, t in inflow.items():
        assert t <= s.loc[sid, "capacity_t"] + 1e-6
        assert sid in plan.opened_sites
    first = flows[flows.to_id.map(s["kind"]).isin(FIRST_ECHELON)].groupby("to_id")["tonnes"].sum()
    out = flows[flows.to_id.map(s["kind"]).isin(SECOND_ECHELON)].groupby("from_id")["tonnes"].sum()
    pd.testing.assert_series_equal(first.sort_index(), out.sort_index(), check_names=False, atol=1e-6)
    # damaged and critical flows only to permitted sites, by road, in whole truckloads
    for f in plan.flows:
        if f.damage_state == "damaged":
            assert bool(s.loc[f.to_id, "accepts_damaged"])
        if f.damage_state == "critical":
            assert bool(s.loc[f.to_id, "accepts_damaged"])  # synthetic: accepts_critical = accepts_damaged
        assert f.mode == "road"
        payload = params.payload_t.get(f.damage_state, params.payload_t["intact"])
        assert f.trucks >= math.ceil(f.tonnes / payload - 1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lp_bound_never_exceeds_the_exact_optimum(seed):
    """The cover and site-count rows are valid: the strengthened LP stays below the proven MILP optimum."""
    sites, demand = synthetic_network(14, 5, 3, seed=seed)
    exact = nm.plan_network(sites, demand, options=NetworkOptions(method="milp", time_limit_s=20))
    assert exact.status == "optimal"
    heur = nm.plan_network(sites, demand, options=NetworkOptions(method="heuristic", time_limit_s=5))
    lp = heur.lp_bound_usd
    assert lp <= exact.dual_bound_usd * (1 + 1e-7)
    assert lp <= exact.objective_usd * (1 + 1e-7)
    assert heur.objective_usd >= exact.objective_usd * (1 - 1e-4)


def test_heuristic_on_brute_force_case_reaches_the_optimum():
    sites, demand = _tiny()
    exact = nm.plan_network(sites, demand, options=NetworkOptions(method="milp", time_limit_s=10))
    heur = nm.plan_network(sites, demand, options=NetworkOptions(method="heuristic", time_limit_s=5))
    assert heur.status == "optimal"
    assert heur.objective_usd == pytest.approx(exact.objective_usd, rel=1e-4)
    assert heur.lp_bound_usd <= exact.objective_usd * (1 + 1e-9)


def test_heuristic_infeasible_demand_falls_back_to_the_diagnosing_milp():
    sites, demand = _tiny()
    sites.loc[sites.site_id == "A", "capacity_t"] = 5.0  # the only damaged-permitted spoke
    plan = nm.plan_network(sites, demand, options=NetworkOptions(method="heuristic", time_limit_s=5))
    assert plan.status == "infeasible_demand"
    assert "short by 5.0 t" in " ".join(plan.diagnosis)


def test_unknown_method_is_refused():
    sites, demand = _tiny()
    with pytest.raises(InvalidInput, match="method"):
        nm.plan_network(sites, demand, options=NetworkOptions(method="magic"))


def test_priced_lp_equals_the_lp_over_every_arc():
    """Pricing with the cover-row duals reaches the same LP value as solving over all permitted arcs."""
    from circulith.planning.network import validate_sites
    from circulith.planning.network_heuristics import lp_guided_plan

    sites, demand = synthetic_network(40, 8, 3, seed=4)
    inst = make_instance(validate_sites(sites), validate_demand(demand), NetworkParams.from_defaults(), 1.0)
    g = greedy_assign(inst)
    seeds = [(i, j, s) for i, j, s, _q in g.x1]
    full = lp_guided_plan(inst, 20, local_search=False, mip_rel_gap=1e-2)
    priced = lp_guided_plan(inst, 20, local_search=False, lp_arc_limit=1, k_start=2, seed_arcs=seeds,
                            mip_rel_gap=1e-2)  # fmt: skip
    assert "pricing round" in " ".join(priced.notes)
    assert priced.lp_bound_usd == pytest.approx(full.lp_bound_usd, rel=1e-7)
    assert priced.cost_usd >= priced.lp_bound_usd * (1 - 1e-9)
