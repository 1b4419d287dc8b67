"""``/api/docs`` renders the API's operations in Debian's Chromium with no network.

Every request that does not go to the test server on loopback is aborted, and any Content-Security-Policy
violation or failed asset fails the test, so the page can only render from the vendored Swagger UI assets.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from browser.test_dashboard_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian's chromium is not installed at /usr/bin/chromium "
                                       "(apt-get install -y chromium, or run 'make test')")


def test_api_docs_render_offline(live_server: str) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    local = urlsplit(live_server).netloc
    outside: list[str] = []
    failed: list[str] = []
    console_errors: list[str] = []
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page()

            def gate(route: Any) -> None:
                url = route.request.url
                if urlsplit(url).netloc == local or url.startswith("data:"):
                    route.continue_()
                else:
                    outside.append(url)
                    route.abort()

            page.route("**/*", gate)
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{live_server}/api/docs", wait_until="load")
            page.wait_for_selector(".opblock", timeout=30_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            title = page.locator(".info .title").inner_text()
        finally:
            browser.close()
    assert outside == [], f"the docs page reached outside the server: {outside}"
    assert failed == [], f"assets failed to load: {failed}"
    assert console_errors == [], f"browser console errors (CSP?): {console_errors}"
    assert "circulith" in title
    # the operations of the API are listed, read from /api/openapi.json
    assert len(paths) >= 20
    assert any(p.startswith("/api/v1/passports") for p in paths)
    assert any("/api/v1/auth/login" in p for p in paths)
