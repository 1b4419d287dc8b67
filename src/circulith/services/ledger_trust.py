"""Use cases of the ledger's outside anchors: signing keys, signed tree heads, proofs and checkpoint checks.

The registry operator signs tree heads with its Ed25519 key; participants keep the checkpoint files
they were given (or fetch tree heads from the API) and check later that the registry only ever grew
(:func:`verify_against_checkpoint`, consistency proofs). Private keys live in files in a key
directory (``CIRCULITH_KEY_DIR``), never in the database; the database publishes the public keys
with their history (rotation, revocation).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import Principal, Role
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.ledger import merkle
from circulith.ledger.checkpoint import (
    TREE_HEAD_TYP,
    CheckpointComparison,
    CheckpointFile,
    SignedTreeHead,
    block_size_for,
    check_signed_head,
    compare_with_checkpoint,
    tree_head_payload,
)
from circulith.ledger.events import format_timestamp
from circulith.ledger.hashing import canonical_json
from circulith.ledger.signing import (
    SignatureInvalid,
    b64url,
    generate_private_key,
    load_private_key_pem,
    private_key_pem,
    public_jwk,
    public_key_from_jwk,
    public_raw,
    sign_compact,
)
from circulith.store import trust_store
from circulith.store.custody_repo import organisations_with_role
from circulith.store.database import require_schema, transaction
from circulith.store.ledger_store import verify_ledger, verify_ledger_since
from circulith.store.trust_models import SigningKey, TreeHead

KEY_DIR_ENV = "CIRCULITH_KEY_DIR"
LOG_ID_ENV = "CIRCULITH_LOG_ID"


class KeyOut(BaseModel):
    """A published signing key and its history."""

    key_id: str
    org_id: str
    jwk: dict[str, str]
    created_at: str
    retired_at: str | None = None
    revoked_at: str | None = None
    revocation_reason: str | None = None
    status: str = Field(description="active | retired (rotated; old signatures valid) | revoked")


class InclusionProofOut(BaseModel):
    """RFC 9162 inclusion proof of one event in the tree of ``tree_size`` events."""

    event_id: str
    leaf_index: int = Field(description="0-based position (global sequence number - 1).")
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || content digest) [hex].")
    root_sha256: str
    path: list[str]


class ConsistencyProofOut(BaseModel):
    """RFC 9162 consistency proof between two tree sizes."""

    first: int
    second: int
    first_root_sha256: str
    second_root_sha256: str
    proof: list[str]


class CheckpointVerification(BaseModel):
    """Outcome of ``ledger verify --checkpoint``: chains, tips, and the checkpoint held elsewhere."""

    ok: bool
    events_checked: int
    chain_findings: list[str]
    checkpoint: CheckpointComparison
    key_status: str = Field(description="Whether the checkpoint's key is among the registry's published keys.")
    first_broken_event: dict[str, str | int | None] | None = None
    consistency_proof: list[str] = Field(default_factory=list,
                                         description="From the checkpoint's size to the current size [hex].")


def operator_principal(org_id: str) -> Principal:
    """The registry operator acting locally through the CLI."""
    from circulith.auth.policy import ALL_SCOPES

    return Principal(org_id=org_id, role=Role.OPERATOR, scopes=ALL_SCOPES, via="cli")


def operator_org(engine: Engine, org_id: str | None = None) -> str:
    """The operator organisation: ``org_id`` if given, else the only organisation with the operator role."""
    if org_id:
        return org_id
    with transaction(engine, read_only=True) as s:
        found = organisations_with_role(s, Role.OPERATOR)
    if len(found) != 1:
        raise InvalidInput(Problem(None, "org", f"{len(found)} organisations have the operator role: name one with "
                                   "circulith --as ORG"))
    return found[0]


def key_dir(path: str | Path | None = None) -> Path:
    """The directory of private keys: ``path``, else ``$CIRCULITH_KEY_DIR``, else ``./circulith-keys``."""
    return Path(path or os.environ.get(KEY_DIR_ENV) or "circulith-keys")


def key_file(directory: Path, key_id: str) -> Path:
    """The file of a private key in a key directory."""
    return directory / (re.sub(r"[^A-Za-z0-9_.-]", "_", key_id) + ".pem")


def _now(now: datetime | None) -> str:
    return format_timestamp(now or datetime.now(UTC))


def _require_operator_or_self(principal: Principal, org_id: str) -> None:
    if not (principal.is_operator or principal.org_id == org_id):
        raise AccessDenied(f"only the operator or {org_id} itself may manage {org_id}'s signing keys")


def _key_out(k: SigningKey) -> KeyOut:
    status = "revoked" if k.revoked_at else "retired" if k.retired_at else "active"
    return KeyOut(key_id=k.key_id, org_id=k.org_id, jwk=public_jwk(_raw(k.public_key), k.key_id),
                  created_at=k.created_at, retired_at=k.retired_at, revoked_at=k.revoked_at,
                  revocation_reason=k.revocation_reason, status=status)


def _raw(public_key_b64: str) -> bytes:
    from circulith.ledger.signing import b64url_decode

    return b64url_decode(public_key_b64)


def create_key(engine: Engine, principal: Principal, org_id: str, *, directory: str | Path | None = None,
               now: datetime | None = None) -> KeyOut:
    """Make a new Ed25519 key for ``org_id``: the private key into the key directory, the public key published.

    The organisation's previous key is retired (rotation): what it signed stays verifiable.
    """
    _require_operator_or_self(principal, org_id)
    require_schema(engine)
    private = generate_private_key()
    raw = public_raw(private)
    thumb = b64url(hashlib.sha256(canonical_json({"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}).encode()).digest())
    key_id = f"{org_id}:{thumb[:22]}"  # RFC 7638 JWK thumbprint, shortened
    folder = key_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = key_file(folder, key_id)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_key_pem(private))
    at = _now(now)
    with transaction(engine) as s:
        trust_store.add_key(s, key_id=key_id, org_id=org_id, public_key=b64url(raw), created_at=at)
        return _key_out(s.get(SigningKey, key_id))  # type: ignore[arg-type]


def revoke_key(engine: Engine, principal: Principal, key_id: str, reason: str, *, now: datetime | None = None) -> KeyOut:
    """Revoke a key (compromised): signatures it made from now on are refused; its history stays published."""
    with transaction(engine) as s:
        key = s.get(SigningKey, key_id)
        if key is None:
            raise NotFound(f"no signing key '{key_id}'")
        _require_operator_or_self(principal, key.org_id)
        return _key_out(trust_store.revoke_key(s, key_id, at=_now(now), reason=reason))


def published_keys(engine: Engine, _principal: Principal, org_id: str | None = None) -> list[KeyOut]:
    """Every organisation's public keys with their history (public: anyone may check signatures)."""
    with transaction(engine, read_only=True) as s:
        return [_key_out(k) for k in trust_store.keys(s, org_id)]


def _signer(engine: Engine, org_id: str, directory: str | Path | None) -> tuple[SigningKey, Ed25519PrivateKey]:
    with transaction(engine, read_only=True) as s:
        key = trust_store.active_key(s, org_id)
    if key is None:
        raise NotFound(f"{org_id} has no active signing key: run 'circulith ledger keygen --org {org_id}'")
    path = key_file(key_dir(directory), key.key_id)
    if not path.exists():
        raise NotFound(f"the private key of {key.key_id} is not in {path.parent} (set {KEY_DIR_ENV})")
    return key, load_private_key_pem(path.read_bytes())


def _head_out(h: TreeHead, log_id: str) -> SignedTreeHead:
    return SignedTreeHead(tree_size=h.tree_size, root_sha256=h.root_sha256, global_chain_sha256=h.global_chain_sha256,
                          issued_at=h.issued_at, log_id=log_id, key_id=h.key_id, jws=h.jws)


def _log_id(engine: Engine) -> str:
    return os.environ.get(LOG_ID_ENV) or engine.url.render_as_string(hide_password=True).rsplit("/", 1)[-1]


def issue_checkpoint(engine: Engine, principal: Principal, *, directory: str | Path | None = None,
                     now: datetime | None = None) -> CheckpointFile:
    """Sign a tree head over every event now stored, record it, and return the checkpoint file to hand out.

    The leaves are recomputed from the events' content, and the chains verified first: the operator
    never signs a ledger that fails verification.
    """
    if not principal.is_operator:
        raise AccessDenied("only the registry operator issues tree heads")
    require_schema(engine)
    key, private = _signer(engine, principal.org_id or "", directory)
    leaves: list[bytes] = []
    with transaction(engine, read_only=True) as s:
        report = verify_ledger(s, max_findings=10, leaves=leaves, compiled=True)
        head_sha = report.head_sha256  # where the verified events end: the snapshot the leaves come from
    if not report.ok:
        raise SignatureInvalid(f"refusing to sign a ledger that fails verification: {report.findings[0]}")
    size = len(leaves)
    tree = merkle.MerkleTree(leaves)  # one pass over the leaves for the root, the block roots and the frontier
    root = tree.root().hex()
    at = _now(now)
    log_id = _log_id(engine)
    payload = tree_head_payload(size, root, str(head_sha), at, log_id)
    jws = sign_compact(payload, private, kid=key.key_id, typ=TREE_HEAD_TYP)
    with transaction(engine) as s:
        trust_store.add_tree_head(s, TreeHead(tree_size=size, root_sha256=root, global_chain_sha256=str(head_sha),
                                              issued_at=at, key_id=key.key_id, jws=jws))
        stored = trust_store.tree_head(s, size)
    head = _head_out(stored, log_id) if stored.jws == jws else SignedTreeHead(
        tree_size=size, root_sha256=root, global_chain_sha256=str(head_sha), issued_at=at, log_id=log_id,
        key_id=key.key_id, jws=jws)
    block = block_size_for(size)
    return CheckpointFile(tree_head=head, key=public_jwk(_raw(key.public_key), key.key_id), block_size=block,
                          block_roots=[r.hex() for r in tree.block_roots(block)],
                          frontier=[f.hex() for f in tree.frontier()])


def tree_head(engine: Engine, _principal: Principal, tree_size: int | None = None) -> SignedTreeHead:
    """The latest tree head, or the one issued at ``tree_size`` (public)."""
    with transaction(engine, read_only=True) as s:
        return _head_out(trust_store.tree_head(s, tree_size), _log_id(engine))


def tree_head_history(engine: Engine, _principal: Principal) -> list[SignedTreeHead]:
    """Every tree head ever issued, oldest first (public)."""
    with transaction(engine, read_only=True) as s:
        return [_head_out(h, _log_id(engine)) for h in trust_store.tree_heads(s)]


def inclusion_proof(engine: Engine, _principal: Principal, event_id: str, tree_size: int | None = None
                    ) -> InclusionProofOut:
    """Proof that an event is in the tree of ``tree_size`` events (default: every stored event)."""
    with transaction(engine, read_only=True) as s:
        seq, digest = trust_store.event_position(s, event_id)
        leaves = trust_store.stored_leaves(s, tree_size)
    size = len(leaves) if tree_size is None else tree_size
    if size > len(leaves) or seq > size:
        raise InvalidInput(Problem(None, "tree_size", f"event #{seq} is not in a tree of {size} events "
                                   f"(the ledger holds {len(leaves)})"))
    tree = merkle.MerkleTree(leaves[:size])
    return InclusionProofOut(event_id=event_id, leaf_index=seq - 1, tree_size=size,
                             leaf_hash=merkle.leaf_hash(bytes.fromhex(digest)).hex(),
                             root_sha256=tree.root().hex(), path=[p.hex() for p in tree.inclusion_path(seq - 1)])


def consistency_proof(engine: Engine, _principal: Principal, first: int, second: int | None = None
                      ) -> ConsistencyProofOut:
    """Proof that the tree of ``first`` events is a prefix of the tree of ``second`` (default: all events)."""
    with transaction(engine, read_only=True) as s:
        leaves = trust_store.stored_leaves(s, second)
    second = len(leaves) if second is None else second
    if not 0 <= first <= second <= len(leaves):
        raise InvalidInput(Problem(None, "first", f"no consistency proof from {first} to {second} events "
                                   f"(the ledger holds {len(leaves)})"))
    tree = merkle.MerkleTree(leaves[:second])
    return ConsistencyProofOut(first=first, second=second, first_root_sha256=tree.root(first).hex(),
                               second_root_sha256=tree.root().hex(),
                               proof=[p.hex() for p in tree.consistency_proof(first)])


def parse_checkpoint(text: str, *, source: str = "checkpoint") -> CheckpointFile:
    """Read a checkpoint file (JSON), with a clear error naming the field that is wrong."""
    try:
        return CheckpointFile.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidInput(Problem(exc.lineno, "", f"not JSON: {exc.msg}"), source=source) from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInput(Problem(None, ".".join(str(p) for p in err["loc"]), err["msg"]), source=source) from exc


def verify_against_checkpoint(engine: Engine, _principal: Principal, checkpoint: CheckpointFile
                              ) -> CheckpointVerification:
    """Verify the ledger's chains and prove it extends ``checkpoint`` (held outside the registry).

    The checkpoint's signature is checked with the key it carries; whether the registry still
    publishes that key is reported (an operator that removed or replaced its key is itself a finding).
    A ledger rewritten consistently, truncated with its head moved back, or reordered does not extend
    the checkpoint: the first block of events that differs is named.
    """
    require_schema(engine)
    key = checkpoint.key
    kid = checkpoint.tree_head.key_id
    check_signed_head(checkpoint.tree_head, {kid: public_key_from_jwk(key)})
    leaves: list[bytes] = []
    with transaction(engine, read_only=True) as s:
        report = verify_ledger(s, max_findings=100, leaves=leaves, compiled=True)
        published = {k.key_id: k for k in trust_store.keys(s)}
        tree = merkle.MerkleTree(leaves)
        comparison = compare_with_checkpoint(checkpoint, tree)
        first = None
        if comparison.first_broken_index is not None and comparison.first_broken_index < len(leaves):
            row = trust_store.events_at(s, [comparison.first_broken_index + 1]).get(comparison.first_broken_index + 1)
            if row is not None:
                first = {"global_seq": row[0], "event_id": row[3], "battery_id": row[1], "kind": row[4]}
        elif comparison.first_broken_index is not None:
            first = {"global_seq": comparison.first_broken_index + 1, "event_id": None, "battery_id": None,
                     "kind": None}
    pk = published.get(kid)
    if pk is None:
        key_status = f"key {kid} is not published by this registry"
    elif pk.public_key != key.get("x"):
        key_status = f"key {kid} is published with a different public key"
    else:
        key_status = "revoked" if pk.revoked_at else "retired" if pk.retired_at else "active"
    proof: list[str] = []
    if comparison.consistent:
        proof = [p.hex() for p in tree.consistency_proof(checkpoint.tree_head.tree_size)]
    chain = [str(f) for f in report.findings]
    return CheckpointVerification(
        ok=report.ok and comparison.consistent and key_status in ("active", "retired"),
        events_checked=report.events_checked, chain_findings=chain, checkpoint=comparison, key_status=key_status,
        first_broken_event=first, consistency_proof=proof)


def checkpoint_after_import(engine: Engine, *, directory: str | Path | None = None) -> SignedTreeHead | None:
    """Issue a tree head after an import when the operator's key is at hand; None (nothing issued) otherwise.

    For the import commands and jobs: a registry without an operator key keeps working unsigned.
    """
    try:
        org = operator_org(engine)
        return issue_checkpoint(engine, operator_principal(org), directory=directory).tree_head
    except (InvalidInput, NotFound):
        return None


class IncrementalVerification(BaseModel):
    """Outcome of verifying only the events after a checkpoint."""

    ok: bool
    checkpoint_size: int
    current_size: int
    events_checked: int
    root_sha256: str = Field(description="Tree head over every event now stored, from the checkpoint's frontier.")
    latest_signed_head: str = Field(description="How the registry's latest signed tree head relates to it.")
    findings: list[str]


def verify_since_checkpoint(engine: Engine, _principal: Principal, checkpoint: CheckpointFile
                            ) -> IncrementalVerification:
    """Verify only what came after a checkpoint held elsewhere (trusting what the checkpoint covers).

    The events after it must chain onto its global digest and onto each battery's tip at its size;
    its frontier extended with their leaves gives the current tree head, compared with the latest
    head the registry signed at that size.
    """
    require_schema(engine)
    head = checkpoint.tree_head
    check_signed_head(head, {head.key_id: public_key_from_jwk(checkpoint.key)})
    cr = checkpoint.compact_range()
    leaves: list[bytes] = []
    with transaction(engine, read_only=True) as s:
        report = verify_ledger_since(s, head.tree_size, head.global_chain_sha256, max_findings=100, leaves=leaves)
        latest = next((h for h in reversed(trust_store.tree_heads(s)) if h.tree_size == head.tree_size + len(leaves)),
                      None)
    for leaf in leaves:
        cr.append(leaf)
    root = cr.root().hex()
    if latest is None:
        relation = "no tree head was signed at the current size"
    elif latest.root_sha256 == root:
        relation = f"equal to the tree head signed at {latest.issued_at}"
    else:
        relation = f"DIFFERENT from the tree head signed at {latest.issued_at} ({latest.root_sha256[:16]}…)"
    findings = [str(f) for f in report.findings]
    return IncrementalVerification(
        ok=report.ok and not relation.startswith("DIFFERENT"), checkpoint_size=head.tree_size, current_size=cr.size,
        events_checked=report.events_checked, root_sha256=root, latest_signed_head=relation, findings=findings)
