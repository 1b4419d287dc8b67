"""An insider's rewrite fails against an earlier checkpoint (issue: trust beyond one database).

Each test tampers with the database the way an insider with write access would, *consistently*:
every digest, battery tip and the ledger head are recomputed, so that the chains alone verify.
The nine scenarios the audit found undetected (consistent rewrite of a range of events or of the
whole chain; the last 1, 50 or 500 events deleted with the head moved back; a reordering; edits of
the passport document, custody or SOH held outside the events) must all fail against a checkpoint
issued before the tampering, naming where the ledger stops extending it.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, text, update

from circulith.demo.fleet import generate_fleet
from circulith.ledger.chain import BatteryHead, ChainBuilder
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.ledger.hashing import GENESIS_SHA256
from circulith.ledger.signing import SignatureInvalid
from circulith.services import ledger_trust as lt
from circulith.store.database import transaction
from circulith.store.ledger_store import append_events, stream_event_rows, verify_ledger
from circulith.store.models import Battery, Event, LedgerHead
from circulith.store.registry import ensure_organisations, register_passports

TODAY = dt.date(2026, 11, 1)
OPERATOR = "ORG-OP-TEST"


@pytest.fixture(scope="module")
def fleet():
    return generate_fleet(40, seed=5, today=TODAY)


@pytest.fixture
def registry(engine, fleet, tmp_path):
    with transaction(engine) as s:
        ensure_organisations(s, [{"org_id": OPERATOR, "name": "operator", "role": "operator"}])
        register_passports(s, fleet.passports, actor_org_id="OEM-TEST")
    with transaction(engine) as s:
        append_events(s, fleet.events)
    keys = tmp_path / "keys"
    op = lt.operator_principal(OPERATOR)
    lt.create_key(engine, op, OPERATOR, directory=keys)
    return engine, op, keys


def _size(engine) -> int:
    with transaction(engine, read_only=True) as s:
        return int(s.execute(select(func.count()).select_from(Event)).scalar_one())


def _drop_guard(session) -> None:
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DROP TRIGGER events_no_update"))
        session.execute(text("DROP TRIGGER events_no_delete"))
    else:
        session.execute(text("ALTER TABLE events DISABLE TRIGGER events_append_only"))


def _rechain(session, rows: list[tuple]) -> None:
    """Rewrite every stored event from ``rows`` with consistent digests, tips and head (an insider's rewrite)."""
    builder = ChainBuilder(0, GENESIS_SHA256, {})
    session.execute(text("DELETE FROM events"))
    new = []
    for r in rows:
        ev = LedgerEvent.model_construct(event_id=r[3], battery_id=r[1], kind=EventKind(r[4]),
                                         occurred_at=dt.datetime.now(dt.UTC), actor_org_id=r[6], site_id=r[7],
                                         payload=json.loads(r[8]))
        new.append(builder.append(ev, payload_json=r[8], occurred_at=r[5], event_id=r[3]))
    from circulith.store.ledger_store import insert_event_rows

    insert_event_rows(session, new)
    heads: dict[str, BatteryHead] = builder.battery_heads
    for bid, head in heads.items():
        session.execute(update(Battery).where(Battery.battery_id == bid)
                        .values(last_seq=head.seq, last_chain_sha256=head.chain_sha256))
    session.execute(update(LedgerHead).where(LedgerHead.id == 1)
                    .values(global_seq=builder.global_seq, global_chain_sha256=builder.global_sha256))


def _tamper_events(engine, change) -> None:
    with transaction(engine) as s:
        rows = [tuple(r) for r in stream_event_rows(s)]
        _drop_guard(s)
        _rechain(s, change(rows))


def _assert_chains_pass(engine) -> None:
    with transaction(engine, read_only=True) as s:
        chain = [f for f in verify_ledger(s).findings if f.problem != "state_mismatch"]
    assert chain == [], chain  # the insider's rewrite is consistent: the chains alone do not see it


def _forge(row: tuple, soh: float) -> tuple:
    payload = json.loads(row[8]) | {"soh_pct": soh}
    return (*row[:8], json.dumps(payload, sort_keys=True, separators=(",", ":")), *row[9:])


@pytest.mark.parametrize("scenario", ["rewrite_range", "rewrite_whole_chain", "reorder"])
def test_consistent_rewrites_fail_against_an_earlier_checkpoint(registry, scenario):
    engine, op, keys = registry
    held = lt.issue_checkpoint(engine, op, directory=keys)
    n = held.tree_head.tree_size
    start = {"rewrite_range": n // 3, "rewrite_whole_chain": 0, "reorder": n // 2}[scenario]

    def change(rows: list[tuple]) -> list[tuple]:
        if scenario == "reorder":
            a, b = rows[start], rows[start + 1]
            rows[start], rows[start + 1] = b, a
            return rows
        end = start + (287 if scenario == "rewrite_range" else n)
        return [_forge(r, 99.0) if start <= i < end and r[4] == "bms_snapshot" else r for i, r in enumerate(rows)]

    _tamper_events(engine, change)
    if scenario != "reorder":
        _assert_chains_pass(engine)
    out = lt.verify_against_checkpoint(engine, op, held)
    assert not out.ok and not out.checkpoint.consistent
    lo, hi = out.checkpoint.broken_range
    with transaction(engine, read_only=True) as s:
        rows = [tuple(r) for r in stream_event_rows(s)]
    first_changed = next(i for i, r in enumerate(rows) if i >= start and (
        scenario == "reorder" or r[4] == "bms_snapshot"))
    assert lo <= first_changed < hi  # the block named holds the first changed event
    assert out.first_broken_event["global_seq"] == lo + 1


@pytest.mark.parametrize("deleted", [1, 50, 500])
def test_truncation_with_the_head_moved_back_fails(registry, deleted):
    engine, op, keys = registry
    held = lt.issue_checkpoint(engine, op, directory=keys)
    n = held.tree_head.tree_size
    assert n > deleted
    _tamper_events(engine, lambda rows: rows[: n - deleted])
    assert _size(engine) == n - deleted
    out = lt.verify_against_checkpoint(engine, op, held)
    assert not out.ok and not out.checkpoint.consistent
    assert out.checkpoint.current_size == n - deleted
    lo, hi = out.checkpoint.broken_range
    assert lo <= n - deleted < hi or lo == n - deleted
    assert "removed" in out.checkpoint.reason


@pytest.mark.parametrize("edit", ["document", "custody", "soh"])
def test_edits_of_state_outside_the_events_are_detected(registry, fleet, edit):
    engine, op, keys = registry
    held = lt.issue_checkpoint(engine, op, directory=keys)
    with transaction(engine, read_only=True) as s:
        bat = s.execute(select(Battery).where(Battery.soh_pct.is_not(None), Battery.level == "pack").limit(1)
                        ).scalars().one()
    with transaction(engine) as s:
        if edit == "document":
            doc = json.loads(bat.document) | {"mass_kg": 1.0}
            text_ = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            import hashlib

            s.execute(update(Battery).where(Battery.battery_id == bat.battery_id).values(
                document=text_, document_sha256=hashlib.sha256(text_.encode()).hexdigest()))
        elif edit == "custody":
            s.execute(update(Battery).where(Battery.battery_id == bat.battery_id).values(custodian_org_id="ORG-THIEF"))
        else:
            dyn = json.loads(bat.dynamic_json)
            dyn["soh_pct"]["value"] = 99.5
            s.execute(update(Battery).where(Battery.battery_id == bat.battery_id).values(
                soh_pct=99.5, dynamic_json=json.dumps(dyn, sort_keys=True, separators=(",", ":"))))
    out = lt.verify_against_checkpoint(engine, op, held)
    assert out.checkpoint.consistent  # the events are untouched...
    assert not out.ok  # ...but the state beside them is not what they say
    named = [f for f in out.chain_findings if "state_mismatch" in f and bat.battery_id in f]
    word = {"document": "passport document", "custody": "custodian", "soh": "soh_pct"}[edit]
    assert any(word in f for f in named), out.chain_findings


def test_an_untouched_ledger_that_grew_extends_its_checkpoint(registry, fleet):
    engine, op, keys = registry
    held = lt.issue_checkpoint(engine, op, directory=keys)
    pack = fleet.passports[0].battery_id
    with transaction(engine) as s:
        append_events(s, [LedgerEvent(battery_id=pack, kind=EventKind.BMS_SNAPSHOT, actor_org_id="OEM-TEST",
                                      occurred_at=dt.datetime(2026, 10, 30, tzinfo=dt.UTC), payload={"soc_pct": 40.0})])
    out = lt.verify_against_checkpoint(engine, op, held)
    assert out.ok, out
    assert out.checkpoint.current_size == held.tree_head.tree_size + 1
    later = lt.issue_checkpoint(engine, op, directory=keys)
    proof = lt.consistency_proof(engine, op, held.tree_head.tree_size, later.tree_head.tree_size)
    from circulith.ledger import merkle

    assert merkle.verify_consistency(proof.first, proof.second, bytes.fromhex(held.tree_head.root_sha256),
                                     bytes.fromhex(later.tree_head.root_sha256), [bytes.fromhex(p) for p in proof.proof])
    assert [h.tree_size for h in lt.tree_head_history(engine, op)] == [held.tree_head.tree_size,
                                                                      later.tree_head.tree_size]
    with transaction(engine, read_only=True) as s:
        ev_id = s.execute(select(Event.event_id).where(Event.global_seq == 7)).scalar_one()
    inc = lt.inclusion_proof(engine, op, ev_id)
    assert merkle.verify_inclusion(bytes.fromhex(inc.leaf_hash), inc.leaf_index, inc.tree_size,
                                   [bytes.fromhex(p) for p in inc.path], bytes.fromhex(inc.root_sha256))
    assert inc.root_sha256 == later.tree_head.root_sha256


def test_checkpoints_stay_verifiable_after_key_rotation_and_tampered_ones_are_refused(registry):
    engine, op, keys = registry
    held = lt.issue_checkpoint(engine, op, directory=keys)
    lt.create_key(engine, op, OPERATOR, directory=keys)  # rotation
    newer = lt.issue_checkpoint(engine, op, directory=keys)
    assert newer.tree_head.key_id != held.tree_head.key_id
    out = lt.verify_against_checkpoint(engine, op, held)
    assert out.ok and out.key_status == "retired"
    statuses = {k.key_id: k.status for k in lt.published_keys(engine, op)}
    assert statuses == {held.tree_head.key_id: "retired", newer.tree_head.key_id: "active"}
    forged = held.model_copy(update={"tree_head": held.tree_head.model_copy(update={"tree_size": 3})})
    with pytest.raises(SignatureInvalid, match="differs from what its signature covers"):
        lt.verify_against_checkpoint(engine, op, forged)
    token = held.tree_head.jws
    bad_sig = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    tampered = held.model_copy(update={"tree_head": held.tree_head.model_copy(update={"jws": bad_sig})})
    with pytest.raises(SignatureInvalid):
        lt.verify_against_checkpoint(engine, op, tampered)
    edited_blocks = held.model_copy(update={"block_roots": ["00" * 32, *held.block_roots[1:]]})
    with pytest.raises(SignatureInvalid, match="block roots"):
        lt.verify_against_checkpoint(engine, op, edited_blocks)
    lt.revoke_key(engine, op, held.tree_head.key_id, "test: compromised")
    out = lt.verify_against_checkpoint(engine, op, held)
    assert not out.ok and out.key_status == "revoked"


def test_checkpoint_after_import_issues_only_with_a_key(registry, tmp_path):
    engine, _op, keys = registry
    assert lt.checkpoint_after_import(engine, directory=tmp_path / "empty") is None
    head = lt.checkpoint_after_import(engine, directory=keys)
    assert head is not None and head.tree_size == _size(engine)


def test_verification_from_a_checkpoint_reads_only_what_came_after(registry, fleet):
    engine, op, keys = registry
    held = lt.issue_checkpoint(engine, op, directory=keys)
    packs = [p.battery_id for p in fleet.passports if p.level == "pack"][:5]
    with transaction(engine) as s:
        append_events(s, [LedgerEvent(battery_id=b, kind=EventKind.BMS_SNAPSHOT, actor_org_id="OEM-TEST",
                                      occurred_at=dt.datetime(2026, 10, 30, i, tzinfo=dt.UTC), payload={"soc_pct": 50.0})
                          for i, b in enumerate(packs)])
    later = lt.issue_checkpoint(engine, op, directory=keys)
    out = lt.verify_since_checkpoint(engine, op, held)
    assert out.ok, out
    assert out.events_checked == 5 and out.current_size == held.tree_head.tree_size + 5
    assert out.root_sha256 == later.tree_head.root_sha256 and out.latest_signed_head.startswith("equal")
    # A new event altered after the fact is caught; so is a frontier that does not fold to the signed root.
    with transaction(engine) as s:
        _drop_guard(s)
        s.execute(text("UPDATE events SET site_id = 'FORGED' WHERE global_seq = :g"),
                  {"g": held.tree_head.tree_size + 2})
    out = lt.verify_since_checkpoint(engine, op, held)
    assert not out.ok and any("altered" in f for f in out.findings)
    bad = held.model_copy(update={"frontier": list(reversed(held.frontier))})
    if len(held.frontier) > 1:
        with pytest.raises(SignatureInvalid, match="frontier"):
            lt.verify_since_checkpoint(engine, op, bad)


def test_verification_from_a_checkpoint_chains_onto_each_touched_batterys_tip(registry, fleet):
    """The events after the checkpoint must start from each battery's tip at the checkpoint (its last event
    before it, of several) and end at the stored tip: an edit of either is named."""
    engine, op, keys = registry
    held = lt.issue_checkpoint(engine, op, directory=keys)
    size = held.tree_head.tree_size
    packs = [p.battery_id for p in fleet.passports if p.level == "pack"][:3]
    with transaction(engine) as s:
        append_events(s, [LedgerEvent(battery_id=b, kind=EventKind.BMS_SNAPSHOT, actor_org_id="OEM-TEST",
                                      occurred_at=dt.datetime(2026, 10, 30, i, tzinfo=dt.UTC), payload={"soc_pct": 50.0})
                          for i, b in enumerate(packs)])
        before = s.execute(select(func.count()).select_from(Event)
                           .where(Event.battery_id == packs[0], Event.global_seq <= size)).scalar_one()
    assert before > 1  # the tip at the checkpoint is the last of several events
    assert lt.verify_since_checkpoint(engine, op, held).ok
    with transaction(engine) as s:
        s.execute(update(Battery).where(Battery.battery_id == packs[1]).values(last_chain_sha256="0" * 64))
        _drop_guard(s)
        s.execute(text("UPDATE events SET battery_chain_sha256 = :z WHERE battery_id = :b AND global_seq = "
                       "(SELECT max(global_seq) FROM events WHERE battery_id = :b AND global_seq <= :n)"),
                  {"z": "f" * 64, "b": packs[0], "n": size})
    out = lt.verify_since_checkpoint(engine, op, held)
    assert not out.ok
    assert any(packs[0] in f and "previous event of this battery" in f for f in out.findings), out.findings
    assert any(packs[1] in f and "stored chain tip" in f for f in out.findings), out.findings
    assert not any(packs[2] in f for f in out.findings), out.findings
