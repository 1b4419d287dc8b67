"""Browser tests with Debian's Chromium (Playwright with ``executable_path``; no browser download).

Log in, open each dashboard page and check its charts rendered with data, open a public passport
through its QR URL; screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian's chromium is not installed at /usr/bin/chromium "
                                       "(apt-get install -y chromium, or run 'make test')")


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_login_and_every_dashboard_page(browser, live_server) -> None:
    from circulith.web.routes import EXTRA_PAGES, PAGES

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server}/dashboard", wait_until="domcontentloaded")
    assert "/login" in page.url
    page.fill("input[name=email]", "org-registry@demo.circulith")
    page.fill("input[name=password]", "circulith-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard**")
    # Grade the registry in the background from the jobs page; the progress bar (htmx polling) reaches 100 %.
    page.goto(f"{live_server}/dashboard/jobs", wait_until="load")
    page.click("#grade-form button")
    page.wait_for_selector(".job[data-status=done]", timeout=60_000)
    assert page.locator(".job progress").get_attribute("value") == "100.0"
    _shot(page, "dashboard-job-done")
    for slug, title in PAGES + tuple(EXTRA_PAGES):
        page.goto(f"{live_server}/dashboard/{slug}", wait_until="load")
        assert title in page.content()
        charts = page.locator("div.chart")
        n = charts.count()
        if n:
            page.wait_for_function(f"document.querySelectorAll('div.chart[data-rendered]').length === {n}",
                                   timeout=10_000)
            # Each chart has a canvas and ECharts holds its series with data points.
            counts = page.evaluate("""() => Array.from(document.querySelectorAll('div.chart')).map(el => {
                const inst = echarts.getInstanceByDom(el);
                const opt = inst.getOption();
                return [el.querySelectorAll('canvas').length, opt.series[0].data.length];
            })""")
            assert all(canvases >= 1 for canvases, _ in counts)
            assert any(points > 0 for _, points in counts), f"no chart on {slug} has data"
            assert all(points > 0 for _, points in counts) or slug in ("ledger", "access"), (slug, counts)
        _shot(page, f"dashboard-{slug}")
    page.close()


def test_public_passport_from_its_qr_url(browser, live_server, scenario) -> None:
    import segno

    # The QR code served for the battery encodes exactly this URL (checked by re-encoding it).
    url = f"{live_server}/p/{quote(scenario.recycled, safe='')}"
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)  # a phone
    svg = page.request.get(f"{url}/qr.svg").body()
    expected = io.BytesIO()
    segno.make(url, error="m").save(expected, kind="svg", scale=4, border=2, xmldecl=False)
    assert svg == expected.getvalue()
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200
    assert page.locator("#ceased").is_visible()
    assert page.locator("#lineage li").count() >= 1
    assert page.locator("img.qr").evaluate("img => img.naturalWidth") > 0
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, "the public page must not scroll sideways on a phone"
    _shot(page, "public-passport-recycled")
    page.close()
