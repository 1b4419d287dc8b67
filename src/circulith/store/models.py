"""Table definitions (SQLAlchemy 2 typed ORM)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SHA = String(64)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Organisation(Base):
    """A party of the chain (OEM, battery maker, dismantler, recycler, authority, ...)."""

    __tablename__ = "organisations"

    org_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(40), index=True)
    country: Mapped[str | None] = mapped_column(String(2))


class Battery(Base):
    """One battery (pack, module or cell) and its current passport document.

    Hot attributes are columns (for filters and indexes). The passport is split in two: the
    static ``document`` (canonical JSON of everything but ``status`` and ``dynamic``, written once
    at registration; ``document_sha256`` is its digest) and ``dynamic_json``, the dynamic
    condition values that ledger events keep current. ``lifecycle_state``, custody and the chain
    tip are maintained by the ledger too.
    """

    __tablename__ = "batteries"

    battery_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    passport_id: Mapped[str] = mapped_column(String(300), unique=True)
    level: Mapped[str] = mapped_column(String(8))
    parent_battery_id: Mapped[str | None] = mapped_column(String(300), ForeignKey("batteries.battery_id"), index=True)
    predecessor_passport_id: Mapped[str | None] = mapped_column(String(300), index=True)
    category: Mapped[str] = mapped_column(String(16))
    chemistry: Mapped[str] = mapped_column(String(16), index=True)
    model: Mapped[str] = mapped_column(String(200))
    manufacturer_id: Mapped[str] = mapped_column(String(120), index=True)
    manufacturing_date: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(16), index=True)
    lifecycle_state: Mapped[str] = mapped_column(String(16), index=True)
    region: Mapped[str | None] = mapped_column(String(8), index=True)
    custodian_org_id: Mapped[str | None] = mapped_column(String(120), index=True)
    custody_site_id: Mapped[str | None] = mapped_column(String(120))
    mass_kg: Mapped[float] = mapped_column(Float)
    rated_energy_kwh: Mapped[float] = mapped_column(Float)
    soh_pct: Mapped[float | None] = mapped_column(Float)
    document: Mapped[str] = mapped_column(Text)
    dynamic_json: Mapped[str] = mapped_column(Text)
    document_sha256: Mapped[str] = mapped_column(SHA)
    registered_sha256: Mapped[str] = mapped_column(SHA)
    registered_at: Mapped[str] = mapped_column(String(27))
    updated_at: Mapped[str] = mapped_column(String(27))
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_chain_sha256: Mapped[str] = mapped_column(SHA)
    last_occurred_at: Mapped[str] = mapped_column(String(27))

    __table_args__ = (Index("ix_batteries_level_state", "level", "lifecycle_state"),)


class Identifier(Base):
    """Every identifier ever given to a battery, in canonical form. Never reused."""

    __tablename__ = "identifiers"

    identifier: Mapped[str] = mapped_column(String(300), primary_key=True)
    battery_id: Mapped[str] = mapped_column(String(300), ForeignKey("batteries.battery_id"), index=True)
    scheme: Mapped[str] = mapped_column(String(16))


class Event(Base):
    """One lifecycle event, chained (see :mod:`circulith.ledger.hashing`). Append-only.

    The primary key leads with ``battery_id`` so that the table can be hash-partitioned by
    battery (PostgreSQL declarative partitioning); ``global_seq`` orders the global chain.
    """

    __tablename__ = "events"

    battery_id: Mapped[str] = mapped_column(String(300), ForeignKey("batteries.battery_id"), primary_key=True)
    battery_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    global_seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[str] = mapped_column(String(27))
    actor_org_id: Mapped[str] = mapped_column(String(120))
    site_id: Mapped[str | None] = mapped_column(String(120))
    payload_json: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(SHA)
    battery_prev_sha256: Mapped[str] = mapped_column(SHA)
    battery_chain_sha256: Mapped[str] = mapped_column(SHA)
    global_prev_sha256: Mapped[str] = mapped_column(SHA)
    global_chain_sha256: Mapped[str] = mapped_column(SHA)

    __table_args__ = (Index("ix_events_kind_occurred", "kind", "occurred_at"),)


class LedgerHead(Base):
    """The tip of the global chain (one row). Locked by every append, so appends serialise."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    global_seq: Mapped[int] = mapped_column(BigInteger)
    global_chain_sha256: Mapped[str] = mapped_column(SHA)


EVENT_COLUMNS = (
    "global_seq", "battery_id", "battery_seq", "event_id", "kind", "occurred_at", "actor_org_id", "site_id",
    "payload_json", "content_sha256", "battery_prev_sha256", "battery_chain_sha256", "global_prev_sha256",
    "global_chain_sha256",
)
"""Event columns in the field order of :class:`circulith.ledger.verify.StoredEvent`."""
