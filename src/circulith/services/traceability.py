"""China-bound traceability: the year's events that carry an upload obligation, with their deadlines.

Authorities (notified bodies, market surveillance), the Commission and the registry operator read every
operator's events; an operator reads its own. The report pages (``offset``, ``limit``) and says how many rows there are, so a
table never stops silently.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import Principal, Role, Scope
from circulith.errors import InvalidInput, Problem
from circulith.ledger.events import format_timestamp
from circulith.recovery.traceability_rules import (
    TRACEABILITY_RULES,
    TRACEABILITY_SOURCE,
    TraceabilityRule,
    add_working_days,
    rule_days,
)
from circulith.services.access_rules import require_scope
from circulith.services.compliance import COMPLIANCE_READERS
from circulith.store.traceability_repo import (
    count_obliged_events,
    events_of,
    first_submissions,
    insert_submission,
    late_reporters,
    obliged_events,
)

#: Who reads every operator's traceability events (others read their own).
TRACEABILITY_READERS = COMPLIANCE_READERS | {Role.OPERATOR}
#: Most rows one page returns.
MAX_PAGE = 10_000


class TraceabilityRow(BaseModel):
    """One event with its reporting obligation and deadline."""

    event_id: str
    battery_id: str
    passport_id: str
    region: str | None
    kind: str
    occurred_at: str
    actor_org_id: str
    role: str
    obligation: str
    article: str
    working_days: int
    deadline: dt.date
    days_left: int
    submitted_on: dt.date | None = None
    status: str = Field(description="'on time' or 'late' (reported), 'overdue' (not reported, past its deadline) "
                                    "or 'due' (not reported yet, deadline ahead)")


class OperatorTally(BaseModel):
    """An operator's events on this page: reported late, and not reported past their deadline."""

    events: int
    past_deadline: int = Field(description="Not reported and past the deadline (overdue).")
    late: int = Field(0, description="Reported after the deadline.")


class SubmissionIn(BaseModel):
    """Events reported to the national traceability platform in one upload."""

    model_config = ConfigDict(extra="forbid")

    event_ids: list[str] = Field(min_length=1, max_length=100_000)
    submitted_on: dt.date
    platform_reference: str | None = Field(None, max_length=200, description="The platform's receipt number.")


class SubmissionOut(BaseModel):
    """A recorded submission."""

    submission_id: str
    org_id: str
    submitted_on: dt.date
    recorded_at: str
    events: int
    already_reported: int = Field(description="Events of the upload reported before (kept with their first date).")
    late: int


class LateReporterOut(BaseModel):
    """An operator's traceability record for a year."""

    org_id: str
    events_due: int
    submitted_on_time: int
    submitted_late: int
    overdue: int


class LateReport(BaseModel):
    """Every operator's traceability record for a year, worst first."""

    year: int
    as_of: dt.date
    region: str | None
    operators: list[LateReporterOut]


class TraceabilityReport(BaseModel):
    """A page of the year's traceability events with their deadlines."""

    year: int
    as_of: dt.date
    org_id: str | None
    region: str | None
    deadline_rule: str
    source: str
    rules: list[TraceabilityRule]
    offset: int
    limit: int
    returned: int
    total: int = Field(description="Rows of the whole report (every page).")
    truncated: bool
    by_operator: dict[str, OperatorTally]
    events: list[TraceabilityRow]
    note: str


def traceability_report(session: Session, principal: Principal, year: int, *, org_id: str | None = None,
                        region: str | None = None, as_of: dt.date | None = None, offset: int = 0,
                        limit: int = 1000) -> TraceabilityReport:
    """A page of the year's events that carry a Chinese traceability reporting obligation, with deadlines.

    Parameters
    ----------
    session : Session
        An open session on the registry.
    principal : Principal
        Authorities and the Commission: any operator; others: their own events only.
    year : int
        Events that occurred in this calendar year (UTC).
    org_id : str, optional
        Only this operator's events.
    region : str, optional
        Only batteries in this region (e.g. ``CN``).
    as_of : date, optional
        For ``days_left`` (default today).
    offset, limit : int
        The page (at most :data:`MAX_PAGE` rows), taken over the report's rows (the events that carry
        an obligation); ``total`` counts every row and ``truncated`` says whether more rows follow.
    """
    require_scope(principal, Scope.READ)
    if principal.role not in TRACEABILITY_READERS:
        org_id = principal.org_id
    as_of = as_of or dt.date.today()
    limit = max(1, min(limit, MAX_PAGE))
    rules = {(r.role, r.kind): r for r in TRACEABILITY_RULES}
    offset = max(0, offset)
    rows: list[TraceabilityRow] = []
    raw = obliged_events(session, year, rules, org_id=org_id, region=region, offset=offset, limit=limit + 1)
    total = (offset + len(raw) if 0 < len(raw) <= limit or (offset == 0 and not raw)
             else count_obliged_events(session, year, rules, org_id=org_id, region=region))
    sent = first_submissions(session, [r[0] for r in raw[:limit]])
    for eid, bid, kind, at, actor, role, reg, pid in raw[:limit]:
        rule = rules[(role, kind)]
        due = add_working_days(dt.date.fromisoformat(at[:10]), rule.working_days)
        on = sent.get(eid)
        status = (("on time" if on <= due else "late") if on is not None
                  else ("overdue" if as_of > due else "due"))
        rows.append(TraceabilityRow(event_id=eid, battery_id=bid, passport_id=pid, region=reg, kind=kind,
                                    occurred_at=at, actor_org_id=actor, role=role, obligation=rule.obligation,
                                    article=rule.article, working_days=rule.working_days, deadline=due,
                                    days_left=(due - as_of).days, submitted_on=on, status=status))
    by_org: dict[str, OperatorTally] = {}
    for r in rows:
        o = by_org.setdefault(r.actor_org_id, OperatorTally(events=0, past_deadline=0, late=0))
        o.events += 1
        o.past_deadline += r.status == "overdue"
        o.late += r.status == "late"
    return TraceabilityReport(
        year=year, as_of=as_of, org_id=org_id, region=region,
        deadline_rule="upload within N working days of the event (Mon-Fri; public holidays not modelled, so "
                      "deadlines shown may be slightly early)",
        source=TRACEABILITY_SOURCE, rules=list(TRACEABILITY_RULES), offset=offset, limit=limit,
        returned=len(rows), total=total, truncated=len(raw) > limit, by_operator=by_org, events=rows,
        note="'status' compares the deadline with the first recorded submission of the event (circulith "
             "compliance traceability-submit); 'overdue': not reported and past its deadline on as_of.",
    )


def submit_traceability(session: Session, principal: Principal, body: SubmissionIn, *,
                        now: dt.datetime | None = None) -> SubmissionOut:
    """Record an upload of the caller's own events to the national platform (what, when, by whom).

    Every event must be the caller's organisation's and carry a reporting obligation; an event reported
    before keeps its first date (re-submitting duplicates nothing).
    """
    require_scope(principal, Scope.WRITE)
    now = now or dt.datetime.now(dt.UTC)
    if body.submitted_on > now.date():
        raise InvalidInput(Problem(None, "submitted_on", f"{body.submitted_on} is in the future"))
    days = rule_days()
    found = events_of(session, body.event_ids)
    problems = []
    for n, eid in enumerate(body.event_ids, start=1):
        ev = found.get(eid)
        if ev is None:
            problems.append(Problem(n, "event_ids", f"no event '{eid}' is recorded", eid))
        elif ev[2] != principal.org_id:
            problems.append(Problem(n, "event_ids", f"event '{eid}' was recorded by '{ev[2]}', not by your "
                                    "organisation", eid))
        elif (ev[3], ev[0]) not in days:
            problems.append(Problem(n, "event_ids", f"event '{eid}' ({ev[0]} by a {ev[3]}) carries no reporting "
                                    "obligation", eid))
        elif body.submitted_on < dt.date.fromisoformat(ev[1][:10]):
            problems.append(Problem(n, "submitted_on", f"event '{eid}' occurred after {body.submitted_on}", eid))
    if problems:
        raise InvalidInput(problems, source="traceability submission")
    before = first_submissions(session, body.event_ids)
    new = [e for e in dict.fromkeys(body.event_ids) if e not in before]
    late = sum(body.submitted_on > add_working_days(dt.date.fromisoformat(found[e][1][:10]),
                                                    days[(found[e][3], found[e][0])]) for e in new)
    sid = uuid.uuid4().hex
    insert_submission(session, submission_id=sid, org_id=principal.org_id or "", submitted_on=body.submitted_on,
                      recorded_at=format_timestamp(now), user_id=principal.user_id,
                      platform_reference=body.platform_reference, event_ids=new)
    return SubmissionOut(submission_id=sid, org_id=principal.org_id or "", submitted_on=body.submitted_on,
                         recorded_at=format_timestamp(now), events=len(new),
                         already_reported=len(set(body.event_ids)) - len(new), late=late)


def late_reporters_in(session: Session, year: int, *, as_of: dt.date,
                      regions: str | Sequence[str] | None = None) -> list[LateReporterOut]:
    """Each operator's record for the year: the one computation behind ``compliance late`` and the national view.

    An event that carries an obligation is reported on time or late when a submission of it is recorded,
    and overdue when none is and its deadline is past on ``as_of`` (with no submission recorded at all,
    every event past its deadline is overdue).

    Parameters
    ----------
    session : Session
        An open session.
    year : int
        Events that occurred in this calendar year (UTC).
    as_of : date
        The day the deadlines are compared with.
    regions : str or sequence of str, optional
        Only batteries in this region or these regions (None: every region).
    """
    rows = late_reporters(session, year, rule_days(), as_of=as_of, region=regions)
    return [LateReporterOut(**r.__dict__) for r in rows]


def late_report(session: Session, principal: Principal, year: int, *, as_of: dt.date | None = None,
                region: str | None = None) -> LateReport:
    """Every operator's traceability record for a year (authorities, the Commission, the registry operator)."""
    require_scope(principal, Scope.READ)
    if principal.role not in TRACEABILITY_READERS:
        raise AccessDenied("only authorities, the Commission and the registry operator see every operator's record")
    as_of = as_of or dt.date.today()
    return LateReport(year=year, as_of=as_of, region=region,
                      operators=late_reporters_in(session, year, as_of=as_of, regions=region))
