"""Signed tree heads and checkpoint files: what a participant holds to prove the ledger only ever grows.

Pure computation. A *tree head* states the size of the ledger, the RFC 9162 Merkle root over its
first ``tree_size`` events (:mod:`circulith.ledger.merkle`), the global-chain digest at that size and
the time of issue; the registry operator signs it as a compact JWS (:mod:`circulith.ledger.signing`).
A *checkpoint file* carries the signed head, the operator's public key (JWK) and the roots of
consecutive blocks of events (at most :data:`MAX_BLOCKS`; each block is a node of the tree, so the
block roots rebuild the signed root). Whoever holds the file can later check, against the events
the registry then holds, that the first ``tree_size`` events are unchanged, and if not, which block
of events (one event for ledgers up to :data:`MAX_BLOCKS` events) is the first that differs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from circulith.ledger import merkle
from circulith.ledger.signing import SignatureInvalid, verify_compact

TREE_HEAD_TYP = "circulith-tree-head+jws"
CHECKPOINT_FORMAT = "circulith-checkpoint/1"
MAX_BLOCKS = 4096
"""Most block roots a checkpoint file carries (64 hex characters each: at most about 270 kB)."""


class SignedTreeHead(BaseModel):
    """A tree head and its signature."""

    model_config = ConfigDict(frozen=True)

    tree_size: int = Field(ge=0, description="Number of events covered [events].")
    root_sha256: str = Field(description="RFC 9162 Merkle tree head over those events [hex SHA-256].")
    global_chain_sha256: str = Field(description="The global hash chain's digest after the last covered event.")
    issued_at: str = Field(description="Time of issue (ISO 8601 UTC).")
    log_id: str = Field(description="The registry's name for its ledger.")
    key_id: str = Field(description="The operator key that signed it.")
    jws: str = Field(description="Compact JWS (EdDSA) over the head's canonical JSON.")

    def payload(self) -> dict[str, Any]:
        """What the signature covers."""
        return tree_head_payload(self.tree_size, self.root_sha256, self.global_chain_sha256, self.issued_at,
                                 self.log_id)


class CheckpointFile(BaseModel):
    """What a participant keeps: a signed tree head, the key it was signed with, and block roots."""

    model_config = ConfigDict(extra="forbid")

    format: str = CHECKPOINT_FORMAT
    tree_head: SignedTreeHead
    key: dict[str, str] = Field(description="The signing key as a JWK (RFC 8037).")
    block_size: int = Field(ge=1, description="Events per block root [events].")
    block_roots: list[str] = Field(description="Merkle roots of consecutive blocks of events [hex].")
    frontier: list[str] = Field(default_factory=list, description="Right frontier of the tree (RFC 9162 perfect "
                                "subtrees, largest first) [hex]: extends to later tree heads without earlier events.")

    def compact_range(self) -> merkle.CompactRange:
        """The frontier as a :class:`~circulith.ledger.merkle.CompactRange`, checked against the signed root.

        Raises
        ------
        SignatureInvalid
            If the frontier does not fold to the signed root (or has the wrong number of nodes).
        """
        try:
            cr = merkle.CompactRange(self.tree_head.tree_size, [bytes.fromhex(h) for h in self.frontier])
        except ValueError as exc:
            raise SignatureInvalid(f"the checkpoint's frontier is malformed: {exc}") from exc
        if cr.root().hex() != self.tree_head.root_sha256:
            raise SignatureInvalid("the checkpoint's frontier does not rebuild its signed tree head")
        return cr


def tree_head_payload(tree_size: int, root_sha256: str, global_chain_sha256: str, issued_at: str,
                      log_id: str) -> dict[str, Any]:
    """The signed content of a tree head."""
    return {"tree_size": tree_size, "root_sha256": root_sha256, "global_chain_sha256": global_chain_sha256,
            "issued_at": issued_at, "log_id": log_id}


def block_size_for(tree_size: int, max_blocks: int = MAX_BLOCKS) -> int:
    """The smallest power of two that splits ``tree_size`` events into at most ``max_blocks`` blocks."""
    size = 1
    while -(-tree_size // size) > max_blocks:
        size *= 2
    return size


def check_signed_head(head: SignedTreeHead, keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Raise :class:`SignatureInvalid` unless the head's JWS verifies and states exactly the head's fields."""
    payload = verify_compact(head.jws, keys, typ=TREE_HEAD_TYP)
    if payload != head.payload():
        raise SignatureInvalid(f"the tree head at size {head.tree_size} differs from what its signature covers")


class CheckpointComparison(BaseModel):
    """How the ledger as it is now relates to a checkpoint held elsewhere."""

    consistent: bool = Field(description="The ledger's first tree_size events are exactly those the checkpoint covers.")
    checkpoint_size: int
    current_size: int
    first_broken_index: int | None = Field(
        default=None, description="0-based position of the first event that differs or is missing (block start).")
    broken_range: tuple[int, int] | None = Field(
        default=None, description="0-based [start, end) of the first block of events that differs.")
    reason: str = ""


def compare_with_checkpoint(checkpoint: CheckpointFile, leaves: Sequence[bytes] | merkle.MerkleTree
                            ) -> CheckpointComparison:
    """Compare the ledger's leaf hashes (recomputed from its events, in global order) with a checkpoint.

    ``leaves`` may be given as the :class:`~circulith.ledger.merkle.MerkleTree` over them, when the caller
    needs the tree for more (a consistency proof).

    The checkpoint's signature must already have been checked (:func:`check_signed_head`); its block
    roots must rebuild its signed root.

    Raises
    ------
    SignatureInvalid
        If the block roots do not rebuild the signed root (the file was edited).
    """
    tree = leaves if isinstance(leaves, merkle.MerkleTree) else merkle.MerkleTree(leaves)
    head = checkpoint.tree_head
    m, n, b = head.tree_size, tree.size, checkpoint.block_size
    held = [bytes.fromhex(r) for r in checkpoint.block_roots]
    if b & (b - 1) or merkle.root_from_blocks(held).hex() != head.root_sha256 or len(held) != -(-m // b):
        raise SignatureInvalid("the checkpoint's block roots do not rebuild its signed tree head")
    out = CheckpointComparison(consistent=False, checkpoint_size=m, current_size=n)
    if n >= m and tree.root(m).hex() == head.root_sha256:
        out.consistent = True
        return out
    now = tree.block_roots(b, min(m, n))
    for i, root in enumerate(held):
        if i >= len(now) or now[i] != root:
            start, end = i * b, min(m, (i + 1) * b)
            out.first_broken_index, out.broken_range = start, (start, end)
            if start >= n:
                out.reason = f"the ledger ends at {n} events but the checkpoint covers {m}: events were removed"
            elif end > n and i == len(now) - 1:
                out.reason = (f"the ledger ends at {n} events but the checkpoint covers {m}: events were removed "
                              "or changed")
            else:
                out.reason = "the events in this range are not those the checkpoint covers"
            return out
    raise AssertionError("unreachable: equal block roots give the same tree head")  # pragma: no cover
