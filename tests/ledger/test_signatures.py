"""Organisations sign their events; signatures survive key rotation, revocation is honoured, tampering is refused,
and an exported passport verifies offline with the published keys."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, text, update

from circulith.auth.policy import ALL_SCOPES, Principal
from circulith.demo.fleet import generate_fleet
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.services import ledger_signatures as sig
from circulith.services import ledger_trust as lt
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events
from circulith.store.models import Battery, Event
from circulith.store.registry import ensure_organisations, register_passports
from circulith.store.trust_models import EventSignature

TODAY = dt.date(2026, 11, 1)
OPERATOR = "ORG-OP-TEST"
MAKER = "OEM-TEST"


@pytest.fixture
def signed(sqlite_engine, tmp_path):
    engine = sqlite_engine
    fleet = generate_fleet(6, seed=3, today=TODAY)
    with transaction(engine) as s:
        ensure_organisations(s, [{"org_id": OPERATOR, "name": "operator", "role": "operator"}])
        register_passports(s, fleet.passports, actor_org_id=MAKER)
    with transaction(engine) as s:
        append_events(s, fleet.events)
    keys = tmp_path / "keys"
    op = lt.operator_principal(OPERATOR)
    orgs = sorted({e.actor_org_id for e in fleet.events} | {MAKER})
    for org in orgs:
        lt.create_key(engine, op, org, directory=keys, now=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    report = sig.sign_events(engine, op, directory=keys, now=dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    return engine, op, keys, fleet, report


def test_every_event_is_signed_by_its_actor_and_verifies(signed):
    engine, op, _keys, _fleet, report = signed
    assert report.unsigned_by_org == {} and report.signed > 0
    check = sig.verify_event_signatures(engine, op)
    assert check.ok and check.signed == check.events == report.signed
    again = sig.sign_events(engine, op, directory=_keys)
    assert again.signed == 0  # nothing signed twice


def test_signatures_verify_after_rotation_and_are_refused_after_revocation(signed):
    engine, op, keys, fleet, _ = signed
    lt.create_key(engine, op, MAKER, directory=keys, now=dt.datetime(2026, 11, 2, 6, tzinfo=dt.UTC))  # rotation
    pack = fleet.passports[0].battery_id
    with transaction(engine) as s:
        append_events(s, [LedgerEvent(battery_id=pack, kind=EventKind.BMS_SNAPSHOT, actor_org_id=MAKER,
                                      occurred_at=dt.datetime(2026, 10, 30, tzinfo=dt.UTC), payload={"soc_pct": 55.0})])
    assert sig.sign_events(engine, op, directory=keys, now=dt.datetime(2026, 11, 3, tzinfo=dt.UTC)).signed == 1
    check = sig.verify_event_signatures(engine, op)
    assert check.ok and check.signed == check.events  # old signatures by the retired key still verify
    retired = next(k for k in lt.published_keys(engine, op, MAKER) if k.status == "retired")
    assert retired.retired_at == "2026-11-02T06:00:00.000000Z"
    kinds = {k.status for k in lt.published_keys(engine, op, MAKER)}
    assert kinds == {"retired", "active"}
    # Revoke the current key as of a time before its last signature: that signature is now refused.
    current = next(k for k in lt.published_keys(engine, op, MAKER) if k.status == "active")
    lt.revoke_key(engine, op, current.key_id, "test: leaked", now=dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC))
    check = sig.verify_event_signatures(engine, op)
    assert not check.ok and len(check.invalid) == 1 and "revoked" in check.invalid[0]


def test_tampered_events_and_signatures_are_refused(signed):
    engine, op, _keys, _fleet, _ = signed
    with transaction(engine) as s:
        victim = s.execute(select(Event.event_id, Event.payload_json).where(Event.kind == "bms_snapshot").limit(1)).one()
        other = s.execute(select(EventSignature.jws).where(EventSignature.event_id != victim[0]).limit(1)).scalar_one()
        s.execute(text("DROP TRIGGER events_no_update"))
        forged = json.dumps(json.loads(victim[1]) | {"soh_pct": 99.9}, sort_keys=True, separators=(",", ":"))
        s.execute(update(Event).where(Event.event_id == victim[0]).values(payload_json=forged))
    check = sig.verify_event_signatures(engine, op)
    assert [line.split(" ")[1] for line in check.invalid] == [victim[0]]
    assert "other content" in check.invalid[0]
    with transaction(engine) as s:  # a valid signature of another event put on this one
        s.execute(update(EventSignature).where(EventSignature.event_id == victim[0]).values(jws=other))
    reason = sig.verify_event_signatures(engine, op).invalid[0]
    assert victim[0] in reason and ("other content" in reason or "but recorded by" in reason)
    with transaction(engine) as s:  # a signature with one byte changed
        s.execute(update(EventSignature).where(EventSignature.event_id == victim[0])
                  .values(jws=other[:-2] + ("AA" if not other.endswith("AA") else "BB")))
    assert "does not verify" in sig.verify_event_signatures(engine, op).invalid[0]


def test_exported_passport_verifies_offline_and_edits_are_caught(signed, tmp_path):
    engine, op, _keys, fleet, _ = signed
    pack = next(p for p in fleet.passports if p.level == "pack")
    bundle = sig.export_signed_passport(engine, op, pack.battery_id)
    assert sig.verify_exported_passport(bundle) == []
    keys = [{"key_id": k.key_id, "org_id": k.org_id, "jwk": k.jwk, "created_at": k.created_at,
             "revoked_at": k.revoked_at, "retired_at": k.retired_at} for k in lt.published_keys(engine, op)]
    offline = type(bundle).model_validate_json(bundle.model_dump_json())  # through a file, no database
    from circulith.ledger.attestation import PublishedKey

    trusted = [PublishedKey(**k) for k in keys]
    assert all(k.retired_at is None for k in trusted)
    assert sig.verify_exported_passport(offline, trusted) == []
    doc = json.loads(offline.document) | {"mass_kg": 1.0}
    edited = offline.model_copy(update={"document": json.dumps(doc, sort_keys=True, separators=(",", ":"))})
    assert any("registration recorded" in p for p in sig.verify_exported_passport(edited, trusted))
    if "soh_pct" in offline.dynamic:
        dyn = json.loads(json.dumps(offline.dynamic))
        dyn["soh_pct"]["value"] = 99.0
        assert any("soh_pct" in p for p in sig.verify_exported_passport(offline.model_copy(update={"dynamic": dyn}),
                                                                        trusted))
    stranger = Principal(org_id="ORG-NOBODY", scopes=ALL_SCOPES, via="api_key")
    from circulith.auth.errors import AccessDenied

    with pytest.raises(AccessDenied):
        sig.export_signed_passport(engine, stranger, pack.battery_id)
    status = sig.passport_verification(engine, Principal(), pack.battery_id)
    assert status.verifies and MAKER in status.signed_by
    with transaction(engine) as s:
        dyn = json.loads(s.execute(select(Battery.dynamic_json).where(Battery.battery_id == pack.battery_id)).scalar_one())
        if "soh_pct" in dyn:
            dyn["soh_pct"]["value"] = 12.0
            s.execute(update(Battery).where(Battery.battery_id == pack.battery_id)
                      .values(dynamic_json=json.dumps(dyn, sort_keys=True, separators=(",", ":"))))
            changed = True
        else:
            changed = False
    if changed:
        assert not sig.passport_verification(engine, Principal(), pack.battery_id).verifies
