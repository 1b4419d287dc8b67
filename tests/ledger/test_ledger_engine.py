"""The pure ledger engine: canonical content, chaining, the state machine and verification."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circulith.errors import TransitionRefused
from circulith.ledger.chain import ChainBuilder
from circulith.ledger.events import EventKind, LedgerEvent
from circulith.ledger.hashing import GENESIS_SHA256, canonical_json, content_text
from circulith.ledger.state_machine import LifecycleState, check_transition
from circulith.ledger.verify import verify_chains

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(payload=st.dictionaries(st.text(max_size=10), json_values, max_size=5), site=st.none() | st.text(max_size=12),
       actor=st.text(min_size=1, max_size=12))
def test_content_text_equals_canonical_json_of_the_content(payload, site, actor):
    """The verifier's fast path builds exactly the bytes that canonical_json would."""
    ev = LedgerEvent(event_id="e1", battery_id="b1", kind=EventKind.REPAIRED, occurred_at=T0, actor_org_id=actor,
                     site_id=site, payload=payload)
    fast = content_text("e1", "b1", "repaired", "2024-01-01T00:00:00.000000Z", actor, site, canonical_json(payload))
    assert fast == canonical_json(ev.content())


def test_derived_event_id_is_stable_and_content_sensitive():
    a = LedgerEvent(battery_id="b", kind="removed", occurred_at=T0, actor_org_id="o").with_derived_id()
    b = LedgerEvent(battery_id="b", kind="removed", occurred_at=T0, actor_org_id="o").with_derived_id()
    c = LedgerEvent(battery_id="b", kind="removed", occurred_at=T0, actor_org_id="p").with_derived_id()
    assert a.event_id == b.event_id != c.event_id


def test_naive_timestamps_are_taken_as_utc():
    ev = LedgerEvent(battery_id="b", kind="removed", occurred_at=dt.datetime(2024, 1, 1), actor_org_id="o")
    assert ev.occurred_at == T0


@pytest.mark.parametrize(
    ("state", "kind", "after"),
    [
        (LifecycleState.MANUFACTURED, EventKind.PLACED_ON_MARKET, LifecycleState.ON_MARKET),
        (LifecycleState.ON_MARKET, EventKind.INSTALLED, LifecycleState.IN_SERVICE),
        (LifecycleState.IN_SERVICE, EventKind.BMS_SNAPSHOT, LifecycleState.IN_SERVICE),
        (LifecycleState.IN_SERVICE, EventKind.REMOVED, LifecycleState.REMOVED),
        (LifecycleState.COLLECTED, EventKind.GRADED, LifecycleState.EVALUATED),
        (LifecycleState.EVALUATED, EventKind.REPURPOSED, LifecycleState.SECOND_LIFE),
        (LifecycleState.DISMANTLED, EventKind.SHREDDED, LifecycleState.SHREDDED),
        (LifecycleState.SHREDDED, EventKind.RECYCLED, LifecycleState.RECYCLED),
    ],
)
def test_allowed_transitions(state, kind, after):
    assert check_transition("b", state, kind) is after


@pytest.mark.parametrize(
    ("state", "kind", "fragment"),
    [
        (LifecycleState.RECYCLED, EventKind.BMS_SNAPSHOT, "recycled"),
        (LifecycleState.RECYCLED, EventKind.SHIPPED, "recycled"),
        (LifecycleState.SHREDDED, EventKind.INSTALLED, "shredded"),
        (LifecycleState.IN_SERVICE, EventKind.SHREDDED, "in_service"),
        (LifecycleState.MANUFACTURED, EventKind.REMOVED, "manufactured"),
    ],
)
def test_impossible_transitions_are_refused_with_reason(state, kind, fragment):
    with pytest.raises(TransitionRefused, match=fragment):
        check_transition("BAT-1", state, kind)


def test_nothing_leaves_recycled():
    for kind in EventKind:
        with pytest.raises(TransitionRefused):
            check_transition("b", LifecycleState.RECYCLED, kind)


def _chain(n_batteries: int = 3, per_battery: int = 4):
    builder = ChainBuilder(0, GENESIS_SHA256, {})
    rows = []
    for k in range(per_battery):
        for b in range(n_batteries):
            ev = LedgerEvent(battery_id=f"b{b}", kind="bms_snapshot", occurred_at=T0 + dt.timedelta(days=k),
                             actor_org_id="o", payload={"soh_pct": 99.0 - k}).with_derived_id()
            rows.append(builder.append(ev))
    return builder, [dataclasses.astuple(r) for r in rows]


def test_a_fresh_chain_verifies():
    builder, rows = _chain()
    report = verify_chains(rows, expected_head=(builder.global_seq, builder.global_sha256))
    assert report.ok and report.events_checked == 12 and report.batteries_checked == 3


def test_chain_link_is_sha256_of_previous_and_content():
    _, rows = _chain(1, 2)
    second = rows[1]
    assert second[12] == rows[0][13]  # global predecessor link
    assert second[13] == hashlib.sha256((second[12] + second[9]).encode()).hexdigest()


def test_verify_names_an_altered_payload():
    builder, rows = _chain()
    row = list(rows[5])
    row[8] = '{"soh_pct":12.0}'
    rows[5] = tuple(row)
    report = verify_chains(rows, expected_head=(builder.global_seq, builder.global_sha256))
    assert not report.ok
    assert report.findings[0].problem == "altered" and report.findings[0].event_id == rows[5][3]


def test_verify_names_deleted_reordered_and_truncated_events():
    builder, rows = _chain()
    head = (builder.global_seq, builder.global_sha256)
    deleted = rows[:4] + rows[5:]
    assert any(f.problem == "deleted" and f.global_seq == 6 for f in verify_chains(deleted, expected_head=head).findings)
    swapped = rows[:3] + [rows[4], rows[3]] + rows[5:]
    assert any(f.problem == "inserted_or_reordered" for f in verify_chains(swapped, expected_head=head).findings)
    truncated = verify_chains(rows[:-2], expected_head=head)
    assert [f.problem for f in truncated.findings] == ["head_mismatch"]
    assert "deleted" in truncated.findings[0].detail


@given(battery=st.text(max_size=30), actor=st.text(min_size=1, max_size=30), site=st.none() | st.text(max_size=10),
       event_id=st.text(max_size=40), payload=st.dictionaries(st.text(max_size=10), json_values, max_size=3))
def test_filling_the_id_into_the_id_less_content_equals_building_it_with_the_id(battery, actor, site, event_id,
                                                                                 payload):
    from circulith.ledger.hashing import with_event_id

    pj = canonical_json(payload)
    without = content_text("", battery, "tested", "2024-01-01T00:00:00.000000Z", actor, site, pj)
    assert with_event_id(without, event_id) == content_text(event_id, battery, "tested",
                                                            "2024-01-01T00:00:00.000000Z", actor, site, pj)
