"""Appending events to the hash chains (pure: the store supplies the heads and persists the rows)."""

from __future__ import annotations

from dataclasses import dataclass

from circulith.ledger.events import LedgerEvent, format_timestamp
from circulith.ledger.hashing import (
    GENESIS_SHA256,
    canonical_json,
    chain_sha256,
    content_sha256,
    content_text,
)
from circulith.ledger.verify import StoredEvent


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

    def append(self, event: LedgerEvent, *, payload_json: str | None = None, occurred_at: str | None = None,
               event_id: str | None = None, text: str | None = None) -> StoredEvent:
        """Chain ``event`` (whose ``event_id`` must be set) and return the row to store.

        ``payload_json``, ``occurred_at``, ``event_id`` and ``text`` may pass the canonical payload text,
        the timestamp, the (derived) ID and the content text when the caller has them already.
        """
        head = self.battery_heads.get(event.battery_id)
        if head is None:
            head = self.battery_heads[event.battery_id] = BatteryHead()
        gseq = self.global_seq + 1
        bseq = head.seq + 1
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
        digest = content_sha256(text, bseq, gseq)
        b_chain = chain_sha256(head.chain_sha256, digest)
        g_chain = chain_sha256(self.global_sha256, digest)
        row = StoredEvent(
            global_seq=gseq,
            battery_id=event.battery_id,
            battery_seq=bseq,
            event_id=event_id,
            kind=event.kind.value,
            occurred_at=at,
            actor_org_id=event.actor_org_id,
            site_id=event.site_id,
            payload_json=payload_json,
            content_sha256=digest,
            battery_prev_sha256=head.chain_sha256,
            battery_chain_sha256=b_chain,
            global_prev_sha256=self.global_sha256,
            global_chain_sha256=g_chain,
        )
        head.seq, head.chain_sha256 = bseq, b_chain
        self.global_seq, self.global_sha256 = gseq, g_chain
        return row
