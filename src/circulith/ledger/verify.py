"""Verification of the ledger's hash chains over stored rows.

:func:`verify_chains` streams rows in global order and reports every event that was altered,
deleted, inserted or reordered directly in the database, by name. It keeps one small record per
battery (last sequence number and chain digest), so its memory grows with the number of
batteries, not events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from circulith.ledger.hashing import GENESIS_SHA256, json_string
from circulith.ledger.merkle import leaf_hash


@dataclass(frozen=True)
class StoredEvent:
    """An event row as stored, with its position and digests (see :mod:`circulith.ledger.hashing`)."""

    global_seq: int
    battery_id: str
    battery_seq: int
    event_id: str
    kind: str
    occurred_at: str
    actor_org_id: str
    site_id: str | None
    payload_json: str
    content_sha256: str
    battery_prev_sha256: str
    battery_chain_sha256: str
    global_prev_sha256: str
    global_chain_sha256: str


@dataclass(frozen=True)
class Finding:
    """One integrity failure, naming the event."""

    problem: str  # altered | deleted | inserted_or_reordered | head_mismatch | tip_mismatch
    global_seq: int | None
    event_id: str | None
    battery_id: str | None
    detail: str

    def __str__(self) -> str:
        who = f"event {self.event_id} (global #{self.global_seq}, battery {self.battery_id})"
        if self.event_id is None:
            who = f"global #{self.global_seq}" if self.global_seq is not None else "ledger"
        return f"{self.problem}: {who}: {self.detail}"


@dataclass
class VerificationReport:
    """Outcome of a verification pass."""

    events_checked: int = 0
    batteries_checked: int = 0
    head_global_seq: int = 0
    head_sha256: str = GENESIS_SHA256
    findings: list[Finding] = field(default_factory=list)
    truncated: bool = False
    verifier: str = "python"  # or "compiled" (circulith.store.native_verify), with why Python ran where it did

    @property
    def ok(self) -> bool:
        """True when no finding was made."""
        return not self.findings


def finding_adder(report: VerificationReport, max_findings: int
                  ) -> Callable[[str, int | None, str | None, str | None, str], None]:
    """A function that records a finding in ``report``, or marks it truncated beyond ``max_findings``."""
    findings = report.findings

    def add(problem: str, seq: int | None, ev: str | None, bat: str | None, detail: str) -> None:
        if len(findings) < max_findings:
            findings.append(Finding(problem, seq, ev, bat, detail))
        else:
            report.truncated = True

    return add


def verify_chains(
    rows: Iterable[tuple],
    *,
    expected_head: tuple[int, str] | None = None,
    expected_tips: Mapping[str, tuple[int, str]] | None = None,
    max_findings: int = 1000,
    leaves: list[bytes] | None = None,
    start: tuple[int, str] = (0, GENESIS_SHA256),
    initial_tips: Mapping[str, tuple[int, str]] | None = None,
) -> VerificationReport:
    """Verify both hash chains over rows given in ascending ``global_seq`` order.

    Parameters
    ----------
    rows : iterable of tuple
        Tuples in the field order of :class:`StoredEvent`, sorted by global sequence number.
    expected_head : (int, str) or None
        The ledger head recorded by the store (last global sequence number and digest). Detects
        deletion of the most recent events, which no later link would reveal.
    expected_tips : mapping or None
        Each battery's stored chain tip (battery ID to last battery sequence number and chain digest),
        compared with the tip its events end at: a tip that disagrees would chain the battery's next
        event onto a history that is not the stored one.
    max_findings : int
        Stop collecting findings after this many (the report says it was truncated).
    leaves : list or None
        When given, receives each event's RFC 9162 leaf hash over its *recomputed* content digest, in
        row order (for comparing the ledger with a checkpoint, :mod:`circulith.ledger.checkpoint`).
    start : (int, str)
        Global sequence number and chain digest the rows continue from (verification from a
        checkpoint: only the events after it are read).
    initial_tips : mapping or None
        Each battery's chain tip at ``start`` (for the batteries the rows touch).

    Returns
    -------
    VerificationReport
    """
    report = VerificationReport()
    batteries: dict[str, tuple[int, str]] = dict(initial_tips or {})
    prev_global_seq, prev_global = start

    add = finding_adder(report, max_findings)

    n = 0
    sha256 = hashlib.sha256
    quoted: dict[str, str] = {}  # JSON string literals of repeated fields (batteries, kinds, actors, sites)
    for row in rows:
        (gseq, bat, bseq, ev, kind, at, actor, site, payload, c_sha, b_prev, b_chain, g_prev, g_chain) = row
        n += 1
        try:
            # content_text and content_sha256 (circulith.ledger.hashing), inline, with the repeated literals remembered
            q_bat = quoted.get(bat) or quoted.setdefault(bat, json_string(bat))
            q_kind = quoted.get(kind) or quoted.setdefault(kind, json_string(kind))
            q_actor = quoted.get(actor) or quoted.setdefault(actor, json_string(actor))
            q_site = "null" if site is None else quoted.get(site) or quoted.setdefault(site, json_string(site))
            digest = sha256(
                f'{bseq}|{gseq}|{{"actor_org_id":{q_actor},"battery_id":{q_bat},"event_id":{json_string(ev)},'
                f'"kind":{q_kind},"occurred_at":{json_string(at)},"payload":{payload},"site_id":{q_site}}}'.encode()
            ).hexdigest()
            if leaves is not None:
                leaves.append(leaf_hash(bytes.fromhex(digest)))
            if digest != c_sha:
                add("altered", gseq, ev, bat, "stored content does not match its SHA-256 digest")
            # Global chain.
            if gseq != prev_global_seq + 1:
                if gseq > prev_global_seq + 1:
                    add("deleted", gseq, ev, bat,
                        f"global events #{prev_global_seq + 1}..#{gseq - 1} are missing before this one")
                else:
                    add("inserted_or_reordered", gseq, ev, bat, f"global sequence goes back from #{prev_global_seq}")
            elif g_prev != prev_global:  # (after a gap the broken link is its consequence, not news)
                add("inserted_or_reordered", gseq, ev, bat, "predecessor link does not match the previous event in the global chain")
            if sha256((g_prev + c_sha).encode("ascii")).hexdigest() != g_chain:  # chain_sha256, inline
                add("altered", gseq, ev, bat, "global chain digest does not match predecessor and content")
            prev_global_seq, prev_global = gseq, g_chain
            # Battery chain.
            last_seq, last_chain = batteries.get(bat, (0, GENESIS_SHA256))
            if bseq != last_seq + 1:
                if bseq > last_seq + 1:
                    add("deleted", gseq, ev, bat, f"battery events #{last_seq + 1}..#{bseq - 1} are missing before this one")
                else:
                    add("inserted_or_reordered", gseq, ev, bat,
                        f"battery sequence #{bseq} does not follow #{last_seq}")
            elif b_prev != last_chain:
                add("inserted_or_reordered", gseq, ev, bat, "predecessor link does not match the previous event of this battery")
            if sha256((b_prev + c_sha).encode("ascii")).hexdigest() != b_chain:
                add("altered", gseq, ev, bat, "battery chain digest does not match predecessor and content")
            batteries[bat] = (bseq, b_chain)
        except (TypeError, AttributeError, UnicodeError) as exc:  # a column of another type than the schema's
            add("altered", gseq if type(gseq) is int else None, ev if type(ev) is str else None,
                bat if type(bat) is str else None, f"the stored row cannot be read as an event ({exc})")

    report.events_checked = n
    close_report(report, batteries, (prev_global_seq, prev_global), add, expected_head=expected_head,
                 expected_tips=expected_tips)
    return report


def close_report(report: VerificationReport, batteries: Mapping[str, tuple[int, str]], end: tuple[int, str],
                 add: Callable[[str, int | None, str | None, str | None, str], None], *,
                 expected_head: tuple[int, str] | None, expected_tips: Mapping[str, tuple[int, str]] | None) -> None:
    """Finish a verification pass: the head and every battery's tip compared with where the events end.

    ``batteries`` maps each battery the events touched to its last sequence number and chain digest,
    ``end`` is the last global sequence number and digest reached; ``add`` records a finding.
    """
    prev_global_seq, prev_global = end
    report.batteries_checked = len(batteries)
    report.head_global_seq = prev_global_seq
    report.head_sha256 = prev_global
    if expected_head is not None:
        head_seq, head_sha = expected_head
        if head_seq != prev_global_seq or head_sha != prev_global:
            detail = (
                f"the recorded ledger head is #{head_seq} {head_sha[:12]}…, the events end at "
                f"#{prev_global_seq} {prev_global[:12]}…"
            )
            if head_seq > prev_global_seq:
                detail += f": events #{prev_global_seq + 1}..#{head_seq} were deleted"
            add("head_mismatch", head_seq, None, None, detail)
    if expected_tips is not None:
        for bat, (tip_seq, tip_sha) in expected_tips.items():
            last_seq, last_chain = batteries.get(bat, (0, GENESIS_SHA256))
            if (tip_seq, tip_sha) != (last_seq, last_chain):
                add("tip_mismatch", None, None, bat,
                    f"battery {bat}: the stored chain tip is #{tip_seq} {tip_sha[:12]}…, its events end at "
                    f"#{last_seq} {last_chain[:12]}…")
        for bat in batteries.keys() - expected_tips.keys():
            add("tip_mismatch", None, None, bat, f"battery {bat} has events but no stored record")
