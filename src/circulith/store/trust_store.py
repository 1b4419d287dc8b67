"""Storage of signed tree heads, signing keys and event signatures, and the ledger's leaves for proofs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from circulith.errors import NotFound
from circulith.ledger.hashing import content_sha256, content_text
from circulith.ledger.merkle import leaf_hash
from circulith.store.models import EVENT_COLUMNS, Event, LedgerHead
from circulith.store.trust_models import EventSignature, SigningKey, TreeHead


def add_key(session: Session, *, key_id: str, org_id: str, public_key: str, created_at: str) -> None:
    """Publish an organisation's new key; its previous active keys are retired from ``created_at`` on."""
    session.execute(update(SigningKey).where(SigningKey.org_id == org_id, SigningKey.retired_at.is_(None),
                                             SigningKey.revoked_at.is_(None)).values(retired_at=created_at))
    session.add(SigningKey(key_id=key_id, org_id=org_id, public_key=public_key, created_at=created_at))
    session.flush()


def revoke_key(session: Session, key_id: str, *, at: str, reason: str) -> SigningKey:
    """Mark a key revoked from ``at`` (signatures it made later are refused); history is kept."""
    key = session.get(SigningKey, key_id)
    if key is None:
        raise NotFound(f"no signing key '{key_id}'")
    if key.revoked_at is None:
        key.revoked_at, key.revocation_reason = at, reason
        session.flush()
    return key


def keys(session: Session, org_id: str | None = None) -> list[SigningKey]:
    """Every published key (of one organisation), oldest first, retired and revoked ones included."""
    stmt = select(SigningKey).order_by(SigningKey.created_at, SigningKey.key_id)
    if org_id is not None:
        stmt = stmt.where(SigningKey.org_id == org_id)
    return list(session.execute(stmt).scalars())


def active_key(session: Session, org_id: str) -> SigningKey | None:
    """The organisation's current key (neither retired nor revoked), if any."""
    return session.execute(
        select(SigningKey).where(SigningKey.org_id == org_id, SigningKey.retired_at.is_(None),
                                 SigningKey.revoked_at.is_(None)).order_by(SigningKey.created_at.desc())
    ).scalars().first()


def add_tree_head(session: Session, head: TreeHead) -> None:
    """Record an issued tree head (one per size: a second issue at the same size is not stored)."""
    if session.get(TreeHead, head.tree_size) is None:
        session.add(head)
        session.flush()


def tree_head(session: Session, tree_size: int | None = None) -> TreeHead:
    """The tree head issued at ``tree_size`` (default: the latest)."""
    if tree_size is None:
        head = session.execute(select(TreeHead).order_by(TreeHead.tree_size.desc()).limit(1)).scalars().first()
        if head is None:
            raise NotFound("no tree head has been issued yet: run 'circulith ledger checkpoint'")
        return head
    found = session.get(TreeHead, tree_size)
    if found is None:
        raise NotFound(f"no tree head was issued at size {tree_size}")
    return found


def tree_heads(session: Session) -> list[TreeHead]:
    """Every issued tree head, oldest first."""
    return list(session.execute(select(TreeHead).order_by(TreeHead.tree_size)).scalars())


def event_count(session: Session) -> int:
    """Number of stored events."""
    return int(session.execute(select(func.count()).select_from(Event)).scalar_one())


def stored_leaves(session: Session, upto: int | None = None) -> list[bytes]:
    """Leaf hashes (RFC 9162) of the stored events in global order, from their stored content digests."""
    stmt = select(Event.content_sha256).order_by(Event.global_seq)
    if upto is not None:
        stmt = stmt.where(Event.global_seq <= upto)
    return [leaf_hash(bytes.fromhex(d)) for d in session.execute(stmt).scalars()]


def recomputed_leaves(rows: Iterator[tuple]) -> Iterator[tuple[tuple, bytes]]:
    """Each event row (in :data:`EVENT_COLUMNS` order) with the leaf hash of its content digest *recomputed*."""
    for row in rows:
        gseq, bat, bseq, ev, kind, at, actor, site, payload = row[:9]
        digest = content_sha256(content_text(ev, bat, kind, at, actor, site, payload), bseq, gseq)
        yield row, leaf_hash(bytes.fromhex(digest))


def event_position(session: Session, event_id: str) -> tuple[int, str]:
    """Global sequence number and stored content digest of an event."""
    row = session.execute(select(Event.global_seq, Event.content_sha256).where(Event.event_id == event_id)).one_or_none()
    if row is None:
        raise NotFound(f"no event '{event_id}'")
    return int(row[0]), str(row[1])


def events_at(session: Session, seqs: Sequence[int]) -> dict[int, tuple]:
    """Stored event rows by global sequence number."""
    if not seqs:
        return {}
    cols = [getattr(Event, c) for c in EVENT_COLUMNS]
    return {int(r[0]): tuple(r) for r in session.execute(select(*cols).where(Event.global_seq.in_(list(seqs))))}


def add_event_signatures(session: Session, rows: Sequence[dict[str, str]]) -> None:
    """Store events' signatures (``event_id``, ``key_id``, ``jws``)."""
    if rows:
        session.execute(insert(EventSignature), list(rows))


def event_signatures(session: Session) -> dict[str, tuple[str, str]]:
    """Every stored event signature: event ID to (key ID, JWS)."""
    return {r[0]: (r[1], r[2]) for r in
            session.execute(select(EventSignature.event_id, EventSignature.key_id, EventSignature.jws))}


def signed_event_ids(session: Session) -> set[str]:
    """IDs of the events that already carry a signature."""
    return set(session.execute(select(EventSignature.event_id)).scalars())


def event_rows_for_signing(session: Session, battery_id: str | None = None) -> Iterator[tuple]:
    """Events as the first nine :data:`EVENT_COLUMNS`, in ledger order (one battery's, in chain order, if given)."""
    cols = [getattr(Event, c) for c in EVENT_COLUMNS[:9]]
    stmt = select(*cols)
    stmt = (stmt.where(Event.battery_id == battery_id).order_by(Event.battery_seq) if battery_id is not None
            else stmt.order_by(Event.global_seq))
    for row in session.execute(stmt):
        yield tuple(row)


def ledger_head(session: Session) -> tuple[int, str]:
    """The ledger head: (global sequence, global chain digest)."""
    seq, sha = session.execute(select(LedgerHead.global_seq, LedgerHead.global_chain_sha256)).one()
    return int(seq), str(sha)
