"""Battery state recomputed from the events, to detect edits of state held outside the events.

Pure computation. The registry keeps each battery's lifecycle state, status, custodian, custody site,
region, SOH and dynamic values next to its events for fast reads; all of them follow from the events
(:func:`circulith.store.ledger_store.append_events` applies the same rules when it records them), and
the static passport document is bound by the digest its ``registered`` event carries. A
:class:`StateReplay` is fed every event row in global order and then compared with the stored
batteries: any stored value the events do not give is named, battery and field. Since the events are
covered by the Merkle tree, a consistent edit of events *and* state fails against a checkpoint.

What events cannot give is not checked: for batteries registered before the ``registered`` event
carried the static document's digest, the initial status and the initial dynamic values, those.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from circulith.errors import TransitionRefused
from circulith.ledger.events import EventKind
from circulith.ledger.state_machine import CUSTODY_TAKING, STATUS_AFTER, LifecycleState, check_transition
from circulith.ledger.verify import Finding

DYNAMIC_KINDS = frozenset({EventKind.BMS_SNAPSHOT.value, EventKind.TESTED.value, EventKind.GRADED.value})
PAYLOAD_KINDS = frozenset({EventKind.REGISTERED, EventKind.SHIPPED, EventKind.INSTALLED, EventKind.BMS_SNAPSHOT,
                            EventKind.TESTED, EventKind.GRADED})


_KINDS = {k.value: k for k in EventKind}
_TRANSITIONS: dict[tuple[LifecycleState | None, EventKind], LifecycleState] = {}  # allowed ones, as computed
NOT_AN_OBJECT = "its payload is not a JSON object"
ORJSON_EXACT_BELOW = 9.2e18  # orjson reads integers beyond 64 bits as floats: payloads with floats this large take json


def _loads(payload_json: str) -> Any:
    """A stored payload as ``json.loads`` reads it (orjson where that is certainly the same)."""
    try:
        payload = orjson.loads(payload_json)
    except orjson.JSONDecodeError:
        return json.loads(payload_json)
    if isinstance(payload, dict):
        for value in payload.values():
            if type(value) is float and not -ORJSON_EXACT_BELOW < value < ORJSON_EXACT_BELOW or isinstance(value, dict | list):
                return json.loads(payload_json)
    return payload


@dataclass
class ReplayedState:
    """What the events say about one battery."""

    state: LifecycleState | None = None
    status: str | None = None
    custodian_org_id: str | None = None
    custody_site_id: str | None = None
    region: str | None = None
    document_sha256: str | None = None
    dynamic: dict[str, tuple[str, Any]] = field(default_factory=dict)  # key -> (updated_at, value)
    broken: str | None = None  # a transition the state machine refuses (an altered history)


@dataclass
class StoredState:
    """A battery's stored state (the columns the replay checks)."""

    lifecycle_state: str
    status: str
    custodian_org_id: str | None
    custody_site_id: str | None
    region: str | None
    soh_pct: float | None
    document_sha256: str
    document_digest: str  # SHA-256 of the stored document text, recomputed
    dynamic_json: str


class StateReplay:
    """Feeds on event rows (``StoredEvent`` field order) and recomputes every battery's state.

    Parameters
    ----------
    dynamic_keys : iterable of str
        The payload keys that update a passport's dynamic values (the passport model's list).
    """

    def __init__(self, dynamic_keys: Iterable[str]):
        self.dynamic_keys = frozenset(dynamic_keys)
        self.states: dict[str, ReplayedState] = {}

    def feed(self, row: tuple) -> None:
        """Apply one event row."""
        bat, kind, at, actor, site, payload_json = row[1], row[4], row[5], row[6], row[7], row[8]
        st = self.states.get(bat)
        if st is None:
            st = self.states[bat] = ReplayedState()
        ek = _KINDS.get(kind)
        if ek is None:
            try:
                ek = EventKind(kind)
            except ValueError as exc:
                st.broken = st.broken or f"event kind {kind!r} at {at}: {exc}"
                return
        if st.broken is None:  # (a broken history keeps the state it reached)
            after = _TRANSITIONS.get((st.state, ek))
            if after is None:
                try:
                    after = check_transition(bat, st.state, ek)
                except TransitionRefused as exc:
                    st.broken = f"event kind {kind!r} at {at}: {exc}"
                    return
                _TRANSITIONS[(st.state, ek)] = after
            st.state = after
        if ek not in PAYLOAD_KINDS:
            if ek in CUSTODY_TAKING:
                st.custodian_org_id, st.custody_site_id = actor, site
            st.status = STATUS_AFTER.get(ek, st.status)
            return
        try:
            payload = _loads(payload_json)
        except (ValueError, TypeError):
            payload = None
        if not isinstance(payload, dict):
            st.broken = st.broken or f"event kind {kind!r} at {at}: {NOT_AN_OBJECT}"
            return
        if ek is EventKind.REGISTERED:
            st.document_sha256 = payload.get("document_sha256")
            st.status = payload.get("status")
            initial = payload.get("dynamic")
            for key, entry in (initial.items() if isinstance(initial, dict) else ()):
                if key in self.dynamic_keys and isinstance(entry, dict) and isinstance(entry.get("updated_at"), str):
                    st.dynamic[key] = (entry["updated_at"], entry.get("value"))
        st.status = STATUS_AFTER.get(ek, st.status)
        if ek in CUSTODY_TAKING:
            st.custodian_org_id, st.custody_site_id = actor, site
        if ek is EventKind.SHIPPED and payload.get("to_org_id"):
            st.custody_site_id = None
        if ek is EventKind.INSTALLED and isinstance(payload.get("region"), str):
            st.region = payload["region"]
        if kind in DYNAMIC_KINDS:
            for key, value in payload.items():
                if key in self.dynamic_keys and value is not None:
                    current = st.dynamic.get(key)
                    if current is None or current[0] <= at:
                        st.dynamic[key] = (at, value)

    def compare(self, stored: Mapping[str, StoredState], *, limit: int = 1000) -> list[Finding]:
        """Findings for every stored battery whose state the events do not give."""
        out: list[Finding] = []

        def add(bat: str, what: str, detail: str) -> None:
            if len(out) < limit:
                out.append(Finding("state_mismatch", None, None, bat, f"battery {bat}: {what} {detail}"))

        for bat, s in stored.items():
            r = self.states.get(bat)
            if r is None:
                add(bat, "has no events", "(not even its registration)")
                continue
            if r.broken:
                add(bat, "history is not a possible life:", r.broken)
            if r.state is not None and s.lifecycle_state != r.state.value:
                add(bat, "lifecycle state", f"is stored as {s.lifecycle_state!r}, the events give {r.state.value!r}")
            if r.status is not None and s.status != r.status:
                add(bat, "status", f"is stored as {s.status!r}, the events give {r.status!r}")
            if s.custodian_org_id != r.custodian_org_id:
                add(bat, "custodian", f"is stored as {s.custodian_org_id!r}, the events give {r.custodian_org_id!r}")
            if s.custody_site_id != r.custody_site_id:
                add(bat, "custody site", f"is stored as {s.custody_site_id!r}, the events give {r.custody_site_id!r}")
            if s.region != r.region:
                add(bat, "region", f"is stored as {s.region!r}, the events give {r.region!r}")
            if s.document_digest != s.document_sha256:
                add(bat, "passport document", "does not match its stored digest")
            if r.document_sha256 is not None and s.document_digest != r.document_sha256:
                add(bat, "passport document", "is not the one its registration recorded")
            self._compare_dynamic(bat, s, r, add)
        return out

    @staticmethod
    def _compare_dynamic(bat: str, s: StoredState, r: ReplayedState, add: Any) -> None:
        try:
            dyn = json.loads(s.dynamic_json)
        except (ValueError, TypeError):
            add(bat, "dynamic values", "are not JSON")
            return
        for key, (at, value) in r.dynamic.items():
            entry = dyn.get(key) if isinstance(dyn, dict) else None
            if not isinstance(entry, dict) or entry.get("updated_at") is None or entry["updated_at"] < at:
                add(bat, f"dynamic value {key}", f"lacks the reading of {at} ({value!r})")
            elif entry["updated_at"] == at and entry.get("value") != value:
                add(bat, f"dynamic value {key}", f"is stored as {entry.get('value')!r}, the event of {at} gives {value!r}")
        soh = dyn.get("soh_pct") if isinstance(dyn, dict) else None
        soh_value = soh.get("value") if isinstance(soh, dict) else None
        if (s.soh_pct is None) != (soh_value is None) or (
                s.soh_pct is not None and soh_value is not None and float(soh_value) != s.soh_pct):
            add(bat, "SOH", f"column is {s.soh_pct!r} while its dynamic values say {soh_value!r}")
