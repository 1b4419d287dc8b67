"""Dashboard pages of the operations: triage, recovery and prices, forecast and capacity, network map, jobs."""

from __future__ import annotations

import csv
import io
import json
import re

from fastapi.testclient import TestClient
from tests.api.scenario import PLANT

from circulith.passport.examples import example_passport_data
from circulith.web.routes import EXTRA_PAGES


def _login(app, org: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/login", data={"email": f"{org.lower()}@demo.circulith", "password": "circulith-demo-2026"},
               follow_redirects=False)
    assert r.status_code == 303
    return c


def _charts(html: str) -> dict[str, dict]:
    found = [json.loads(m.replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&"))
             for m in re.findall(r"data-chart='([^']*)'", html)]
    return {c["id"]: c for c in found}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _csv(c: TestClient, table: str, query: str = "") -> list[list[str]]:
    r = c.get(f"/dashboard/csv/{table}.csv{query}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), (table, r.text[:200])
    return list(csv.reader(io.StringIO(r.text)))


def test_every_operation_page_renders_for_every_kind_of_role(registry) -> None:
    for org in ("ORG-REGISTRY", "REC-HYDROLUX", "OEM-ALBIS", "MSA-DE"):
        c = _login(registry[0], org)
        for slug, title in EXTRA_PAGES:
            r = c.get(f"/dashboard/{slug}")
            assert r.status_code == 200, (org, slug, r.text[:300])
            assert title in r.text


def test_grade_job_from_the_dashboard_then_triage_charts_and_csv(registry) -> None:
    app = registry[0]
    c = _login(app, "ORG-REGISTRY")
    page = c.get("/dashboard/jobs").text
    # Without the CSRF token the job is refused.
    assert c.post("/dashboard/jobs/grade", data={}, follow_redirects=False).status_code == 403
    r = c.post("/dashboard/jobs/grade", data={"csrf_token": _csrf(page)}, follow_redirects=False)
    assert r.status_code == 303 and "/dashboard/jobs?job=" in r.headers["location"]
    job_id = r.headers["location"].split("job=")[1]
    assert app.state.jobs.wait(job_id, 60).status == "done"
    frag = c.get(f"/dashboard-fragment/job/{job_id}").text
    assert 'data-status="done"' in frag and 'value="100.0"' in frag and "hx-trigger" not in frag
    assert _login(app, "DIS-KREIS").get(f"/dashboard-fragment/job/{job_id}").status_code == 404
    charts = _charts(c.get("/dashboard/triage").text)
    graded = sum(charts["grade_mix"]["values"])
    assert graded >= 1 and sum(charts["graded_soh"]["values"]) == graded
    rows = _csv(c, "graded_packs")
    assert rows[0][:3] == ["battery_id", "chemistry", "grade"] and len(rows) - 1 == graded
    assert {r[2] for r in rows[1:]} <= {"reuse", "repurpose", "recycle", "quarantine"}


def test_import_job_registers_a_file_with_progress(registry) -> None:
    app = registry[0]
    c = _login(app, "ORG-REGISTRY")
    doc = example_passport_data()
    doc["passport_id"] = "urn:uuid:6a4f3f3c-2f7e-4d8e-9c1a-0b1e2d3c4b5a"
    doc["battery_id"] = "https://id.gs1.org/01/09506000134352/21/WEBIMPORT1"
    doc["identifiers"] = []
    body = json.dumps(doc) + "\n"
    csrf = _csrf(c.get("/dashboard/jobs").text)
    bad = c.post("/dashboard/jobs/import", data={"csrf_token": csrf}, files={"file": ("x.exe", b"MZ")},
                 follow_redirects=False)
    assert bad.status_code == 422
    r = c.post("/dashboard/jobs/import", data={"csrf_token": csrf},
               files={"file": ("passports.jsonl", body.encode(), "application/x-ndjson")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    job = app.state.jobs.wait(r.headers["location"].split("job=")[1], 60)
    assert job.status == "done", job.error
    assert job.result["created"] == 1 and job.total == 1
    assert c.get(f"/p/{doc['battery_id'].replace('/', '%2F').replace(':', '%3A')}").status_code == 200
    # An OEM may not import another maker's passports: the job fails with the reason, nothing written.
    oem = _login(app, "OEM-ALBIS")
    doc2 = doc | {"battery_id": "https://id.gs1.org/01/09506000134352/21/WEBIMPORT2",
                  "passport_id": "urn:uuid:7b4f3f3c-2f7e-4d8e-9c1a-0b1e2d3c4b5a"}
    r = oem.post("/dashboard/jobs/import", data={"csrf_token": _csrf(oem.get("/dashboard/jobs").text)},
                 files={"file": ("p.jsonl", (json.dumps(doc2) + "\n").encode())}, follow_redirects=False)
    job = app.state.jobs.wait(r.headers["location"].split("job=")[1], 60)
    assert job.status == "failed" and "not your organisation" in job.error
    assert c.get("/api/v1/resolve", params={"identifier": doc2["battery_id"]}).status_code == 404


def test_recovery_scenario_switch_changes_values_and_csv_follows(registry) -> None:
    c = _login(registry[0], "REC-HYDROLUX")
    base = _charts(c.get("/dashboard/recovery").text)["route_values"]
    up = _charts(c.get("/dashboard/recovery?multiplier=2").text)["route_values"]
    hydro = base["columns"].index("hydro_usd_per_t")
    nmc = [i for i, r in enumerate(base["rows"]) if r[0] == "NMC811"][0]
    assert up["rows"][nmc][hydro] > base["rows"][nmc][hydro]
    assert [s["name"] for s in base["series"]] == ["pyro", "hydro", "direct", "black_mass"]
    rows = _csv(c, "route_values", "?multiplier=2")
    assert float(rows[nmc + 1][hydro]) == up["rows"][nmc][hydro]
    old = c.get("/dashboard/recovery?price_date=2021-12-31").text
    assert "prices as of 2021-12-31" in old
    # The recycler sees its own plant's compliance checks; another recycler sees none.
    comp = _csv(c, "compliance")
    assert len(comp) > 1 and comp[1][0] == PLANT
    assert len(_csv(_login(registry[0], "REC-NORDMET"), "compliance")) == 1


def test_forecast_bands_capacity_and_network_map(registry) -> None:
    c = _login(registry[0], "OEM-ALBIS")
    charts = _charts(c.get("/dashboard/planning").text)
    eu = charts["forecast_europe"]
    assert eu["kind"] == "band" and eu["rows"]
    assert all(lo <= med <= hi for _, med, lo, hi in eu["rows"])
    assert charts["capacity_gap"]["series"]
    net = _charts(c.get("/dashboard/network").text)["network_flows"]
    assert net["kind"] == "map" and net["rows"] and net["places"]
    outline = c.get(net["outline"])
    assert outline.status_code == 200
    names = {f["properties"]["name"] for f in outline.json()["features"]}
    assert {"Germany", "France", "Poland", "Spain"} <= names
    assert len(_csv(c, "network_flows")) == len(net["rows"]) + 1
