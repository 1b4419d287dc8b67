"""Network MILP: brute-force optimum, damage-state permits, diagnosed infeasibility, CLI."""

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from circulith.cli.planning_commands import network_app
from circulith.errors import InvalidInput
from circulith.planning.network import (
    DAMAGE_STATES,
    NetworkParams,
    haversine_km,
    split_by_state,
    validate_demand,
)
from circulith.planning.network_milp import NetworkOptions, plan_network


def small_network():
    sites = pd.DataFrame({
        "site_id": ["A", "B", "H"], "kind": ["spoke", "spoke", "hub"],
        "lat": [50.0, 51.0, 50.5], "lon": [8.0, 10.0, 9.0],
        "capacity_t": [1000.0, 1000.0, 5000.0], "fixed_cost_usd": [20000.0, 15000.0, 0.0],
        "variable_cost_usd_per_t": [50.0, 70.0, 10.0], "accepts_damaged": [True, False, False],
        "chemistries": ["*", "*", "*"],
    })
    demand = pd.DataFrame({
        "source_id": ["S1", "S2", "S3"], "lat": [50.1, 50.9, 50.6], "lon": [8.2, 9.8, 9.1],
        "tonnes": [40.0, 25.0, 30.0], "damaged_share": [0.1, 0.0, 0.2], "chemistry": ["NMC811", "LFP", "LFP"],
    })
    return sites, demand


def brute_force_cost(sites, demand, params):
    """Enumerate every single-sourcing assignment of (source, state) to a permitted spoke."""
    spokes = sites[sites.kind == "spoke"].reset_index(drop=True)
    hub = sites[sites.kind == "hub"].iloc[0]
    tons = split_by_state(validate_demand(demand))
    d1 = haversine_km(demand.lat.to_numpy(), demand.lon.to_numpy(), spokes.lat.to_numpy(),
                      spokes.lon.to_numpy()) * params.road_circuity
    d2 = haversine_km(spokes.lat.to_numpy(), spokes.lon.to_numpy(), np.array([hub.lat]),
                      np.array([hub.lon]))[:, 0] * params.road_circuity
    items = [(i, s) for i in range(len(demand)) for s in range(3) if tons[i, s] > 0]
    best = math.inf
    for choice in itertools.product(range(len(spokes)), repeat=len(items)):
        if any(DAMAGE_STATES[s] != "intact" and not spokes.accepts_damaged[j]
               for (i, s), j in zip(items, choice, strict=True)):
            continue
        inflow = np.zeros(len(spokes))
        cost = 0.0
        for (i, s), j in zip(items, choice, strict=True):
            q = tons[i, s]
            inflow[j] += q
            st = DAMAGE_STATES[s]
            cost += q * spokes.variable_cost_usd_per_t[j]
            cost += math.ceil(q / params.payload_t[st] - 1e-9) * d1[i, j] * params.truck_cost_per_km(st)
        if np.any(inflow > spokes.capacity_t.to_numpy()):
            continue
        for j in np.flatnonzero(inflow > 0):
            cost += spokes.fixed_cost_usd[j] + inflow[j] * hub.variable_cost_usd_per_t
            cost += math.ceil(inflow[j] / params.payload_t["processed"] - 1e-9) * d2[j] * \
                params.truck_cost_per_km("processed")
        best = min(best, cost + hub.fixed_cost_usd)
    return best


def test_three_by_two_optimum_matches_brute_force():
    sites, demand = small_network()
    params = NetworkParams.from_defaults()
    plan = plan_network(sites, demand, params, options=NetworkOptions(time_limit_s=20))
    assert plan.status == "optimal" and plan.solver_status == "Optimal"
    assert plan.mip_gap is not None and plan.mip_gap <= 1e-4
    assert plan.objective_usd == pytest.approx(brute_force_cost(sites, demand, params), rel=1e-6)
    assert plan.greedy_cost_usd >= plan.objective_usd - 1e-6
    # every tonne placed
    moved = sum(f.tonnes for f in plan.flows if f.damage_state != "processed")
    assert moved == pytest.approx(demand.tonnes.sum())


def test_damaged_flows_only_to_permitted_sites_and_never_by_air():
    sites, demand = small_network()
    plan = plan_network(sites, demand, options=NetworkOptions(time_limit_s=20))
    permitted = set(sites.loc[sites.accepts_damaged, "site_id"])
    dmg = [f for f in plan.flows if f.damage_state in ("damaged", "critical")]
    assert dmg, "the instance has damaged tonnes"
    assert all(f.to_id in permitted for f in dmg)
    assert all(f.mode == "road" and "SP 376" in f.regime for f in dmg)
    for f in plan.flows:
        payload = NetworkParams.from_defaults().payload_t.get(f.damage_state, 18.0)
        assert f.trucks >= math.ceil(f.tonnes / payload - 1e-6)


def test_infeasible_damaged_capacity_is_diagnosed_not_optimal():
    sites, demand = small_network()
    sites.loc[sites.site_id == "A", "capacity_t"] = 5.0  # the only damaged-permitted spoke
    plan = plan_network(sites, demand, options=NetworkOptions(time_limit_s=20))
    assert plan.status == "infeasible_demand"
    text = " ".join(plan.diagnosis)
    # damaged tonnes = 0.1*40 + 0.2*30 = 10 t vs 5 t of permitted capacity
    assert "damaged" in text and "short by 5.0 t" in text
    assert sum(u["tonnes"] for u in plan.unmet) == pytest.approx(5.0, abs=1e-6)


def test_bad_sites_are_refused_with_row_and_field():
    sites, demand = small_network()
    sites.loc[1, "capacity_t"] = 0.0
    with pytest.raises(InvalidInput, match=r"row 2 \(B\), field 'capacity_t'"):
        plan_network(sites, demand)
    sites, demand = small_network()
    sites.loc[0, "kind"] = "warehouse"
    with pytest.raises(InvalidInput, match="unknown kind"):
        plan_network(sites, demand)
    sites, demand = small_network()
    demand.loc[0, "damaged_share"] = 1.5
    with pytest.raises(InvalidInput, match="damaged_share"):
        plan_network(sites, demand)


def test_chemistry_permit_is_respected():
    sites, demand = small_network()
    sites.loc[sites.site_id == "B", "chemistries"] = "LFP"
    plan = plan_network(sites, demand, options=NetworkOptions(time_limit_s=20))
    assert all(f.to_id != "B" for f in plan.flows if f.from_id == "S1")


def test_cli_network_plan_json(tmp_path):
    sites, demand = small_network()
    sites.to_csv(tmp_path / "sites.csv", index=False)
    demand.to_csv(tmp_path / "demand.csv", index=False)
    app = typer.Typer()
    app.add_typer(network_app, name="network")
    res = CliRunner().invoke(app, ["network", "plan", "--sites", str(tmp_path / "sites.csv"), "--demand",
                                   str(tmp_path / "demand.csv"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["status"] == "optimal"
    assert {"from_id", "to_id", "tonnes", "damage_state", "mode", "trucks"} <= set(out["flows"][0])
    assert out["greedy_cost_usd"] >= out["objective_usd"] - 1e-6
