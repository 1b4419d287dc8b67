"""The access log as evidence: each entry's digest covers its content and the previous entry's digest.

Like the ledger (:mod:`circulith.ledger.hashing`), an entry's SHA-256 digest is taken over a
canonical text of the entry and the digest of the entry before it, and the log's head stores the
last entry's ID and digest. Editing an entry changes its digest, deleting one breaks the link of
the next, deleting the newest ones leaves the head pointing at an entry that is gone: each is
found by :func:`verify_access_chain`. Pure functions: storage lives in :mod:`circulith.store`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from circulith.ledger.hashing import canonical_json

GENESIS_SHA256 = "0" * 64
"""The "previous digest" of the first entry."""
ENTRY_FIELDS = ("entry_id", "at", "org_id", "user_id", "key_id", "battery_id", "audience", "action", "ground")
"""What an entry's digest covers, besides the previous digest."""


def entry_digest(prev_sha256: str, entry: dict[str, object]) -> str:
    """SHA-256 (hex) of an access-log entry chained to the previous digest."""
    body = {k: entry.get(k) for k in ENTRY_FIELDS}
    text = f"{prev_sha256}\n{canonical_json(body)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AccessLogFinding:
    """One break in the access log's chain."""

    entry_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"access-log entry {self.entry_id}" if self.entry_id is not None else "access-log head"
        return f"{where}: {self.problem}"


def verify_access_chain(entries: Iterable[dict[str, object]], head_entry_id: int, head_sha256: str,
                        *, max_findings: int = 100) -> tuple[int, list[AccessLogFinding]]:
    """Check every entry's digest and link, and the head; returns (entries checked, findings).

    Parameters
    ----------
    entries : iterable of dict
        Every entry in ``entry_id`` order, with :data:`ENTRY_FIELDS`, ``prev_sha256`` and ``entry_sha256``.
    head_entry_id, head_sha256 : int, str
        The stored head (last entry's ID and digest; 0 and :data:`GENESIS_SHA256` for an empty log).
    """
    findings: list[AccessLogFinding] = []
    prev, last_id, n = GENESIS_SHA256, 0, 0
    for e in entries:
        n += 1
        eid = int(e["entry_id"])  # type: ignore[call-overload]
        if e.get("prev_sha256") != prev:
            findings.append(AccessLogFinding(eid, "does not link to the entry before it (an entry was deleted "
                                                  "or reordered)"))
        if entry_digest(str(e.get("prev_sha256")), e) != e.get("entry_sha256"):
            findings.append(AccessLogFinding(eid, "content does not match its digest (the entry was edited)"))
        prev, last_id = str(e.get("entry_sha256")), eid
        if len(findings) >= max_findings:
            return n, findings
    if (last_id, prev) != (head_entry_id, head_sha256):
        findings.append(AccessLogFinding(None, f"head names entry {head_entry_id} but the log ends at entry "
                                               f"{last_id} (entries were deleted or the head was altered)"))
    return n, findings
