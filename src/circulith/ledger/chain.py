"""Appending events to the hash chains (pure: the store supplies the heads and persists the rows)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from circulith.ledger.events import EVENT_ID_NAMESPACE, LedgerEvent, format_timestamp
from circulith.ledger.hashing import (
    GENESIS_SHA256,
    canonical_json,
    chain_sha256,
    content_sha256,
    content_text,
)
from circulith.ledger.verify import StoredEvent

_EVENT_ID_SHA1 = hashlib.sha1(EVENT_ID_NAMESPACE.bytes, usedforsecurity=False)
_VARIANT = "89ab89ab89ab89ab"  # RFC 9562 variant bits (10xx) over the first hex digit of the clock sequence


def event_uuid5(content_text_without_id: str) -> str:
    """:func:`circulith.ledger.events.derived_event_id`, computed without building UUID objects.

    ``str(uuid.uuid5(EVENT_ID_NAMESPACE, text))`` (RFC 9562 section 5.5): SHA-1 over the namespace's
    16 bytes and the UTF-8 name, truncated to 128 bits, with the version (5) and the variant set. The
    namespace's hash state is computed once and copied per call.
    """
    h = _EVENT_ID_SHA1.copy()
    h.update(content_text_without_id.encode())
    d = h.hexdigest()
    return f"{d[:8]}-{d[8:12]}-5{d[13:16]}-{_VARIANT[int(d[16], 16)]}{d[17:20]}-{d[20:32]}"


def derived_event_ids(events: Sequence[LedgerEvent], payload_texts: Sequence[str]) -> list[str]:
    """Each event's ID: its own, or :meth:`LedgerEvent.with_derived_id`'s, from the payload's canonical text.

    The same IDs as ``[e.with_derived_id().event_id for e in events]`` without serialising each payload
    again or copying the event (``payload_texts[i]`` is ``canonical_json(events[i].payload)``).
    """
    return [e.event_id or event_uuid5(content_text("", e.battery_id, e.kind.value, format_timestamp(e.occurred_at),
                                                   e.actor_org_id, e.site_id, text))
            for e, text in zip(events, payload_texts, strict=True)]


@dataclass
class BatteryHead:
    """The tip of one battery's chain."""

    seq: int = 0
    chain_sha256: str = GENESIS_SHA256


class ChainBuilder:
    """Links new events onto the global chain and onto each battery's chain.

    Parameters
    ----------
    global_seq : int
        Sequence number of the last event already stored (0 for an empty ledger).
    global_sha256 : str
        Global-chain digest of that event.
    battery_heads : dict
        Tip of each battery chain the new events touch (missing: the battery has no event).
    """

    def __init__(self, global_seq: int, global_sha256: str, battery_heads: dict[str, BatteryHead]):
        self.global_seq = global_seq
        self.global_sha256 = global_sha256
        self.battery_heads = battery_heads

    def link(self, battery_id: str, event_id: str, kind: str, occurred_at: str, actor_org_id: str,
             site_id: str | None, payload_json: str, text: str) -> tuple:
        """Chain one event given as its stored fields and content text; the row as a tuple in
        :class:`StoredEvent` field order (what :meth:`append` returns, without the object)."""
        head = self.battery_heads.get(battery_id)
        if head is None:
            head = self.battery_heads[battery_id] = BatteryHead()
        gseq = self.global_seq + 1
        bseq = head.seq + 1
        digest = content_sha256(text, bseq, gseq)
        b_prev, g_prev = head.chain_sha256, self.global_sha256
        b_chain = chain_sha256(b_prev, digest)
        g_chain = chain_sha256(g_prev, digest)
        head.seq, head.chain_sha256 = bseq, b_chain
        self.global_seq, self.global_sha256 = gseq, g_chain
        return (gseq, battery_id, bseq, event_id, kind, occurred_at, actor_org_id, site_id, payload_json, digest,
                b_prev, b_chain, g_prev, g_chain)

    def append(self, event: LedgerEvent, *, payload_json: str | None = None, occurred_at: str | None = None,
               event_id: str | None = None, text: str | None = None) -> StoredEvent:
        """Chain ``event`` (whose ``event_id`` must be set) and return the row to store.

        ``payload_json``, ``occurred_at``, ``event_id`` and ``text`` may pass the canonical payload text,
        the timestamp, the (derived) ID and the content text when the caller has them already.
        """
        if payload_json is None:
            payload_json = canonical_json(event.payload)
        at = occurred_at or format_timestamp(event.occurred_at)
        event_id = event_id or event.event_id
        if not event_id:
            raise ValueError("an event must have its ID before it is chained")
        if text is None:
            text = content_text(
                event_id, event.battery_id, event.kind.value, at, event.actor_org_id, event.site_id, payload_json
            )
        return StoredEvent(*self.link(event.battery_id, event_id, event.kind.value, at, event.actor_org_id,
                                      event.site_id, payload_json, text))
