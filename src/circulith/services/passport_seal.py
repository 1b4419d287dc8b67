"""The line a public passport page shows about its signatures: who signed what it displays, and whether it verifies.

The verdict is :func:`circulith.ledger.attestation.verify_passport_bundle` over the passport's bundle
(its registration and the events behind its dynamic values, with the published keys), as in
:func:`circulith.services.ledger_signatures.passport_verification`; this adds which key of which
organisation each signature names, and one readable sentence, and reads only the battery's own
signatures (the page checks on every view). Public, like the page.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from circulith.auth.policy import Principal
from circulith.errors import CirculithError, NotFound
from circulith.ledger.attestation import (
    PassportBundle,
    PublishedKey,
    SignedEvent,
    passport_bundle,
    verify_passport_bundle,
)
from circulith.ledger.signing import SignatureInvalid, b64url_decode, jws_header, public_jwk
from circulith.store import trust_store
from circulith.store.database import transaction
from circulith.store.ledger_store import DYNAMIC_KEYS
from circulith.store.passport_signature_reads import battery_by_key, signed_battery_events
from circulith.store.registry import get_battery
from circulith.store.trust_models import SigningKey

SealState = Literal["verifies", "does_not_verify", "not_signed", "unavailable"]
_DYNAMIC = frozenset(DYNAMIC_KEYS)


class Signer(BaseModel):
    """An organisation's key that signed at least one event the passport rests on."""

    org_id: str
    key_id: str


class PassportSeal(BaseModel):
    """Whether what the public page shows verifies from its organisations' signatures."""

    battery_id: str
    state: SealState
    signers: list[Signer]
    problems: list[str] = Field(description="Why it does not verify (empty when it verifies or is not signed).")
    line: str = Field(description="The sentence the page shows.")


def _signers(bundle: PassportBundle) -> list[Signer]:
    orgs = {str(k["key_id"]): str(k["org_id"]) for k in bundle.keys}
    out: dict[tuple[str, str], Signer] = {}
    for ev in [bundle.registration, *bundle.dynamic_events]:
        if ev.jws is None:
            continue
        try:
            kid = str(jws_header(ev.jws).get("kid"))
        except SignatureInvalid:
            kid = "unreadable"
        org = orgs.get(kid, ev.actor_org_id)
        out.setdefault((org, kid), Signer(org_id=org, key_id=kid))
    return list(out.values())


def seal_line(state: SealState, signers: list[Signer], problems: list[str]) -> str:
    """The readable sentence for a verdict: "Signed by <org>, key <kid>: verifies" and its variants."""
    if state == "not_signed":
        return "Not signed: no organisation has signed the events this passport rests on."
    if state == "unavailable":
        return f"Signatures could not be checked: {problems[0] if problems else 'unknown reason'}."
    by = "; ".join(f"{s.org_id}, key {s.key_id}" for s in signers)
    if state == "verifies":
        return f"Signed by {by}: verifies."
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"Signed by {by}: does not verify: {problems[0]}{more}."


def _published(k: SigningKey) -> PublishedKey:
    return PublishedKey(key_id=k.key_id, org_id=k.org_id, jwk=public_jwk(b64url_decode(k.public_key), k.key_id),
                        created_at=k.created_at, revoked_at=k.revoked_at, retired_at=k.retired_at)


def _passport_bundle(engine: Engine, identifier: str) -> PassportBundle:
    """The bundle of the passport shown for ``identifier``: only its own events and signatures are read."""
    with transaction(engine, read_only=True) as s:
        bat = battery_by_key(s, identifier) or get_battery(s, identifier)  # the page passes its resolved key
        events = [SignedEvent.model_validate(e) for e in signed_battery_events(s, bat.battery_id)]
        keys = [_published(k) for k in trust_store.keys(s)]
        if not any(e.kind == "registered" for e in events):
            raise NotFound(f"battery {bat.battery_id} has no registration event")
        return passport_bundle(bat.battery_id, bat.document, bat.status, bat.dynamic_json, events, keys, _DYNAMIC)


def passport_seal(engine: Engine, _principal: Principal, identifier: str) -> PassportSeal:
    """Who signed what the public page of ``identifier`` displays, and whether it verifies (public).

    The same check as :func:`circulith.services.ledger_signatures.passport_verification` (the bundle of
    the registration and of the events behind the dynamic values, verified with the published keys),
    reading only this battery's events and signatures. Never raises for a passport the page can show:
    a registry without keys or signatures gives ``not_signed``, a stored record the check cannot read
    gives ``unavailable`` with the reason.
    """
    try:
        bundle = _passport_bundle(engine, identifier)
    except CirculithError as exc:
        return PassportSeal(battery_id=identifier, state="unavailable", signers=[], problems=[str(exc)],
                            line=seal_line("unavailable", [], [str(exc)]))
    signers = _signers(bundle)
    if not signers:
        return PassportSeal(battery_id=bundle.battery_id, state="not_signed", signers=[], problems=[],
                            line=seal_line("not_signed", [], []))
    problems = verify_passport_bundle(bundle, dynamic_keys=_DYNAMIC)
    state: SealState = "does_not_verify" if problems else "verifies"
    return PassportSeal(battery_id=bundle.battery_id, state=state, signers=signers, problems=problems,
                        line=seal_line(state, signers, problems))
