"""Journey 6: an authority sees its jurisdiction and no other; the Commission sees all; API, CSV, CLI, dashboard."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from circulith.cli.main import app
from circulith.store.database import transaction
from circulith.store.jurisdictions import set_jurisdiction


def test_authority_sees_its_jurisdiction_and_no_other(authority_api, commission_api, planning_api) -> None:
    de = authority_api.get("/api/v1/national").json()
    assert de["scope"] == "DE" and de["regions"] == ["DE"]
    assert de["inventory"] and {r["region"] for r in de["inventory"]} == {"DE"}
    assert all("DE" in (f["from_region"], f["to_region"]) for f in de["flows"])
    # the same figures as the Commission's view narrowed to DE
    ec_de = commission_api.get("/api/v1/national", params={"region": "DE"}).json()
    assert de["inventory"] == ec_de["inventory"] and de["retirements"] == ec_de["retirements"]
    ec = commission_api.get("/api/v1/national").json()
    assert ec["scope"] == "all regions" and len({r["region"] for r in ec["inventory"]}) > 1
    assert sum(r["units"] for r in ec["inventory"]) == 60
    assert sum(r["units"] for r in de["inventory"]) < 60
    # outside the jurisdiction, or not an authority: refused
    assert authority_api.get("/api/v1/national", params={"region": "FR"}).status_code == 403
    assert planning_api.get("/api/v1/national").status_code == 403
    assert authority_api.get("/api/v1/national/flows.csv", params={"region": "FR"}).status_code == 403


def test_retirements_against_forecast_and_late_reporters(commission_api) -> None:
    ec = commission_api.get("/api/v1/national").json()
    years = [r["year"] for r in ec["retirements"]]
    assert years == sorted(years) and any(r["observed"] > 0 for r in ec["retirements"])
    with_forecast = [r for r in ec["retirements"] if r["forecast_median"] is not None]
    assert with_forecast and all(r["forecast_lower"] <= r["forecast_median"] <= r["forecast_upper"]
                                 for r in with_forecast)
    assert "registry's own cohorts" in ec["forecast_note"]
    # no submission recorded: every event past its deadline is overdue, said plainly (it used to say "cannot be
    # determined" while `compliance late` listed the overdue operators)
    late = ec["late_reporters"]
    assert late["available"] is True and "no traceability submission is recorded" in late["note"]
    assert late["operators"] == sorted(r["org_id"] for r in late["records"] if r["overdue"] or r["submitted_late"])


def test_csv_tables_match_the_view(authority_api) -> None:
    view = authority_api.get("/api/v1/national").json()
    view["late_reporters"] = view["late_reporters"]["records"]
    for table in ("inventory", "flows", "retirements", "throughput", "late_reporters"):
        r = authority_api.get(f"/api/v1/national/{table}.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text)))
        assert len(rows) == len(view[table]) + 1
    assert authority_api.get("/api/v1/national/secrets.csv").status_code == 422


def test_configured_jurisdiction_widens_the_scope(planning_api, authority_api) -> None:
    with transaction(planning_api.engine) as s:
        set_jurisdiction(s, "MSA-DE", ["DE", "FR"])
    try:
        v = authority_api.get("/api/v1/national").json()
        assert v["regions"] == ["DE", "FR"] and {r["region"] for r in v["inventory"]} <= {"DE", "FR"}
        assert authority_api.get("/api/v1/national", params={"region": "FR"}).status_code == 200
    finally:
        with transaction(planning_api.engine) as s:
            set_jurisdiction(s, "MSA-DE", [])


def test_cli_national_view_equals_the_api(planning_api, authority_api) -> None:
    res = CliRunner().invoke(app, ["--db", planning_api.db_url, "--as", "MSA-DE", "national", "view", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == authority_api.get("/api/v1/national").json()
    res = CliRunner().invoke(app, ["--db", planning_api.db_url, "--as", "OEM-ALBIS", "national", "view"])
    assert res.exit_code != 0


def test_dashboard_national_page(authority_api, planning_api) -> None:
    other = planning_api.get("/dashboard/national")  # an OEM: the page renders and says why it shows nothing
    assert other.status_code == 200 and "for authorities, the Commission and the registry operator" in other.text
    assert "Flows between regions" not in other.text
    page = authority_api.get("/dashboard/national")
    assert page.status_code == 200 and "Flows between regions (DE)" in page.text
    rows = list(csv.reader(io.StringIO(authority_api.get("/dashboard/csv/national_inventory.csv").text)))
    assert rows[0][:3] == ["region", "status", "lifecycle_state"] and {r[0] for r in rows[1:]} == {"DE"}


def test_throughput_of_registered_plants_against_capacity(planning_api, authority_api, commission_api) -> None:
    import datetime as dt

    from sqlalchemy import delete

    from circulith.store.lot_models import PlantLot

    # an input lot of 2 x 400 kg recorded by the Belgian recycler at a plant of the shipped capacity table
    doc = json.dumps({"lot_type": "input", "items": [{"battery_id": "x1", "mass_kg": 400.0},
                                                     {"battery_id": "x2", "mass_kg": 400.0}]})
    with transaction(planning_api.engine) as s:
        s.add(PlantLot(lot_id="TEST-LOT-1", plant_id="LC-KINGSTON", lot_type="input", period=dt.date(2025, 3, 1),
                       document=doc, document_sha256="0" * 64, recorded_at="2025-03-01T00:00:00.000000Z",
                       actor_org_id="REC-HYDROLUX"))
    try:
        ec = commission_api.get("/api/v1/national").json()["throughput"]
        row = next(r for r in ec if r["plant_id"] == "LC-KINGSTON" and r["year"] == 2025)
        assert row["input_t"] == 0.8 and row["capacity_t"] == 5000.0  # recycling_capacity.csv LC-KINGSTON
        assert row["utilisation"] == 0.8 / 5000.0 and row["country"] == "BE"
        assert all(r["country"] == "DE" for r in authority_api.get("/api/v1/national").json()["throughput"])
        assert commission_api.get("/api/v1/national", params={"region": "BE"}).json()["throughput"]
    finally:
        with transaction(planning_api.engine) as s:
            s.execute(delete(PlantLot).where(PlantLot.lot_id == "TEST-LOT-1"))


def test_late_reporters_come_from_recorded_submissions(commission_api) -> None:
    """Once a submission is recorded, "late" is a fact: an operator with a due event not uploaded in time."""
    import datetime as dt

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from circulith.services.national import late_reporters
    from circulith.store.models import Event
    from circulith.store.traceability_repo import insert_submission

    engine = commission_api.app.state.engine
    with Session(engine) as s:  # rolled back at the end: the session-wide registry stays as it was
        ev = s.execute(select(Event.event_id, Event.actor_org_id).where(Event.kind == "received").limit(1)).first()
        assert ev is not None
        insert_submission(s, submission_id="SUB-T1", org_id=ev.actor_org_id, submitted_on=dt.date(2026, 1, 1),
                          recorded_at="2026-01-01T00:00:00Z", user_id=None, platform_reference=None,
                          event_ids=[ev.event_id])
        out = late_reporters(s, None, as_of=dt.date(2026, 12, 31))
        s.rollback()
    assert out.available and "recorded submissions" in out.note
    assert all(isinstance(o, str) for o in out.operators)


def test_national_late_reporters_agree_with_compliance_late(planning_api, commission_api, authority_api) -> None:
    """One computation: the national view's late reporters are `compliance late`'s rows for the same scope."""
    import datetime as dt

    from circulith.auth.policy import Principal, Role, Scope
    from circulith.services.national import late_reporters
    from circulith.services.traceability import late_report

    day = dt.date(2025, 12, 31)
    msa = Principal(org_id="MSA-DE", role=Role.MARKET_SURVEILLANCE, scopes=frozenset({Scope.READ}), via="cli")
    with transaction(planning_api.engine) as s:
        for regions, region in ((None, None), (["DE"], "DE")):
            view = late_reporters(s, regions, as_of=day)
            rep = late_report(s, msa, day.year, as_of=day, region=region)
            assert view.records == rep.operators
        everyone = late_reporters(s, None, as_of=day)
    assert everyone.records and everyone.operators  # the demo's 2025 receipts are overdue (none reported)
    assert {r.org_id for r in everyone.records} >= set(everyone.operators)
    # the doors name the late operators outside JSON too: CLI text, dashboard page and its CSV
    view = authority_api.get("/api/v1/national").json()["late_reporters"]
    res = CliRunner().invoke(app, ["--db", planning_api.db_url, "--as", "MSA-DE", "national", "view"])
    assert res.exit_code == 0, res.output
    assert "late reporters:" in res.stdout and "overdue" in res.stdout
    assert all(o in res.stdout for o in view["operators"])
    page = authority_api.get("/dashboard/national")
    assert page.status_code == 200 and "Traceability reporting (DE)" in page.text
    dash = authority_api.get("/dashboard/csv/national_late_reporters.csv")
    assert dash.status_code == 200
    rows = list(csv.reader(io.StringIO(dash.text)))
    assert rows[0] == ["org_id", "events_due", "submitted_on_time", "submitted_late", "overdue"]
    assert [r[0] for r in rows[1:]] == [r["org_id"] for r in view["records"]]
