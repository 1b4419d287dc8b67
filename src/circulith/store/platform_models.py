"""Tables of the platform: users, browser sessions, API keys, access grants and the access log.

They share :class:`circulith.store.models.Base`, so one metadata describes the whole schema
(migration ``0002_platform``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from circulith.store.models import SHA, Base


class User(Base):
    """A person of an organisation who logs in to the dashboard or owns API keys."""

    __tablename__ = "users"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    org_id: Mapped[str] = mapped_column(String(120), ForeignKey("organisations.org_id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[str] = mapped_column(String(27))


class WebSession(Base):
    """A browser session; only the SHA-256 of its token is stored."""

    __tablename__ = "web_sessions"

    token_sha256: Mapped[str] = mapped_column(SHA, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), ForeignKey("users.user_id"), index=True)
    created_at: Mapped[str] = mapped_column(String(27))
    expires_at: Mapped[str] = mapped_column(String(27))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiKey(Base):
    """A machine client's key: ``clk_<key_id>_<secret>``, stored as its SHA-256 only."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    key_sha256: Mapped[str] = mapped_column(SHA)
    org_id: Mapped[str] = mapped_column(String(120), ForeignKey("organisations.org_id"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("users.user_id"))
    name: Mapped[str] = mapped_column(String(120))
    scopes: Mapped[str] = mapped_column(String(120))  # space-separated
    created_at: Mapped[str] = mapped_column(String(27))
    expires_at: Mapped[str] = mapped_column(String(27))
    revoked_at: Mapped[str | None] = mapped_column(String(27))
    last_used_at: Mapped[str | None] = mapped_column(String(27))


class AccessGrant(Base):
    """A legitimate-interest request for one battery's restricted data, and its decision."""

    __tablename__ = "access_grants"

    grant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(120), ForeignKey("organisations.org_id"), index=True)
    battery_id: Mapped[str] = mapped_column(String(300), ForeignKey("batteries.battery_id"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    justification: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)  # requested | approved | refused | revoked
    requested_by: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[str] = mapped_column(String(27))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[str | None] = mapped_column(String(27))
    decision_note: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[str | None] = mapped_column(String(27))
    # One request over a set of batteries is one row per battery sharing ``request_id`` (migration 0004):
    request_id: Mapped[str | None] = mapped_column(String(36), index=True)
    owner_org_id: Mapped[str | None] = mapped_column(String(120))  # whose data: the battery's manufacturer
    decided_by_org_id: Mapped[str | None] = mapped_column(String(120))

    __table_args__ = (Index("ix_access_grants_org_battery", "org_id", "battery_id", "status"),)


class AccessLogEntry(Base):
    """One read of non-public data: who read what, with which audience, and on what ground."""

    __tablename__ = "access_log"

    entry_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                          autoincrement=True)
    at: Mapped[str] = mapped_column(String(27), index=True)
    org_id: Mapped[str] = mapped_column(String(120), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(12))
    battery_id: Mapped[str] = mapped_column(String(300), index=True)
    audience: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(40))
    ground: Mapped[str] = mapped_column(String(60))
    prev_sha256: Mapped[str | None] = mapped_column(String(64))  # chained (migration 0004)
    entry_sha256: Mapped[str | None] = mapped_column(String(64))


class AccessLogHead(Base):
    """The access log's head: the last entry's ID and digest (one row, ``id`` 1)."""

    __tablename__ = "access_log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
