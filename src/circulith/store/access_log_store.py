"""The chained access log in storage: appending entries under the head's lock, verifying the chain.

An append takes the head row's lock first (``UPDATE ... RETURNING`` reserves the next entry IDs on
SQLite and PostgreSQL alike), chains the entries (:func:`circulith.ledger.access_chain.entry_digest`),
inserts them and moves the head, all in one transaction: concurrent readers queue on the head,
never fork the chain. A read served from an autocommit session gets its own short transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from circulith.ledger.access_chain import GENESIS_SHA256, AccessLogFinding, entry_digest, verify_access_chain
from circulith.store.platform_models import AccessLogEntry, AccessLogHead

_COLUMNS = ("entry_id", "at", "org_id", "user_id", "key_id", "battery_id", "audience", "action", "ground",
            "prev_sha256", "entry_sha256")


@contextmanager
def _unit(session: Session) -> Iterator[Connection]:
    """The session's connection inside a transaction: the caller's, or (autocommit session) a short one of its own.

    The short transaction runs on the same connection (no second pool checkout); on SQLite it is
    ``BEGIN IMMEDIATE``, so the head is read under the write lock.
    """
    conn = session.connection()
    if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        yield conn
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.dialect.name == "sqlite" else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.exec_driver_sql("ROLLBACK")
        raise
    conn.exec_driver_sql("COMMIT")


def append_entries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Chain and insert access-log entries (``at, org_id, user_id, key_id, battery_id, audience, action, ground``)."""
    if not rows:
        return
    n = len(rows)
    with _unit(session) as conn:
        head = conn.execute(update(AccessLogHead).where(AccessLogHead.id == 1)
                            .values(entry_id=AccessLogHead.entry_id + n)
                            .returning(AccessLogHead.entry_id, AccessLogHead.sha256)).one_or_none()
        if head is None:  # a database migrated before the head existed is chained from its first entry
            raise RuntimeError("the access-log head is missing: run 'circulith db upgrade'")
        first, prev = int(head[0]) - n + 1, str(head[1])
        chained = []
        for i, r in enumerate(rows):
            entry = {k: r.get(k) for k in _COLUMNS[:9]} | {"entry_id": first + i}
            digest = entry_digest(prev, entry)
            chained.append(entry | {"prev_sha256": prev, "entry_sha256": digest})
            prev = digest
        conn.execute(insert(AccessLogEntry), chained)
        conn.execute(update(AccessLogHead).where(AccessLogHead.id == 1).values(sha256=prev))


@dataclass
class AccessLogReport:
    """Outcome of verifying the access log."""

    entries_checked: int = 0
    findings: list[AccessLogFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether no break was found."""
        return not self.findings


def verify_access_log(session: Session, *, max_findings: int = 100, batch: int = 10_000) -> AccessLogReport:
    """Verify every access-log entry's digest and link, and the head (see :mod:`circulith.ledger.access_chain`)."""
    head = session.execute(select(AccessLogHead.entry_id, AccessLogHead.sha256)
                           .where(AccessLogHead.id == 1)).one_or_none()
    head_id, head_sha = (int(head[0]), str(head[1])) if head else (0, GENESIS_SHA256)
    cols = [getattr(AccessLogEntry, c) for c in _COLUMNS]

    def entries() -> Iterator[dict[str, Any]]:
        after = -1
        while True:
            part = session.execute(select(*cols).where(AccessLogEntry.entry_id > after)
                                   .order_by(AccessLogEntry.entry_id).limit(batch)).all()
            if not part:
                return
            for r in part:
                yield dict(zip(_COLUMNS, r, strict=True))
            after = int(part[-1][0])

    n, findings = verify_access_chain(entries(), head_id, head_sha, max_findings=max_findings)
    if head is None:
        findings.insert(0, AccessLogFinding(None, "the head row is missing"))
    return AccessLogReport(n, findings)
