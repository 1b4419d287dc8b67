"""Tables of the ledger's outside anchors: signed tree heads and the organisations' signing keys."""

from __future__ import annotations

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from circulith.store.models import SHA, Base


class SigningKey(Base):
    """A public signing key of an organisation (Ed25519), kept for ever so old signatures stay checkable.

    A key is *active* until it is retired (rotated: a newer key signs from then on; what it signed
    before stays valid) or revoked (compromised: signatures made after ``revoked_at`` are refused).
    """

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(120), index=True)
    public_key: Mapped[str] = mapped_column(String(64))  # base64url of the 32-byte Ed25519 key
    created_at: Mapped[str] = mapped_column(String(27))
    retired_at: Mapped[str | None] = mapped_column(String(27))
    revoked_at: Mapped[str | None] = mapped_column(String(27))
    revocation_reason: Mapped[str | None] = mapped_column(String(300))


class TreeHead(Base):
    """A signed tree head: the Merkle root over the first ``tree_size`` events (RFC 9162), as issued."""

    __tablename__ = "tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    root_sha256: Mapped[str] = mapped_column(SHA)
    global_chain_sha256: Mapped[str] = mapped_column(SHA)
    issued_at: Mapped[str] = mapped_column(String(27))
    key_id: Mapped[str] = mapped_column(String(120))
    jws: Mapped[str] = mapped_column(Text)


class EventSignature(Base):
    """The signature of the organisation that recorded an event, over the event's content digest."""

    __tablename__ = "event_signatures"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(120), index=True)
    jws: Mapped[str] = mapped_column(Text)
