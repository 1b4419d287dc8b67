"""Traceability submissions: uploads to a national traceability platform, recorded so "late" is a fact.

Only storage and queries; the obligations (which events, how many working days) are
:mod:`circulith.recovery.traceability_rules`. Every function runs in the caller's session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from circulith.recovery.traceability_rules import add_working_days
from circulith.store.ledger_store import chunks
from circulith.store.lot_models import TraceabilitySubmission, TraceabilitySubmissionEvent
from circulith.store.models import Event, Organisation


@dataclass(frozen=True)
class LateReporter:
    """An operator's traceability record for a year: events due, uploaded late, and overdue (not uploaded)."""

    org_id: str
    events_due: int
    submitted_on_time: int
    submitted_late: int
    overdue: int


def insert_submission(session: Session, *, submission_id: str, org_id: str, submitted_on: dt.date,
                      recorded_at: str, user_id: str | None, platform_reference: str | None,
                      event_ids: Iterable[str]) -> None:
    """Append one submission and the events it reported."""
    session.execute(insert(TraceabilitySubmission), [{
        "submission_id": submission_id, "org_id": org_id, "submitted_on": submitted_on, "recorded_at": recorded_at,
        "user_id": user_id, "platform_reference": platform_reference}])
    rows = [{"submission_id": submission_id, "event_id": e} for e in dict.fromkeys(event_ids)]
    if rows:
        session.execute(insert(TraceabilitySubmissionEvent), rows)


def first_submissions(session: Session, event_ids: Iterable[str]) -> dict[str, dt.date]:
    """Event ID → the date it was first reported (events never reported are absent)."""
    out: dict[str, dt.date] = {}
    for part in chunks(list(dict.fromkeys(event_ids))):
        stmt = (select(TraceabilitySubmissionEvent.event_id, func.min(TraceabilitySubmission.submitted_on))
                .join(TraceabilitySubmission,
                      TraceabilitySubmission.submission_id == TraceabilitySubmissionEvent.submission_id)
                .where(TraceabilitySubmissionEvent.event_id.in_(part))
                .group_by(TraceabilitySubmissionEvent.event_id))
        out.update((e, d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))) for e, d in session.execute(stmt))
    return out


def events_of(session: Session, event_ids: Iterable[str]) -> dict[str, tuple[str, str, str, str]]:
    """Event ID → (kind, occurred_at, actor_org_id, actor role) for the recorded ones."""
    out: dict[str, tuple[str, str, str, str]] = {}
    for part in chunks(list(dict.fromkeys(event_ids))):
        for eid, kind, at, actor, role in session.execute(
                select(Event.event_id, Event.kind, Event.occurred_at, Event.actor_org_id, Organisation.role)
                .join(Organisation, Organisation.org_id == Event.actor_org_id).where(Event.event_id.in_(part))):
            out[eid] = (kind, at, actor, role)
    return out


def late_reporters(session: Session, year: int, working_days: Mapping[tuple[str, str], int], *,
                   as_of: dt.date, region: str | None = None) -> list[LateReporter]:
    """Each operator's traceability record for a year, from the recorded submissions.

    Parameters
    ----------
    session : Session
        An open session.
    year : int
        Events that occurred in this calendar year (UTC).
    working_days : mapping
        (operator role, event kind) → working days to upload
        (:func:`circulith.recovery.traceability_rules.rule_days`).
    as_of : date
        An event not reported by its deadline is overdue once ``as_of`` is past the deadline.
    region : str, optional
        Only batteries in this region (e.g. ``CN``).

    Returns
    -------
    list of LateReporter
        Operators with at least one event due, sorted by overdue then late, most first.
    """
    from circulith.store.models import Battery

    kinds = sorted({k for _, k in working_days})
    stmt = (select(Event.event_id, Event.kind, Event.occurred_at, Event.actor_org_id, Organisation.role)
            .join(Organisation, Organisation.org_id == Event.actor_org_id)
            .where(Event.kind.in_(kinds), Event.occurred_at >= f"{year}-01-01T00:00:00",
                   Event.occurred_at < f"{year + 1}-01-01T00:00:00"))
    if region:
        stmt = stmt.join(Battery, Battery.battery_id == Event.battery_id).where(Battery.region == region)
    due: list[tuple[str, str, dt.date]] = []
    for eid, kind, at, actor, role in session.execute(stmt):
        days = working_days.get((role, kind))
        if days is not None:
            due.append((eid, actor, add_working_days(dt.date.fromisoformat(at[:10]), days)))
    sent = first_submissions(session, [d[0] for d in due])
    tally: dict[str, list[int]] = {}
    for eid, actor, deadline in due:
        t = tally.setdefault(actor, [0, 0, 0, 0])
        t[0] += 1
        on = sent.get(eid)
        if on is None:
            t[3] += as_of > deadline
        elif on <= deadline:
            t[1] += 1
        else:
            t[2] += 1
    out = [LateReporter(org, *t) for org, t in tally.items()]
    return sorted(out, key=lambda r: (-r.overdue, -r.submitted_late, r.org_id))


def any_submission(session: Session) -> bool:
    """Whether any traceability submission is recorded."""
    from sqlalchemy import select

    from circulith.store.lot_models import TraceabilitySubmission

    return session.execute(select(TraceabilitySubmission.submission_id).limit(1)).first() is not None
