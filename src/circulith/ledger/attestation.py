"""Organisations' signatures on events, and passports that verify offline from them.

Pure computation. An organisation signs each event it records: a compact JWS (Ed25519,
:mod:`circulith.ledger.signing`) over the event ID, battery, actor and the SHA-256 of the event's
canonical content text (:func:`circulith.ledger.hashing.content_text`: everything the actor asserted,
without the positions the registry assigns). Signatures are checked against the organisation's
published keys with their history: the key must belong to the event's actor, exist when the
signature was made, and not have been revoked before it.

A passport is exported as a *bundle*: its static document, status and dynamic values, the
``registered`` event (whose payload carries the static document's digest) and every event that set
a dynamic value shown, each with its signature, and the keys (JWK) that signed them. Anyone can
check the bundle offline (:func:`verify_passport_bundle`): each signature, that the registration
covers the document, and that every dynamic value shown is the one a signed event recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from circulith.ledger.hashing import canonical_json, content_text
from circulith.ledger.signing import (
    SignatureInvalid,
    jws_header,
    public_key_from_jwk,
    sign_compact,
    verify_compact,
)

EVENT_TYP = "circulith-event+jws"
BUNDLE_FORMAT = "circulith-signed-passport/1"


@dataclass(frozen=True)
class PublishedKey:
    """A public key with its owner and validity (ISO 8601 UTC timestamps)."""

    key_id: str
    org_id: str
    jwk: Mapping[str, str]
    created_at: str
    revoked_at: str | None = None
    retired_at: str | None = None


def event_text_sha256(event: Mapping[str, Any]) -> str:
    """SHA-256 of an event's canonical content text (fields as stored: ``payload_json`` canonical) [hex]."""
    text = content_text(event["event_id"], event["battery_id"], event["kind"], event["occurred_at"],
                        event["actor_org_id"], event["site_id"], event["payload_json"])
    return hashlib.sha256(text.encode()).hexdigest()


def event_claims(event: Mapping[str, Any], signed_at: str) -> dict[str, Any]:
    """What an organisation's signature on an event states."""
    return {"event_id": event["event_id"], "battery_id": event["battery_id"], "actor_org_id": event["actor_org_id"],
            "content_sha256": event_text_sha256(event), "signed_at": signed_at}


def sign_event(event: Mapping[str, Any], key: Any, *, kid: str, signed_at: str) -> str:
    """The compact JWS of an event by the key ``kid`` of its actor."""
    return sign_compact(event_claims(event, signed_at), key, kid=kid, typ=EVENT_TYP)


def check_event_signature(event: Mapping[str, Any], jws: str, keys: Mapping[str, PublishedKey]) -> str | None:
    """None when ``jws`` is a valid signature of ``event`` by its actor, else the reason it is not."""
    try:
        kid = jws_header(jws).get("kid")
        pk = keys.get(kid) if isinstance(kid, str) else None
        if pk is None:
            return f"signed with key {kid!r}, which is not published"
        claims = verify_compact(jws, {pk.key_id: public_key_from_jwk(pk.jwk)}, typ=EVENT_TYP)
    except SignatureInvalid as exc:
        return str(exc)
    if pk.org_id != event["actor_org_id"]:
        return f"signed by {pk.org_id}'s key, but recorded by {event['actor_org_id']}"
    if claims.get("event_id") != event["event_id"] or claims.get("content_sha256") != event_text_sha256(event):
        return "the signature covers other content than the event as stored"
    signed_at = str(claims.get("signed_at", ""))
    if signed_at < pk.created_at:
        return f"signed at {signed_at}, before key {pk.key_id} existed ({pk.created_at})"
    if pk.revoked_at is not None and signed_at >= pk.revoked_at:
        return f"signed at {signed_at}, after key {pk.key_id} was revoked ({pk.revoked_at})"
    if pk.retired_at is not None and signed_at >= pk.retired_at:
        return f"signed at {signed_at}, after key {pk.key_id} was replaced ({pk.retired_at})"
    return None


class SignedEvent(BaseModel):
    """An event as stored (content fields) with its actor's signature."""

    event_id: str
    battery_id: str
    kind: str
    occurred_at: str
    actor_org_id: str
    site_id: str | None
    payload_json: str = Field(description="The payload's canonical JSON, as stored and signed.")
    jws: str | None = Field(default=None, description="The actor's signature (None: not signed).")


class PassportBundle(BaseModel):
    """A passport that verifies offline: document, the signed events it rests on, and the keys."""

    format: str = BUNDLE_FORMAT
    battery_id: str
    document: str = Field(description="The static passport document (canonical JSON) as registered.")
    status: str
    dynamic: dict[str, Any]
    registration: SignedEvent
    dynamic_events: list[SignedEvent]
    keys: list[dict[str, Any]] = Field(description="Published keys: key_id, org_id, jwk, created_at, revoked_at.")

    def passport(self) -> dict[str, Any]:
        """The passport document as displayed (static document, status and dynamic values)."""
        return json.loads(self.document) | {"status": self.status, "dynamic": self.dynamic}


def passport_bundle(battery_id: str, document: str, status: str, dynamic_json: str, events: Sequence[SignedEvent],
                    keys: Sequence[PublishedKey], dynamic_keys: frozenset[str]) -> PassportBundle:
    """Assemble a bundle from a battery's events in chain order (the registration first)."""
    dynamic = json.loads(dynamic_json)
    registration = next(e for e in events if e.kind == "registered")
    needed: list[SignedEvent] = []
    for key, entry in dynamic.items():
        if key not in dynamic_keys or not isinstance(entry, dict):
            continue
        source = _source_event(events, key, entry)
        if source is not None and source is not registration and source not in needed:
            needed.append(source)
    used = {e.jws and jws_header(e.jws).get("kid") for e in [registration, *needed]}
    return PassportBundle(
        battery_id=battery_id, document=document, status=status, dynamic=dynamic, registration=registration,
        dynamic_events=needed,
        keys=[{"key_id": k.key_id, "org_id": k.org_id, "jwk": dict(k.jwk), "created_at": k.created_at,
               "revoked_at": k.revoked_at, "retired_at": k.retired_at} for k in keys if k.key_id in used])


def _source_event(events: Sequence[SignedEvent], key: str, entry: Mapping[str, Any]) -> SignedEvent | None:
    """The event that recorded a dynamic value: a reading at that time, or the registration's initial value."""
    for e in reversed(events):
        if key not in e.payload_json:
            continue
        payload = json.loads(e.payload_json)
        if e.kind == "registered":
            initial = payload.get("dynamic")
            if isinstance(initial, dict) and initial.get(key) == dict(entry):
                return e
        elif e.occurred_at == entry.get("updated_at") and payload.get(key) == entry.get("value"):
            return e
    return None


def verify_passport_bundle(bundle: PassportBundle, trusted_keys: Sequence[PublishedKey] | None = None,
                           dynamic_keys: frozenset[str] = frozenset()) -> list[str]:
    """Problems with a bundle (empty: the passport verifies).

    ``trusted_keys`` are keys the checker holds (e.g. fetched from the registry earlier); without them
    the bundle's own keys are used, and the result says the passport verifies *with those keys*.
    """
    keys = {k.key_id: k for k in (trusted_keys if trusted_keys is not None else [
        PublishedKey(key_id=k["key_id"], org_id=k["org_id"], jwk=k["jwk"], created_at=k["created_at"],
                     revoked_at=k.get("revoked_at"), retired_at=k.get("retired_at")) for k in bundle.keys])}
    problems: list[str] = []
    for ev in [bundle.registration, *bundle.dynamic_events]:
        fields = ev.model_dump()
        if ev.battery_id != bundle.battery_id:
            problems.append(f"event {ev.event_id} concerns battery {ev.battery_id}, not {bundle.battery_id}")
        if ev.jws is None:
            problems.append(f"event {ev.event_id} ({ev.kind}) is not signed")
            continue
        reason = check_event_signature(fields, ev.jws, keys)
        if reason:
            problems.append(f"event {ev.event_id} ({ev.kind}): {reason}")
    reg = json.loads(bundle.registration.payload_json)
    doc_sha = hashlib.sha256(bundle.document.encode()).hexdigest()
    if reg.get("document_sha256") != doc_sha:
        problems.append("the passport document is not the one its registration recorded")
    for key, entry in bundle.dynamic.items():
        if key not in dynamic_keys or not isinstance(entry, dict):
            continue
        if _source_event([bundle.registration, *bundle.dynamic_events], key, entry) is None:
            problems.append(f"dynamic value {key} (as of {entry.get('updated_at')}) is not the one any signed event "
                            "recorded")  # the value itself is not repeated: the public sees this message
    return problems


def canonical_document(doc: Mapping[str, Any]) -> str:
    """Canonical JSON of a static passport document (how the registry stores and digests it)."""
    return canonical_json(dict(doc))
