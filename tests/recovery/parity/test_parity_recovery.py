"""Parity: the CLI's ``--json`` and the API's response are equal on the same registry and principal.

Compliance report, recovery run / compare / values-independent runs, lot show and trace, and the China
traceability report: one service answers each, whatever the door.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from tests.api.scenario import PLANT

from api.conftest import Client
from api.scenario import Scenario
from circulith.cli.main import run as cli

Registry = tuple[FastAPI, Engine, Scenario]
Clients = dict[str | None, Client]


def _cli(capsys: pytest.CaptureFixture[str], registry: Registry, *args: str, org: str | None = None) -> dict:
    """The JSON ``circulith --db URL [--as ORG] ARGS`` prints."""
    _, engine, _ = registry
    code = cli(["--db", engine.url.render_as_string(hide_password=False), *(["--as", org] if org else []), *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def _plant_year(clients: Clients) -> int:
    plants = clients["MSA-DE"].get("/api/v1/compliance/plants").json()
    (plant,) = [p for p in plants if p["plant_id"] == PLANT]
    return plant["years"][0]


@pytest.mark.parametrize("org", ["REC-HYDROLUX", "MSA-DE"])
def test_compliance_report_is_the_same_through_cli_and_api(capsys: pytest.CaptureFixture[str], registry: Registry,
                                                           clients: Clients, org: str) -> None:
    year = _plant_year(clients)
    api = clients[org].get(f"/api/v1/compliance/{PLANT}", params={"year": year})
    assert api.status_code == 200, api.text
    assert _cli(capsys, registry, "compliance", "report", "--plant", PLANT, "--year", str(year), "--json",
                org=org) == api.json()
    assert api.json()["evidence"] and api.json()["method"].startswith("Regulation (EU) 2023/1542")
    csv_ = clients[org].get(f"/api/v1/compliance/{PLANT}/evidence.csv", params={"year": year})
    assert csv_.status_code == 200 and "IN-HYDROLUX-1" in csv_.text


def test_another_recycler_sees_no_report_of_the_plant(clients: Clients) -> None:
    year = _plant_year(clients)
    r = clients["DIS-KREIS"].get(f"/api/v1/compliance/{PLANT}", params={"year": year})
    assert r.status_code == 404


def test_recovery_run_and_compare_are_the_same_through_cli_and_api(capsys: pytest.CaptureFixture[str], registry: Registry,
                                                                   clients: Clients) -> None:
    body = {"chemistry": "NMC622", "form": "pack", "mass_kg": 400, "route": "hydro", "price_date": "2023-06-30"}
    api = clients["REC-HYDROLUX"].post("/api/v1/recovery/run", json=body)
    assert api.status_code == 200, api.text
    assert _cli(capsys, registry, "recovery", "run", "--chemistry", "NMC622", "--form", "pack", "--mass-kg", "400",
                "--route", "hydro", "--date", "2023-06-30", "--json", org="REC-HYDROLUX") == api.json()
    body.pop("route")
    api = clients["REC-HYDROLUX"].post("/api/v1/recovery/compare", json=body)
    assert api.status_code == 200, api.text
    assert _cli(capsys, registry, "recovery", "compare", "--chemistry", "NMC622", "--form", "pack", "--mass-kg",
                "400", "--date", "2023-06-30", "--json", org="REC-HYDROLUX") == api.json()


def test_lot_show_and_trace_are_the_same_through_cli_and_api(capsys: pytest.CaptureFixture[str], registry: Registry,
                                                                   clients: Clients) -> None:
    for path, cmd in (("", "show"), ("/trace", "trace")):
        api = clients["REC-HYDROLUX"].get(f"/api/v1/lots/IN-HYDROLUX-1{path}")
        assert api.status_code == 200, api.text
        assert _cli(capsys, registry, "recovery", "lot", cmd, "IN-HYDROLUX-1", "--json",
                    org="REC-HYDROLUX") == api.json()
    assert clients["DIS-KREIS"].get("/api/v1/lots/IN-HYDROLUX-1").status_code == 404


@pytest.mark.parametrize("org", ["MSA-DE", "REC-HYDROLUX"])
def test_traceability_report_is_the_same_through_cli_and_api(capsys: pytest.CaptureFixture[str], registry: Registry,
                                                           clients: Clients, org: str) -> None:
    params = {"year": _plant_year(clients), "as_of": "2026-12-31", "limit": 5}
    api = clients[org].get("/api/v1/compliance/traceability", params=params)
    assert api.status_code == 200, api.text
    assert _cli(capsys, registry, "compliance", "traceability", "--year", str(params["year"]), "--as-of",
                "2026-12-31", "--limit", "5", "--json", org=org) == api.json()


def test_recovery_price_of_grade_rows_equals_the_api_offer(capsys: pytest.CaptureFixture[str], registry: Registry,
                                                           clients: Clients, tmp_path: Path) -> None:
    sc = registry[2]
    units = [{"battery_id": sc.custody, "grade": "recycle", "decided_by": "U-own-rules"},
             {"battery_id": sc.own, "grade": "quarantine", "decided_by": "U-own-rules"},
             {"battery_id": sc.recycled, "grade": "repurpose", "decided_by": "U-own-rules"}]
    f = tmp_path / "grades.json"
    f.write_text(json.dumps({"units": units}), encoding="utf-8")
    api = clients["REC-HYDROLUX"].post("/api/v1/triage/offer", json={"units": units, "as_of": "2026-06-30"})
    assert api.status_code == 200, api.text
    assert [x["battery_id"] for x in api.json()["lines"]] == [sc.custody, sc.own]
    assert _cli(capsys, registry, "recovery", "price", str(f), "--date", "2026-06-30", "--json",
                org="REC-HYDROLUX") == api.json()
