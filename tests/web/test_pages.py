"""Server-rendered pages: login, dashboard per role, CSV downloads, public passport pages and QR codes."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from urllib.parse import quote

import segno
from fastapi.testclient import TestClient

from circulith.passport.attributes import read_passport_attributes
from circulith.web.routes import PAGES


def _login(app, org: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/login", data={"email": f"{org.lower()}@demo.circulith", "password": "circulith-demo-2026",
                               "next": "/dashboard/fleet"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/fleet"
    return c


def _charts(html: str) -> list[dict]:
    return [json.loads(m.replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&"))
            for m in re.findall(r"data-chart='([^']*)'", html)]


def test_dashboard_requires_login(registry) -> None:
    r = TestClient(registry[0]).get("/dashboard/fleet", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_wrong_password_page(registry) -> None:
    from circulith.server import create_app

    c = TestClient(create_app(registry[0].state.settings, engine=registry[1]))
    r = c.post("/login", data={"email": "ec@demo.circulith", "password": "nope"})
    assert r.status_code == 401 and "wrong e-mail or password" in r.text


def test_each_dashboard_page_per_role(registry) -> None:
    app = registry[0]
    for org in ("ORG-REGISTRY", "NB-TUV", "DIS-KREIS", "REF-SALTWORKS"):
        c = _login(app, org)
        for slug, title in PAGES:
            r = c.get(f"/dashboard/{slug}")
            assert r.status_code == 200, (org, slug)
            assert title in r.text
            for chart in _charts(r.text):
                assert len(chart["labels"]) == len(chart["values"])
        fleet_page = c.get("/dashboard/fleet").text
        fleet = _charts(fleet_page)
        if org in ("ORG-REGISTRY", "NB-TUV"):
            assert sum(next(ch for ch in fleet if ch["id"] == "chemistry")["values"]) == 12  # whole fleet
        elif org == "REF-SALTWORKS":  # holds nothing: each chart says so instead of drawing an empty frame
            assert fleet == []
            assert 'id="nodata-chemistry"' in fleet_page and "No data for packs by chemistry in your scope" in fleet_page
    ledger = _login(app, "NB-TUV").get("/dashboard/ledger").text
    assert "every chain intact" in ledger
    assert "Full verification is run by" in _login(app, "DIS-KREIS").get("/dashboard/ledger").text
    access = _login(app, "ORG-REGISTRY").get("/dashboard/access").text
    assert 'id="access-log"' in access
    # Journey 5: every organisation sees the log within its scope, and what it was granted.
    own = _login(app, "DIS-KREIS").get("/dashboard/access").text
    assert 'id="access-log"' in own and "reads by DIS-KREIS and reads of its batteries" in own
    assert 'id="granted"' in own and 'id="granted"' not in access


def test_csv_downloads(registry) -> None:
    c = _login(registry[0], "ORG-REGISTRY")
    for table in ("chemistry", "lifecycle_state", "status", "region", "production_year", "soh_bins",
                  "retirements_by_year", "events_by_kind", "grants", "access_log"):
        r = c.get(f"/dashboard/csv/{table}.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), table
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0], table
    chem = list(csv.reader(io.StringIO(c.get("/dashboard/csv/chemistry.csv").text)))
    assert sum(int(n) for _, n in chem[1:]) == 12
    assert TestClient(registry[0]).get("/dashboard/csv/chemistry.csv", follow_redirects=False).status_code == 303


def test_logout_needs_csrf(registry) -> None:
    c = _login(registry[0], "EC")
    assert c.post("/logout", data={}).status_code == 403
    page = c.get("/dashboard/fleet").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    r = c.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert c.get("/dashboard/fleet", follow_redirects=False).status_code == 303


def test_public_page_shows_only_public(registry, scenario) -> None:
    c = TestClient(registry[0])
    t0 = time.perf_counter()
    r = c.get(f"/p/{quote(scenario.own, safe='')}")
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200 and elapsed < 1.0
    assert 'name="viewport"' in r.text
    assert "soh_pct" not in r.text and "test_report_url" not in r.text and "dismantling" not in r.text
    assert 'id="ceased"' not in r.text
    assert f"/p/{quote(scenario.own, safe='')}/qr.svg" in r.text


def test_recycled_page_says_ceased_and_shows_lineage(registry, scenario) -> None:
    c = TestClient(registry[0])
    r = c.get(f"/p/{quote(scenario.recycled, safe='')}")
    assert r.status_code == 200
    assert 'id="ceased"' in r.text and "Art. 77(8)" in r.text
    assert scenario.recycled_module is not None and quote(scenario.recycled_module, safe="") in r.text
    module = c.get(f"/p/{quote(scenario.recycled_module, safe='')}")
    assert "Part of pack" in module.text


def test_qr_codes_encode_the_public_url(registry, scenario) -> None:
    c = TestClient(registry[0])
    # the configured public base URL, not the request's host (a label's QR code names the registry)
    base = registry[0].state.settings.public_base_url
    assert base != "http://testserver"
    url = f"{base}/p/{quote(scenario.own, safe='')}"
    svg = c.get(f"/p/{quote(scenario.own, safe='')}/qr.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    expected = io.BytesIO()
    segno.make(url, error="m").save(expected, kind="svg", scale=4, border=2, xmldecl=False)
    assert svg.content == expected.getvalue()
    png = c.get(f"/p/{quote(scenario.own, safe='')}/qr.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # Any identifier of the battery gives the same QR (it encodes the canonical page).
    p = c.get(f"/api/v1/passports/{scenario.own}").json()["passport"]
    other = c.get(f"/p/{quote(p['passport_id'], safe='')}/qr.svg")
    assert other.content == svg.content


def test_public_page_states_recycled_content_and_due_diligence_in_words(registry, scenario) -> None:
    c = TestClient(registry[0])
    p = c.get(f"/api/v1/passports/{scenario.own}").json()["passport"]
    page = c.get(f"/p/{quote(scenario.own, safe='')}").text
    content = {k: v for k, v in (p.get("recycled_content") or {}).items() if v is not None}
    assert content, "the demo passports declare recycled content"
    section = page.split('id="recycled-content"')[1].split("</dl>")[0]
    attrs = read_passport_attributes()
    for key, share in content.items():
        # the longlist's attribute name, then the share in per cent (stored as a fraction)
        assert f"<dt>{attrs['recycled_content.' + key].attribute}</dt><dd>{100 * share:.1f} %</dd>" in section, key
    due = page.split('id="due-diligence"')[1].split("</p>")[0]
    if p.get("due_diligence_report_url"):
        assert p["due_diligence_report_url"] in due and "Art. 52(3)" in due
    else:
        assert "No due diligence report" in due


def test_permanent_link_uses_the_configured_public_base_url(registry, scenario) -> None:
    import dataclasses

    from circulith.server import create_app

    settings = dataclasses.replace(registry[0].state.settings, public_base_url="https://passports.example.org")
    c = TestClient(create_app(settings, engine=registry[1]))
    page = c.get(f"/p/{quote(scenario.own, safe='')}", headers={"Host": "testserver"}).text
    assert f'href="https://passports.example.org/p/{quote(scenario.own, safe="")}"' in page
    assert "http://testserver/p/" not in page


def test_unknown_passport_page(registry) -> None:
    r = TestClient(registry[0]).get("/p/urn:uuid:00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and "no battery" in r.text


def test_a_digital_link_path_opens_the_same_page(registry, scenario) -> None:
    """A phone may open ``/p/01/<GTIN>/21/<serial>`` unencoded: the registry resolves the GS1 Digital Link path."""
    c = TestClient(registry[0])
    assert scenario.own.startswith("https://id.gs1.org/")
    path = scenario.own.removeprefix("https://id.gs1.org/")
    quoted = c.get(f"/p/{quote(scenario.own, safe='')}")
    plain = c.get(f"/p/{path}")
    assert plain.status_code == 200 and plain.text == quoted.text
    assert c.get(f"/p/{path}/qr.svg").content == c.get(f"/p/{quote(scenario.own, safe='')}/qr.svg").content
    assert c.get("/p/01/00000000000000/21/NOPE").status_code in (404, 422)
