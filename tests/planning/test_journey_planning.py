"""Journey 4 end to end through the API, the CLI and the dashboard: scenarios side by side, own network files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_network import small_network


def _row(out: dict, figure: str, region: str | None = None, chemistry: str | None = None) -> dict:
    return next(r for r in out["rows"] if r["figure"] == figure and r["region"] == region
                and r["chemistry"] == chemistry)


def _total(out: dict, figure: str, name: str) -> float:
    return sum(r["values"][name] for r in out["rows"] if r["figure"] == figure)


def test_example_comparison_shows_each_scenario_and_its_difference(cli_json, relaxed_example_network) -> None:
    out = cli_json("forecast", "compare")  # the shipped example scenarios
    names = [s["name"] for s in out["scenarios"]]
    assert names == ["base", "metal price drop", "longer first life", "new spoke"] and out["base"] == "base"
    value = _row(out, "contained metal value")
    # prices x 0.7: the value falls by exactly 30 %, the tonnes do not move
    assert value["relative_difference"]["metal price drop"] == pytest.approx(-0.3, rel=1e-9)
    assert _total(out, "feedstock", "metal price drop") == pytest.approx(_total(out, "feedstock", "base"), rel=1e-12)
    # three more years of first life: less feedstock in 2025-2035
    assert _total(out, "feedstock", "longer first life") < 0.95 * _total(out, "feedstock", "base")
    assert _row(out, "contained Li")["difference"]["longer first life"] < 0
    # a candidate spoke can only make the cheapest network cheaper or equal (both solved to optimality)
    cost = _row(out, "network cost")
    assert {s["network_status"] for s in out["scenarios"]} == {"optimal"}
    assert cost["values"]["new spoke"] <= cost["values"]["base"] * (1 + 1e-6)
    assert cost["difference"]["base"] == 0.0
    assert all(s["calibration"]["message"] for s in out["scenarios"])


def test_own_scenarios_through_cli_and_api_agree(tmp_path: Path, planning_api, cli_json,
                                                 relaxed_example_network) -> None:
    mappings = [{"scenario": {"name": "mine"}},
                {"scenario": {"name": "cheap Li"}, "prices_usd_per_kg": {"Li": {"value": 8.0, "basis": "Li2CO3"}}},
                {"scenario": {"name": "long life"}, "lifetime": {"Cars": {"battery_scale_years": 17.0}}}]
    files = []
    for k, text in enumerate(['[scenario]\nname = "mine"\n',
                              '[scenario]\nname = "cheap Li"\n\n[prices_usd_per_kg]\nLi = { value = 8.0, basis = "Li2CO3" }\n',
                              '[scenario]\nname = "long life"\n\n[lifetime.Cars]\nbattery_scale_years = 17.0\n']):
        files.append(tmp_path / f"s{k}.toml")
        files[-1].write_text(text)
    api = planning_api.post("/api/v1/planning/compare", json={"scenarios": mappings, "from_year": 2026,
                                                                "to_year": 2030})
    assert api.status_code == 200, api.text
    cli = cli_json("forecast", "compare", *[a for f in files for a in ("--scenario", str(f))], "--from-year", "2026",
                   "--to-year", "2030")
    assert cli == api.json()
    assert [s["name"] for s in cli["scenarios"]] == ["mine", "cheap Li", "long life"]
    li = _row(cli, "contained Li")
    assert li["difference"]["cheap Li"] == pytest.approx(0.0, abs=1e-9)
    assert _row(cli, "contained metal value")["difference"]["cheap Li"] != 0.0


def test_bad_comparisons_are_refused_with_a_reason(planning_api) -> None:
    post = planning_api.post
    r = post("/api/v1/planning/compare", json={"scenarios": [{"scenario": {"name": "a"}},
                                                             {"prices_usd_per_kg": {"Li": 7.0}}]})
    assert r.status_code == 422 and "contained Li is outside the plausible range" in r.text
    r = post("/api/v1/planning/compare", json={"scenarios": [{}, {"inputs": {"sales": "/etc/passwd"}}]})
    assert r.status_code == 422 and "file inputs are not accepted" in r.text
    r = post("/api/v1/planning/compare", json={"scenarios": [{}, {}]})
    assert r.status_code == 422 and "names must differ" in r.text
    r = post("/api/v1/planning/compare", json={"scenarios": [{}]})
    assert r.status_code == 422


def test_dashboard_compare_page_and_own_network_upload(planning_api, relaxed_example_network) -> None:
    page = planning_api.get("/dashboard/compare")
    assert page.status_code == 200 and "metal price drop" in page.text and "new spoke" in page.text
    csv = planning_api.get("/dashboard/csv/scenario_comparison.csv").text.splitlines()
    assert csv[0].startswith("figure,unit,region,chemistry,base,metal price drop")
    sites, demand = small_network()
    token = planning_api.headers["X-CSRF-Token"]
    r = planning_api.post("/dashboard/network/upload", data={"csrf_token": token, "max_spokes": "1"},
                          files={"sites": ("my_sites.csv", sites.to_csv(index=False)),
                                 "demand": ("my_demand.csv", demand.to_csv(index=False))})
    assert r.status_code == 200, r.text[:500]
    assert "uploaded my_sites.csv, my_demand.csv" in r.text and "trucks_per_week" in r.text
    assert re.search(r"status optimal", r.text)
    bad = demand.assign(damaged_share=[1.5, 0.0, 0.2])
    r = planning_api.post("/dashboard/network/upload", data={"csrf_token": token},
                          files={"sites": ("s.csv", sites.to_csv(index=False)),
                                 "demand": ("d.csv", bad.to_csv(index=False))})
    assert r.status_code in (400, 422) and "damaged_share" in r.text
