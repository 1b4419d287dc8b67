"""The planner's own inputs to the network plan: cost or distance matrix, site-count and budget limits, trucks
per week, and machine-readable output free of solver messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_network import small_network

from circulith.errors import InvalidInput
from circulith.planning.network import FIRST_ECHELON, NetworkParams, haversine_km
from circulith.planning.network_milp import NetworkOptions, plan_network

OPTS = NetworkOptions(time_limit_s=20)


def _estimated_matrix(sites: pd.DataFrame, demand: pd.DataFrame) -> pd.DataFrame:
    """Every arc at the plan's own estimated road distance (great-circle times the shipped circuity)."""
    circuity = NetworkParams.from_defaults().road_circuity
    spokes = sites[sites.kind.isin(FIRST_ECHELON)]
    hubs = sites[sites.kind == "hub"]
    rows = []
    for frm, to in ((demand.rename(columns={"source_id": "site_id"}), spokes), (spokes, hubs)):
        for a in frm.itertuples():
            for b in to.itertuples():
                km = float(haversine_km(np.array([a.lat]), np.array([a.lon]), np.array([b.lat]), np.array([b.lon])).ravel()[0])
                rows.append({"origin_id": a.site_id, "destination_id": b.site_id, "distance_km": km * circuity})
    return pd.DataFrame(rows)


def test_matrix_of_the_estimated_distances_reproduces_the_default_plan() -> None:
    sites, demand = small_network()
    base = plan_network(sites, demand, options=OPTS)
    own = plan_network(sites, demand, options=OPTS, costs=_estimated_matrix(sites, demand))
    assert own.objective_usd == pytest.approx(base.objective_usd, rel=1e-9)
    assert {f.cost_basis for f in own.flows} == {"road distance from the cost matrix"}
    assert any("cost matrix: 8 of 8 arcs" in n for n in own.notes)


def test_longer_road_distances_raise_the_cost_by_the_truck_km() -> None:
    sites, demand = small_network()
    base = plan_network(sites, demand, options=OPTS)
    m = _estimated_matrix(sites, demand)
    m["distance_km"] *= 2.0
    own = plan_network(sites, demand, options=OPTS, costs=m)
    # the base plan at twice the distance costs base + its transport; the optimum can only do better
    params = NetworkParams.from_defaults()
    transport = sum(f.trucks * f.distance_km * params.truck_cost_per_km("processed" if f.damage_state == "processed"
                                                                          else f.damage_state)
                    for f in base.flows)  # fmt: skip
    assert own.objective_usd <= base.objective_usd + transport + 1e-6
    assert own.objective_usd > base.objective_usd


def test_tariff_per_tonne_replaces_the_truck_cost_of_its_arc() -> None:
    sites, demand = small_network()
    base = plan_network(sites, demand, options=OPTS)
    fl = next(f for f in base.flows if f.damage_state == "processed")
    tariff = pd.DataFrame({"origin_id": [fl.from_id], "destination_id": [fl.to_id], "cost_usd_per_t": [0.0]})
    own = plan_network(sites, demand, options=OPTS, costs=tariff)
    truck_cost = fl.trucks * fl.distance_km * NetworkParams.from_defaults().truck_cost_per_km("processed")
    assert own.objective_usd == pytest.approx(base.objective_usd - truck_cost, rel=1e-9)
    assert next(f for f in own.flows if f.damage_state == "processed").cost_basis == "tariff per tonne from the cost matrix"


@pytest.mark.parametrize(("rows", "match"), [
    ({"origin_id": ["NOPE"], "destination_id": ["A"], "distance_km": [10.0]}, r"row 1.*origin_id.*unknown origin 'NOPE'"),
    ({"origin_id": ["S1"], "destination_id": ["H"], "distance_km": [10.0]}, r"row 1.*no arc S1 -> H"),
    ({"origin_id": ["S1"], "destination_id": ["A"], "distance_km": [-1.0]}, r"row 1.*distance_km.*>= 0"),
    ({"origin_id": ["S1", "S1"], "destination_id": ["A", "A"], "distance_km": [1.0, 2.0]}, r"row 2.*given twice"),
    ({"origin_id": ["S1"], "destination_id": ["A"]}, r"distance_km and/or cost_usd_per_t"),
])
def test_bad_cost_matrix_is_refused_with_row_and_field(rows, match) -> None:
    sites, demand = small_network()
    with pytest.raises(InvalidInput, match=match):
        plan_network(sites, demand, options=OPTS, costs=pd.DataFrame(rows))


def test_site_count_limit_holds_and_costs_at_least_the_free_plan() -> None:
    sites, demand = small_network()
    free = plan_network(sites, demand, options=OPTS)
    one = plan_network(sites, demand, options=NetworkOptions(time_limit_s=20, max_open_spokes=1))
    spokes = set(sites.loc[sites.kind == "spoke", "site_id"])
    assert one.status == "optimal" and len(spokes & set(one.opened_sites)) == 1
    assert one.objective_usd >= free.objective_usd - 1e-6
    assert one.limits == {"max_open_spokes": 1.0}


def test_budget_below_any_damaged_spoke_is_diagnosed() -> None:
    sites, demand = small_network()
    # A (20,000 USD) is the only spoke permitted for damaged packs
    plan = plan_network(sites, demand, options=NetworkOptions(time_limit_s=20, budget_usd=16_000.0))
    assert plan.status == "infeasible_demand"
    assert any("limits in force (budget_usd 16000)" in d for d in plan.diagnosis)
    fixed = sites.set_index("site_id")["fixed_cost_usd"]
    assert sum(fixed[s] for s in plan.opened_sites) <= 16_000.0


def test_trucks_per_week_use_the_shipped_period_length() -> None:
    with (files("circulith.reference") / "data" / "network_defaults.toml").open("rb") as fh:
        weeks = tomllib.load(fh)["period"]["weeks"]
    sites, demand = small_network()
    plan = plan_network(sites, demand, options=OPTS)
    assert plan.period_weeks == weeks
    for f in plan.flows:
        assert f.trucks_per_week == pytest.approx(f.trucks / weeks)
    assert plan.trucks_per_week == pytest.approx(sum(f.trucks for f in plan.flows) / weeks)


def test_cli_json_is_pure_json_on_stdout(tmp_path: Path) -> None:
    """The solver's banner must not reach standard output (``circulith network plan --json | jq``)."""
    sites, demand = small_network()
    sites.to_csv(tmp_path / "sites.csv", index=False)
    demand.to_csv(tmp_path / "demand.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run([sys.executable, "-c", "from circulith.cli.main import main; main()", "network", "plan",
                           "--sites", str(tmp_path / "sites.csv"), "--demand", str(tmp_path / "demand.csv"), "--json"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "optimal" and out["flows"]


def test_cli_text_shows_the_flows_table(tmp_path: Path) -> None:
    sites, demand = small_network()
    sites.to_csv(tmp_path / "sites.csv", index=False)
    demand.to_csv(tmp_path / "demand.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-c", "from circulith.cli.main import main; main()", "network", "plan",
                           "--sites", str(tmp_path / "sites.csv"), "--demand", str(tmp_path / "demand.csv"),
                           "--max-spokes", "0"], capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 2 and "max_open_spokes" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-c", "from circulith.cli.main import main; main()", "network", "plan",
                           "--sites", str(tmp_path / "sites.csv"), "--demand", str(tmp_path / "demand.csv")],
                          capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "trucks/week" in proc.stdout and "S1" in proc.stdout and "greedy baseline" in proc.stdout


def test_a_number_typed_with_its_unit_is_refused_with_its_column_and_data_row() -> None:
    """Rows are data rows (the first row under the header is row 1), as the sales and BMS readers count them."""
    from circulith.planning.capacity import validate_capacity
    from circulith.planning.network import validate_demand, validate_sites

    sites, demand = small_network()
    sites["capacity_t"] = sites["capacity_t"].astype(object)
    sites.loc[1, "capacity_t"] = "4000 t"
    with pytest.raises(InvalidInput) as err:
        validate_sites(sites)
    assert str(err.value) == "sites: row 2 (B), field 'capacity_t': unit in value '4000 t': write 4000 in column capacity_t"
    sites.loc[1, "capacity_t"] = "lots"
    with pytest.raises(InvalidInput, match=r"row 2 \(B\), field 'capacity_t': not a number: 'lots'$"):
        validate_sites(sites)
    demand["tonnes"] = demand["tonnes"].astype(object)
    demand.loc[0, "tonnes"] = "1,200 t"
    with pytest.raises(InvalidInput, match=r"row 1 \(S1\), field 'tonnes': unit in value '1,200 t': write 1200 in"):
        validate_demand(demand)
    cap = pd.DataFrame({"plant_id": ["P1"], "country": ["Germany"], "region": ["Europe"], "stage": ["pretreatment"],
                        "status": ["installed"], "start_year": [2020], "end_year": [None],
                        "capacity_t_per_year": ["10 kt"]})  # fmt: skip
    with pytest.raises(InvalidInput, match=r"row 1 \(P1\), field 'capacity_t_per_year': unit in value '10 kt'"):
        validate_capacity(cap)
