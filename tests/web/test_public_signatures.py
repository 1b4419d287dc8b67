"""The public passport page says whether what it shows verifies: signed and verifying, not signed, tampered."""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from circulith.services import ledger_signatures as sig
from circulith.services import ledger_trust as lt
from circulith.store.database import transaction
from circulith.store.models import Event
from circulith.store.trust_models import EventSignature


def _line(client: TestClient, battery_id: str) -> tuple[str, str]:
    r = client.get(f"/p/{quote(battery_id, safe='')}")
    assert r.status_code == 200, r.text
    m = re.search(r'<p class="seal [^"]*" id="signature" data-state="([a-z_]+)">([^<]*)</p>', r.text)
    assert m is not None, "the page has no signature line"
    return m.group(1), html.unescape(m.group(2))


def test_unsigned_signed_and_tampered_passports(registry, scenario, tmp_path) -> None:
    app, engine, _ = registry
    client = TestClient(app)
    # No organisation has a key yet: the page says so (and does not fail).
    assert _line(client, scenario.own) == ("not_signed", "Not signed: no organisation has signed the events this "
                                                         "passport rests on.")
    # The maker gets a key and its events are signed: its passport verifies, naming the organisation and key.
    op = lt.operator_principal("ORG-REGISTRY")
    key = lt.create_key(engine, op, scenario.maker, directory=tmp_path, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert sig.sign_events(engine, op, directory=tmp_path).signed > 0
    assert sig.passport_verification(engine, op, scenario.own).verifies  # the shown passport rests on the maker
    state, line = _line(client, scenario.own)
    assert (state, line) == ("verifies", f"Signed by {scenario.maker}, key {key.key_id}: verifies.")
    # Another maker's passport is still unsigned.
    assert _line(client, scenario.custody)[0] == "not_signed"
    # A signature swapped for another event's: the page says it does not verify, and why.
    with transaction(engine) as s:
        reg = s.execute(select(Event.event_id).where(Event.battery_id == scenario.own, Event.kind == "registered")
                        ).scalar_one()
        other = s.execute(select(EventSignature.jws).where(EventSignature.event_id != reg,
                                                           EventSignature.key_id == key.key_id).limit(1)).scalar_one()
        original = s.execute(select(EventSignature.jws).where(EventSignature.event_id == reg)).scalar_one()
        s.execute(update(EventSignature).where(EventSignature.event_id == reg).values(jws=other))
    try:
        state, line = _line(client, scenario.own)
        assert state == "does_not_verify"
        assert not sig.passport_verification(engine, op, scenario.own).verifies  # the same verdict
        assert line.startswith(f"Signed by {scenario.maker}, key {key.key_id}: does not verify: event {reg} (registered)")
    finally:
        with transaction(engine) as s:
            s.execute(update(EventSignature).where(EventSignature.event_id == reg).values(jws=original))
    assert _line(client, scenario.own)[0] == "verifies"
