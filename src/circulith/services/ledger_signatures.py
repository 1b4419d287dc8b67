"""Use cases of organisations' signatures: signing events, checking every signature, signed passport exports.

Each organisation's private key stays in its key directory (``CIRCULITH_KEY_DIR``); an organisation
signs the events it recorded (:func:`sign_events`: the operator runs it for the organisations whose
keys it holds, an organisation for itself). Signatures stay checkable after the key is rotated, and
are refused when made after the key was revoked.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import AUTHORITY_ROLES, Principal
from circulith.errors import NotFound
from circulith.ledger.attestation import (
    PassportBundle,
    PublishedKey,
    SignedEvent,
    check_event_signature,
    passport_bundle,
    sign_event,
    verify_passport_bundle,
)
from circulith.ledger.events import format_timestamp
from circulith.ledger.signing import b64url_decode, load_private_key_pem, public_jwk
from circulith.services.ledger_trust import key_dir, key_file
from circulith.store import trust_store
from circulith.store.database import require_schema, transaction
from circulith.store.ledger_store import DYNAMIC_KEYS
from circulith.store.models import EVENT_COLUMNS
from circulith.store.registry import get_battery
from circulith.store.trust_models import SigningKey

_DYNAMIC = frozenset(DYNAMIC_KEYS)
SIGN_BATCH = 5000


class SigningReport(BaseModel):
    """What :func:`sign_events` did."""

    signed: int
    unsigned_by_org: dict[str, int] = Field(description="Events left unsigned (no usable key), by organisation.")


class SignatureReport(BaseModel):
    """Every event signature checked against the published keys."""

    events: int
    signed: int
    unsigned_by_org: dict[str, int]
    invalid: list[str] = Field(description="Events whose signature does not verify, with the reason.")

    @property
    def ok(self) -> bool:
        """No signature is invalid (unsigned events are reported, not failures)."""
        return not self.invalid


class PassportVerification(BaseModel):
    """Whether the passport the registry shows verifies from its signed events (public)."""

    battery_id: str
    verifies: bool
    problems: list[str]
    signed_by: list[str] = Field(description="Organisations whose signatures it rests on.")


def _published(keys: list[SigningKey]) -> dict[str, PublishedKey]:
    return {k.key_id: PublishedKey(key_id=k.key_id, org_id=k.org_id, jwk=public_jwk(b64url_decode(k.public_key), k.key_id),
                                   created_at=k.created_at, revoked_at=k.revoked_at, retired_at=k.retired_at)
            for k in keys}


def _event_fields(row: tuple) -> dict[str, str | None]:
    return dict(zip(EVENT_COLUMNS[:9], row[:9], strict=True))


def sign_events(engine: Engine, principal: Principal, *, directory: str | Path | None = None,
                now: datetime | None = None) -> SigningReport:
    """Sign every unsigned event with the active key of the organisation that recorded it.

    The operator signs for every organisation whose private key is in the key directory; any other
    caller only for its own organisation.
    """
    require_schema(engine)
    folder = key_dir(directory)
    at = format_timestamp(now or datetime.now(UTC))
    signers: dict[str, tuple[str, Ed25519PrivateKey] | None] = {}
    signed = 0
    left: Counter[str] = Counter()
    with transaction(engine) as s:
        done = trust_store.signed_event_ids(s)
        batch: list[dict[str, str]] = []
        for row in trust_store.event_rows_for_signing(s):
            ev = _event_fields(row)
            if ev["event_id"] in done:
                continue
            org = str(ev["actor_org_id"])
            if org not in signers:
                signers[org] = _load_signer(s, org, folder) if (principal.is_operator or principal.org_id == org) else None
            signer = signers[org]
            if signer is None:
                left[org] += 1
                continue
            kid, key = signer
            batch.append({"event_id": str(ev["event_id"]), "key_id": kid, "jws": sign_event(ev, key, kid=kid, signed_at=at)})
            if len(batch) >= SIGN_BATCH:
                trust_store.add_event_signatures(s, batch)
                signed += len(batch)
                batch = []
        trust_store.add_event_signatures(s, batch)
        signed += len(batch)
    return SigningReport(signed=signed, unsigned_by_org=dict(left))


def _load_signer(session: Session, org: str, folder: Path) -> tuple[str, Ed25519PrivateKey] | None:
    key = trust_store.active_key(session, org)
    if key is None:
        return None
    path = key_file(folder, key.key_id)
    if not path.exists():
        return None
    return key.key_id, load_private_key_pem(path.read_bytes())


def verify_event_signatures(engine: Engine, _principal: Principal, *, max_findings: int = 1000) -> SignatureReport:
    """Check every stored event signature against the published keys and history."""
    require_schema(engine)
    with transaction(engine, read_only=True) as s:
        keys = _published(trust_store.keys(s))
        sigs = trust_store.event_signatures(s)
        n = 0
        unsigned: Counter[str] = Counter()
        invalid: list[str] = []
        for row in trust_store.event_rows_for_signing(s):
            n += 1
            ev = _event_fields(row)
            sig = sigs.get(str(ev["event_id"]))
            if sig is None:
                unsigned[str(ev["actor_org_id"])] += 1
                continue
            reason = check_event_signature(ev, sig[1], keys)
            if reason and len(invalid) < max_findings:
                invalid.append(f"event {ev['event_id']} (global #{ev['global_seq']}, {ev['kind']} by "
                               f"{ev['actor_org_id']}): {reason}")
    return SignatureReport(events=n, signed=n - sum(unsigned.values()), unsigned_by_org=dict(unsigned), invalid=invalid)


def _bundle(session: Session, identifier: str) -> PassportBundle:
    bat = get_battery(session, identifier)
    rows = list(trust_store.event_rows_for_signing(session, bat.battery_id))
    sigs = trust_store.event_signatures(session)
    events = [SignedEvent(event_id=r[3], battery_id=r[1], kind=r[4], occurred_at=r[5], actor_org_id=r[6], site_id=r[7],
                          payload_json=r[8], jws=sigs.get(r[3], (None, None))[1]) for r in rows]
    if not any(e.kind == "registered" for e in events):
        raise NotFound(f"battery {bat.battery_id} has no registration event")
    keys = list(_published(trust_store.keys(session)).values())
    return passport_bundle(bat.battery_id, bat.document, bat.status, bat.dynamic_json, events, keys, _DYNAMIC)


def export_signed_passport(engine: Engine, principal: Principal, identifier: str) -> PassportBundle:
    """The passport with the signed events it rests on and the keys, to verify offline.

    The bundle holds the whole static document and the events' payloads: only the operator,
    authorities, the battery's manufacturer and its custodian may export it.
    """
    with transaction(engine, read_only=True) as s:
        bat = get_battery(s, identifier)
        allowed = principal.is_operator or principal.role in AUTHORITY_ROLES or principal.org_id in (
            bat.manufacturer_id, bat.custodian_org_id)
        if not allowed or not principal.authenticated:
            raise AccessDenied(f"you may not export the signed passport of {bat.battery_id}")
        return _bundle(s, identifier)


def passport_verification(engine: Engine, _principal: Principal, identifier: str) -> PassportVerification:
    """Whether the passport shown for ``identifier`` verifies from signed events with the published keys (public)."""
    with transaction(engine, read_only=True) as s:
        bundle = _bundle(s, identifier)
    problems = verify_passport_bundle(bundle, dynamic_keys=_DYNAMIC)
    signers = sorted({k["org_id"] for k in bundle.keys})
    return PassportVerification(battery_id=bundle.battery_id, verifies=not problems, problems=problems,
                                signed_by=signers)


def verify_exported_passport(bundle: PassportBundle, trusted_keys: list[PublishedKey] | None = None) -> list[str]:
    """Check an exported passport offline (no database): the problems found, empty when it verifies."""
    return verify_passport_bundle(bundle, trusted_keys, dynamic_keys=_DYNAMIC)
