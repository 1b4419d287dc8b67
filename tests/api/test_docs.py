"""``/api/docs`` is served from the package's vendored Swagger UI, under the app's CSP; not in production."""

from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient

from circulith.server import create_app


def test_docs_page_and_assets_come_from_the_package(registry) -> None:
    c = TestClient(registry[0])
    page = c.get("/api/docs")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "cdn" not in page.text.lower()  # no inline script, no CDN
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "circulith-docs.js", "LICENSE"):
        r = c.get(f"/api/docs/assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 100, asset
        assert f"/api/docs/assets/{asset}" in page.text or asset == "LICENSE"


def test_no_docs_in_production(registry) -> None:
    settings = dataclasses.replace(
        registry[0].state.settings, env="production", secret_key="c2Vj-cmV0_LWtleS1mb3ItdGVzdHMtb25seS0x",
        allowed_hosts=("passports.example.org",), public_base_url="https://passports.example.org",
        database_url="postgresql://db/circulith")
    c = TestClient(create_app(settings, engine=registry[1]), base_url="https://passports.example.org")
    assert c.get("/api/docs").status_code == 404
    assert c.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 404
    assert c.get("/api/openapi.json").status_code == 200
