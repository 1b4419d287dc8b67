"""The lifecycle ledger: event kinds, the status state machine, the hash chain and its verification.

Pure computation: nothing here opens a database. :mod:`circulith.store` persists what this
package computes and feeds stored rows back to :func:`circulith.ledger.verify.verify_chains`.
"""

from circulith.ledger.events import EVENT_KINDS, EventKind, LedgerEvent
from circulith.ledger.hashing import GENESIS_SHA256, canonical_json, chain_sha256, content_sha256
from circulith.ledger.state_machine import LifecycleState, check_transition

__all__ = [
    "EVENT_KINDS",
    "GENESIS_SHA256",
    "EventKind",
    "LedgerEvent",
    "LifecycleState",
    "canonical_json",
    "chain_sha256",
    "check_transition",
    "content_sha256",
]
