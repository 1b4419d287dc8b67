"""Traceability submissions: uploads to a national traceability platform, recorded so "late" is a fact.

Only storage and queries; the obligations (which events, how many working days) are
:mod:`circulith.recovery.traceability_rules`. Every function runs in the caller's session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, and_, func, insert, or_, select
from sqlalchemy.orm import Session

from circulith.recovery.traceability_rules import add_working_days
from circulith.store.ledger_store import chunks
from circulith.store.lot_models import TraceabilitySubmission, TraceabilitySubmissionEvent
from circulith.store.models import Battery, Event, Organisation

#: One obliged event: (event_id, battery_id, kind, occurred_at, actor_org_id, role, region, passport_id).
ObligedEvent = tuple[str, str, str, str, str, str, str | None, str]


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


def _obliged(columns: Select, year: int, obligations: Iterable[tuple[str, str]], *, org_id: str | None,
             region: str | Sequence[str] | None) -> Select:
    """Restrict ``columns`` to the year's events whose (operator role, kind) carries an obligation."""
    pairs = sorted(set(obligations))
    stmt = (columns.join(Organisation, Organisation.org_id == Event.actor_org_id)
            .join(Battery, Battery.battery_id == Event.battery_id)
            .where(Event.occurred_at >= f"{year}-01-01T00:00:00", Event.occurred_at < f"{year + 1}-01-01T00:00:00",
                   Event.kind.in_(sorted({k for _, k in pairs})),
                   or_(*(and_(Organisation.role == role, Event.kind == kind) for role, kind in pairs))))
    if org_id:
        stmt = stmt.where(Event.actor_org_id == org_id)
    if isinstance(region, str):
        stmt = stmt.where(Battery.region == region)
    elif region is not None:
        stmt = stmt.where(Battery.region.in_(list(region)))
    return stmt


def obliged_events(session: Session, year: int, obligations: Iterable[tuple[str, str]], *,
                   org_id: str | None = None, region: str | Sequence[str] | None = None, offset: int = 0,
                   limit: int | None = None) -> list[ObligedEvent]:
    """A page of the year's events that carry a reporting obligation, in ledger order.

    The page is taken over the obliged events themselves (an event of a reported kind recorded by an
    operator whose role has no obligation for it is not a row, so it never takes a place on a page).

    Parameters
    ----------
    session : Session
        An open session.
    year : int
        Events that occurred in this calendar year (UTC).
    obligations : iterable of (role, kind)
        The (operator role, event kind) pairs that must be reported.
    org_id : str, optional
        Only this operator's events.
    region : str or sequence of str, optional
        Only batteries in this region (or these regions).
    offset, limit : int
        The page (``limit`` None: every row from ``offset``).

    Returns
    -------
    list of ObligedEvent
        (event_id, battery_id, kind, occurred_at, actor_org_id, role, region, passport_id).
    """
    stmt = _obliged(select(Event.event_id, Event.battery_id, Event.kind, Event.occurred_at, Event.actor_org_id,
                           Organisation.role, Battery.region, Battery.passport_id),
                    year, obligations, org_id=org_id, region=region).order_by(Event.global_seq).offset(max(0, offset))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [tuple(r) for r in session.execute(stmt)]


def count_obliged_events(session: Session, year: int, obligations: Iterable[tuple[str, str]], *,
                         org_id: str | None = None, region: str | None = None) -> int:
    """How many of the year's events carry a reporting obligation (the rows of :func:`obliged_events`)."""
    stmt = _obliged(select(func.count()).select_from(Event), year, obligations, org_id=org_id, region=region)
    return int(session.execute(stmt).scalar_one())


def late_reporters(session: Session, year: int, working_days: Mapping[tuple[str, str], int], *,
                   as_of: dt.date, region: str | Sequence[str] | None = None) -> list[LateReporter]:
    """Each operator's traceability record for a year, from the recorded submissions.

    The same rows as :func:`obliged_events` (the traceability report's), tallied per operator.

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
    region : str or sequence of str, optional
        Only batteries in this region (e.g. ``CN``) or these regions.

    Returns
    -------
    list of LateReporter
        Operators with at least one event due, sorted by overdue then late, most first.
    """
    due: list[tuple[str, str, dt.date]] = []
    for eid, _bid, kind, at, actor, role, _reg, _pid in obliged_events(session, year, working_days, region=region):
        due.append((eid, actor, add_working_days(dt.date.fromisoformat(at[:10]), working_days[(role, kind)])))
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
    return session.execute(select(TraceabilitySubmission.submission_id).limit(1)).first() is not None
