"""China-bound traceability: the year's events that carry an upload obligation, with their deadlines.

Authorities (notified bodies, market surveillance), the Commission and the registry operator read every
operator's events; an operator reads its own. The report pages (``offset``, ``limit``) and says how many rows there are, so a
table never stops silently.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from circulith.auth.policy import Principal, Role, Scope
from circulith.services.compliance import COMPLIANCE_READERS
from circulith.services.platform import _require_scope
from circulith.store.lot_repo import traceability_events

#: Who reads every operator's traceability events (others read their own).
TRACEABILITY_READERS = COMPLIANCE_READERS | {Role.OPERATOR}
#: Most rows one page returns.
MAX_PAGE = 10_000


class TraceabilityRule(BaseModel):
    """One reporting obligation: an event by an operator role, and the working days to upload it."""

    model_config = ConfigDict(frozen=True)

    role: str
    kind: str
    working_days: int
    obligation: str
    article: str


def _rule(role: str, kind: str, working_days: int, obligation: str, article: str) -> TraceabilityRule:
    return TraceabilityRule(role=role, kind=kind, working_days=working_days, obligation=obligation, article=article)


TRACEABILITY_SOURCE = (
    "MIIT, Interim Provisions on the Traceability Management of Recycling of New Energy Vehicle Power "
    "Batteries (新能源汽车动力蓄电池回收利用溯源管理暂行规定, MIIT announcement 2018 No. 35, in force 2018-08-01), "
    "issued under the Interim Measures for the Management of Recycling of NEV Power Batteries "
    "(工信部联节〔2018〕43号)"
)

#: Upload deadlines of the Interim Provisions (2018), Articles 10, 11, 13, 14 and 15, mapped to our events.
TRACEABILITY_RULES: tuple[TraceabilityRule, ...] = (
    _rule("oem", "repaired", 30, "battery repaired: vehicle maker uploads", "Art. 10"),
    _rule("oem", "module_replaced", 30, "battery replaced: vehicle maker uploads", "Art. 10"),
    _rule("oem", "collected", 30, "waste battery taken into storage by the maker's collection network",
           "Art. 11"),
    _rule("oem", "shipped", 30, "waste battery handed out of storage by the maker's network", "Art. 11"),
    _rule("dismantler", "removed", 15, "waste battery removed from a scrapped vehicle", "Art. 13"),
    _rule("dismantler", "collected", 15, "scrapped vehicle / battery received by the dismantler",
           "Art. 13"),
    _rule("dismantler", "shipped", 15, "waste battery handed out of storage by the dismantler", "Art. 13"),
    _rule("reuse_integrator", "received", 15, "waste battery taken into storage by a cascade-use firm",
           "Art. 14"),
    _rule("reuse_integrator", "repurposed", 15, "cascade-use battery product out of storage", "Art. 14"),
    _rule("reuse_integrator", "reused", 15, "cascade-use battery product out of storage", "Art. 14"),
    _rule("reuse_integrator", "remanufactured", 15, "cascade-use battery product out of storage",
           "Art. 14"),
    _rule("reuse_integrator", "shipped", 15, "waste battery handed out of storage by a cascade-use firm",
           "Art. 14"),
    _rule("recycler", "received", 30, "waste battery taken into storage by the recycler", "Art. 15"),
    _rule("recycler", "recycled", 30, "recycling and final treatment completed", "Art. 15"),
)


def add_working_days(day: dt.date, n: int) -> dt.date:
    """``day`` plus ``n`` working days, counting Monday to Friday only.

    Chinese public holidays (and the weekend days worked in exchange) are not modelled: around holidays
    the legal deadline is a few days later than this one, so this errs on the early side.
    """
    d = day
    left = n
    while left > 0:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            left -= 1
    return d


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


class OperatorTally(BaseModel):
    """An operator's events on this page and those past their deadline."""

    events: int
    past_deadline: int


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
        The page (at most :data:`MAX_PAGE` rows); ``truncated`` says whether more rows follow.
    """
    _require_scope(principal, Scope.READ)
    if principal.role not in TRACEABILITY_READERS:
        org_id = principal.org_id
    as_of = as_of or dt.date.today()
    limit = max(1, min(limit, MAX_PAGE))
    rules = {(r.role, r.kind): r for r in TRACEABILITY_RULES}
    kinds = sorted({r.kind for r in TRACEABILITY_RULES})
    rows: list[TraceabilityRow] = []
    raw = traceability_events(session, year, kinds, org_id=org_id, region=region, offset=max(0, offset),
                              limit=limit + 1)
    for eid, bid, kind, at, actor, role, reg, pid in raw[:limit]:
        rule = rules.get((role, kind))
        if rule is None:
            continue
        due = add_working_days(dt.date.fromisoformat(at[:10]), rule.working_days)
        rows.append(TraceabilityRow(event_id=eid, battery_id=bid, passport_id=pid, region=reg, kind=kind,
                                    occurred_at=at, actor_org_id=actor, role=role, obligation=rule.obligation,
                                    article=rule.article, working_days=rule.working_days, deadline=due,
                                    days_left=(due - as_of).days))
    by_org: dict[str, OperatorTally] = {}
    for r in rows:
        o = by_org.setdefault(r.actor_org_id, OperatorTally(events=0, past_deadline=0))
        o.events += 1
        o.past_deadline += r.days_left < 0
    return TraceabilityReport(
        year=year, as_of=as_of, org_id=org_id, region=region,
        deadline_rule="upload within N working days of the event (Mon-Fri; public holidays not modelled, so "
                      "deadlines shown may be slightly early)",
        source=TRACEABILITY_SOURCE, rules=list(TRACEABILITY_RULES), offset=max(0, offset), limit=limit,
        returned=len(rows), truncated=len(raw) > limit, by_operator=by_org, events=rows,
        note="'past_deadline' compares the deadline with as_of; the registry does not know whether the "
             "operator uploaded to the national platform.",
    )
