"""Parity: the CLI's ``--json`` and the API's response are the same document for forecast, capacity, network."""

from __future__ import annotations

from typing import Any

TIMING = ("solve_seconds",)


def _untimed(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in TIMING}


def test_forecast_parity(planning_api, cli_json) -> None:
    api = planning_api.get("/api/v1/planning/forecast", params={"stream": "eol", "metric": "gwh",
                                                                 "region": "Europe"}).json()
    cli = cli_json("forecast", "run", "--stream", "eol", "--metric", "gwh", "--region", "Europe")
    assert cli == api
    assert api["rows"] and {r["region"] for r in api["rows"]} == {"Europe"}


def test_capacity_parity(planning_api, cli_json) -> None:
    api = planning_api.get("/api/v1/planning/capacity").json()
    assert cli_json("forecast", "capacity") == api
    api = planning_api.get("/api/v1/planning/capacity", params={"stage": "refining", "installed_only": True}).json()
    assert cli_json("forecast", "capacity", "--stage", "refining", "--installed-only") == api
    assert api["stage"] == "refining" and api["include_planned"] is False


def test_network_parity(planning_api, cli_json, relaxed_example_network) -> None:
    api = planning_api.get("/api/v1/planning/network").json()
    cli = cli_json("network", "plan", "--continuous-trucks", "--time-limit", "30")
    assert _untimed(cli) == _untimed(api)
    assert api["flows"] and api["trucks_per_week"] > 0
