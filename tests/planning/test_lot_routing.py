"""Lot routing: paths, permits, capacity, truck packing under the load-compatibility rules, CLI."""

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from circulith.cli.planning_commands import network_app
from circulith.errors import InvalidInput
from circulith.planning.lot_routing import compatibility_matrix, route_lots
from circulith.planning.network import NetworkParams

DATA = resources.files("circulith.reference").joinpath("data")


def sites():
    return pd.DataFrame({
        "site_id": ["O", "SP1", "SP2", "RU"], "kind": ["collection", "spoke", "spoke", "reuse"],
        "lat": [50.0, 50.1, 51.0, 50.2], "lon": [8.0, 8.1, 9.0, 8.2],
        "capacity_t": [np.nan, 10.0, 10.0, 10.0], "fixed_cost_usd": 0.0,
        "variable_cost_usd_per_t": [0.0, 100.0, 100.0, 50.0],
        "accepts_damaged": [False, False, True, False], "accepts_critical": [False, False, True, False],
        "chemistries": ["*", "*", "*", "LFP"],
    })  # fmt: skip


def inv(rows):
    return pd.DataFrame(rows, columns=["battery_id", "site_id", "mass_kg", "grade", "damage_state", "chemistry"])


def test_paths_and_permits():
    r = route_lots(inv([
        ("b1", "O", 400, "reuse", "intact", "LFP"),       # reuse path
        ("b2", "O", 400, "reuse", "intact", "NMC811"),    # reuse site takes LFP only -> held
        ("b3", "O", 400, "recycle", "intact", "NMC811"),  # nearest spoke
        ("b4", "O", 400, "recycle", "damaged", "NMC811"), # only SP2 holds the damaged permit
        ("b5", "O", 400, "reuse", "damaged", "LFP"),      # damaged never to reuse: recycled at SP2
        ("b6", "O", 400, "quarantine", "intact", "LFP"),  # held
    ]), sites())  # fmt: skip
    to = dict(zip(r.assignments["battery_id"], r.assignments["to_site"], strict=True))
    assert to == {"b1": "RU", "b3": "SP1", "b4": "SP2", "b5": "SP2"}
    reasons = dict(zip(r.held["battery_id"], r.held["reason"], strict=True))
    assert "no reuse site accepts intact NMC811" in reasons["b2"]
    assert "quarantine" in reasons["b6"]


def test_capacity_overflow_goes_to_the_next_site_then_is_held():
    rows = [(f"b{i}", "O", 5000, "recycle", "intact", "NMC811") for i in range(5)]  # 25 t, 2 x 10 t of capacity
    r = route_lots(inv(rows), sites())
    per_site = r.assignments.groupby("to_site")["mass_kg"].sum()
    assert (per_site <= 10_000).all() and per_site.sum() == 20_000
    assert len(r.held) == 1 and "no capacity left" in r.held["reason"].iloc[0]


def test_critical_travels_alone_and_damaged_may_share_with_intact():
    compat = compatibility_matrix()
    assert compat[0, 1] and not compat[0, 2] and not compat[1, 2]
    r = route_lots(inv([
        ("i", "O", 300, "recycle", "intact", "NMC811"), ("d", "O", 300, "recycle", "damaged", "NMC811"),
        ("c", "O", 300, "recycle", "critical", "NMC811"),
    ]), sites().assign(accepts_damaged=[False, False, True, False]))  # fmt: skip
    # intact goes to SP1 (cheaper), damaged and critical to SP2 in separate trucks
    t = r.assignments.set_index("battery_id")["truck_id"]
    assert t["d"] != t["c"]
    crit_truck = r.trucks.set_index("truck_id").loc[t["c"]]
    assert crit_truck["states"] == "critical" and crit_truck["n_batteries"] == 1
    assert not crit_truck["full_adr"]  # 300 kg <= 333 kg (ADR 1.1.3.6)


def test_bad_inventory_names_row_field_and_battery():
    with pytest.raises(InvalidInput) as e:
        route_lots(inv([("b1", "NOPE", -1, "reuse", "broken", "LFP"), ("b1", "O", 1, "x", "intact", "LFP")]), sites())
    text = " ".join(f"{p.field} {p.reason} {p.record_id}" for p in e.value.problems)
    for needle in ("mass_kg", "damage_state", "unknown site", "grade", "duplicate battery_id", "b1"):
        assert needle in text


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(50, 900), st.sampled_from(["intact", "damaged", "critical"]),
                          st.sampled_from(["reuse", "recycle"]), st.sampled_from(["LFP", "NMC811"])),
                min_size=1, max_size=40))  # fmt: skip
def test_trucks_respect_payload_permits_and_compatibility(rows):
    df = inv([(f"b{i}", "O", m, g, s, c) for i, (m, s, g, c) in enumerate(rows)])
    r = route_lots(df, sites())
    assert len(r.assignments) + len(r.held) == len(df)
    p = NetworkParams.from_defaults()
    compat = compatibility_matrix()
    rank = {"intact": 0, "damaged": 1, "critical": 2}
    for _, t in r.trucks.iterrows():
        assert t["load_share"] <= 1.0 + 1e-9
        states = [rank[s] for s in t["states"].split(";")]
        assert all(compat[a, b] for a in states for b in states)
    merged = r.assignments.merge(sites(), left_on="to_site", right_on="site_id")
    assert not ((merged["damage_state"] != "intact") & ~merged["accepts_damaged"]).any()
    assert not ((merged["damage_state"] != "intact") & (merged["kind"] == "reuse")).any()
    # mass per truck from the payload of each battery's state
    for tid, g in r.assignments.groupby("truck_id"):
        share = (g["mass_kg"] / 1000 / g["damage_state"].map(p.payload_t)).sum()
        assert share == pytest.approx(r.trucks.set_index("truck_id").loc[tid, "load_share"])


def test_cli_route_on_the_example_files():
    app = typer.Typer()
    app.add_typer(network_app, name="network")
    res = CliRunner().invoke(app, ["network", "route", "--inventory", str(DATA / "example_inventory.csv"),
                                   "--sites", str(DATA / "example_sites.csv"), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["summary"]["shipped"] + out["summary"]["held"] == out["summary"]["batteries"] == 60
    assert all(t["load_share"] <= 1 + 1e-9 for t in out["trucks"])
