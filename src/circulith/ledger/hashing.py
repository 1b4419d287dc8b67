"""Canonical serialisation and the SHA-256 hash chains of the ledger.

Each event stores five digests (hex SHA-256):

* ``content_sha256`` — over the canonical JSON of what the actor asserted (event ID, battery,
  kind, time, actor, site, payload) prefixed by its position (battery sequence number and
  global sequence number), so that moving an event is as visible as editing it;
* ``battery_prev_sha256`` / ``battery_chain_sha256`` — the predecessor link in the battery's
  own chain and this event's link, ``SHA-256(prev ‖ content)``; the battery chain partitions
  with the battery;
* ``global_prev_sha256`` / ``global_chain_sha256`` — the same over the global chain, which
  orders every event of the registry.

Canonical JSON follows the spirit of RFC 8785 (JSON Canonicalization Scheme): keys sorted, no
insignificant whitespace, UTF-8. Floats are written with Python's shortest round-trip ``repr``.
The payload is stored as its canonical JSON text, so the verifier can rebuild the content
bytes without re-serialising the payload (:func:`content_text`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS_SHA256 = "0" * 64
"""Predecessor digest of the first event of every chain."""

# JSON string literal of a str, UTF-8 kept: what json.dumps(..., ensure_ascii=False) writes for a str,
# without the encoder's per-call overhead (the C implementation when available).
_dumps = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
json_string = _dumps
"""The JSON string literal of a str as :func:`canonical_json` writes it (UTF-8 characters kept)."""


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` canonically: sorted keys, compact separators, UTF-8 characters kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_text(
    event_id: str,
    battery_id: str,
    kind: str,
    occurred_at: str,
    actor_org_id: str,
    site_id: str | None,
    payload_json: str,
) -> str:
    """Canonical JSON of an event's content, built from its stored fields.

    Equal, byte for byte, to ``canonical_json`` of the content dict (keys in sorted order), but
    takes the payload as its already-canonical JSON text.
    """
    site = "null" if site_id is None else _dumps(site_id)
    return (
        f'{{"actor_org_id":{_dumps(actor_org_id)},"battery_id":{_dumps(battery_id)},'
        f'"event_id":{_dumps(event_id)},"kind":{_dumps(kind)},"occurred_at":{_dumps(occurred_at)},'
        f'"payload":{payload_json},"site_id":{site}}}'
    )


def with_event_id(text_without_id: str, event_id: str) -> str:
    """The content text of :func:`content_text` built with an empty ID, with ``event_id`` filled in.

    Safe by construction: the keys before ``event_id`` in sorted order hold JSON-escaped strings, in
    which the unescaped sequence ``"event_id":""`` cannot occur, so the first match is the key.
    """
    return text_without_id.replace('"event_id":""', f'"event_id":{_dumps(event_id)}', 1)


def content_sha256(text: str, battery_seq: int, global_seq: int) -> str:
    """Digest of an event's canonical content text at its position in both chains [hex]."""
    return hashlib.sha256(f"{battery_seq}|{global_seq}|{text}".encode()).hexdigest()


def chain_sha256(previous_sha256: str, content_digest: str) -> str:
    """Next link of a chain: SHA-256 over the previous link and this event's content digest [hex]."""
    return hashlib.sha256((previous_sha256 + content_digest).encode("ascii")).hexdigest()
