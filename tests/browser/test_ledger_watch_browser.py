"""Chromium: the dashboard keeps the tree head it saw and warns when a served head is inconsistent with it."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from circulith.ledger.events import EventKind, LedgerEvent
from circulith.services import ledger_trust as lt
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events

from .test_dashboard_browser import (
    CHROMIUM,
    _shot,
    browser,  # noqa: F401 - the module's Chromium
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")

OPERATOR = "ORG-REGISTRY"


def _held(page) -> dict:
    items = page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('circulith.ledger.treeHead.'))"
                          ".map(k => localStorage.getItem(k))")
    assert len(items) == 1
    return json.loads(items[0])


def _other_key_x() -> str:
    """The JWK ``x`` of a fresh Ed25519 key (not the operator's)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from circulith.ledger.signing import b64url

    raw = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                 serialization.PublicFormat.Raw)
    return b64url(raw)


def _load(page, url: str, state: str) -> None:
    page.goto(url, wait_until="load")
    page.wait_for_selector("body[data-ledger-check]", state="attached", timeout=15_000)
    assert page.get_attribute("body", "data-ledger-check") == state, page.locator("#ledger-check").all_inner_texts()


def test_a_held_head_with_a_wrong_root_shows_the_banner(browser, live_server, registry, scenario, tmp_path) -> None:  # noqa: F811
    _, engine, _ = registry
    op = lt.operator_principal(OPERATOR)
    lt.create_key(engine, op, OPERATOR, directory=tmp_path)
    first = lt.issue_checkpoint(engine, op, directory=tmp_path).tree_head
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server}/login", wait_until="load")
    page.fill("input[name=email]", "nb-tuv@demo.circulith")
    page.fill("input[name=password]", "circulith-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard**")
    page.wait_for_selector("body[data-ledger-check]", state="attached", timeout=15_000)
    assert page.get_attribute("body", "data-ledger-check") == "stored"  # the first dashboard page keeps the head
    ledger = f"{live_server}/dashboard/ledger"
    _load(page, ledger, "consistent")  # the same head again
    assert _held(page)["tree_size"] == first.tree_size and _held(page)["root_sha256"] == first.root_sha256
    # The registry grows honestly: the browser checks the proof and moves on to the new head, no banner.
    with transaction(engine) as s:
        append_events(s, [LedgerEvent(battery_id=scenario.own, kind=EventKind.BMS_SNAPSHOT, actor_org_id=scenario.maker,
                                      occurred_at=dt.datetime.now(dt.UTC), payload={"soc_pct": 61.0})])
    second = lt.issue_checkpoint(engine, op, directory=tmp_path).tree_head
    assert second.tree_size == first.tree_size + 1
    _load(page, ledger, "consistent")
    assert not page.locator("#ledger-warning").is_visible()
    assert _held(page)["tree_size"] == second.tree_size
    status = page.locator("#ledger-check").inner_text()
    assert f"({second.tree_size} events) (signed by key {second.key_id}) extends the one this browser held" in status
    assert _held(page)["key"]["kid"] == second.key_id  # the operator's key is pinned with the head
    real_x = _held(page)["key"]["x"]
    # A pinned key other than the one that signed the served head: the head is not genuine, red banner.
    page.evaluate("""(x) => {
        const k = Object.keys(localStorage).find(k => k.startsWith('circulith.ledger.treeHead.'));
        const h = JSON.parse(localStorage.getItem(k));
        h.key.x = x;
        localStorage.setItem(k, JSON.stringify(h));
    }""", _other_key_x())
    _load(page, ledger, "inconsistent")
    assert "is not genuine: its signature by key" in page.locator("#ledger-warning").inner_text()
    page.evaluate("""(x) => {
        const k = Object.keys(localStorage).find(k => k.startsWith('circulith.ledger.treeHead.'));
        const h = JSON.parse(localStorage.getItem(k));
        h.key.x = x;
        localStorage.setItem(k, JSON.stringify(h));
    }""", real_x)
    _load(page, ledger, "consistent")  # the right key again: no warning
    assert not page.locator("#ledger-warning").is_visible()
    # The head this browser holds had another root (as after a rewrite of the earlier history): red banner.
    wrong = ("0" if first.root_sha256[0] != "0" else "1") + first.root_sha256[1:]
    page.evaluate("""([size, root]) => {
        const k = Object.keys(localStorage).find(k => k.startsWith('circulith.ledger.treeHead.'));
        const h = JSON.parse(localStorage.getItem(k));
        h.tree_size = size; h.root_sha256 = root;
        localStorage.setItem(k, JSON.stringify(h));
    }""", [first.tree_size, wrong])
    _load(page, f"{live_server}/dashboard/fleet", "inconsistent")
    banner = page.locator("#ledger-warning")
    assert banner.is_visible()
    assert "is inconsistent with the one this browser saw" in banner.inner_text()
    assert _held(page)["root_sha256"] == wrong  # the earlier head is kept as evidence, not replaced
    _shot(page, "dashboard-ledger-inconsistent")
    # A served tree smaller than the held one is refused the same way.
    page.evaluate("""(size) => {
        const k = Object.keys(localStorage).find(k => k.startsWith('circulith.ledger.treeHead.'));
        const h = JSON.parse(localStorage.getItem(k));
        h.tree_size = size;
        localStorage.setItem(k, JSON.stringify(h));
    }""", second.tree_size + 5)
    _load(page, ledger, "inconsistent")
    assert "smaller than the one this browser saw" in page.locator("#ledger-warning").inner_text()
    # A registry rebuilt on purpose: the user may forget the held head; the served one is held from then on.
    page.click("#ledger-forget")
    page.wait_for_selector("body[data-ledger-check=stored]", state="attached", timeout=15_000)
    assert _held(page)["tree_size"] == second.tree_size and not page.locator("#ledger-warning").is_visible()
    # Nothing is graded in this registry: the triage page says so instead of drawing empty charts.
    page.goto(f"{live_server}/dashboard/triage", wait_until="load")
    assert page.locator("#nodata-grade_mix").is_visible()
    assert "No data for grade mix of graded packs in your scope" in page.locator("#nodata-grade_mix").inner_text()
    assert page.locator("#chart-grade_mix").count() == 0
    page.close()
