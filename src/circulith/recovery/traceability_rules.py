"""China's traceability reporting obligations: which events an operator must upload, and by when (pure).

The deadlines of the MIIT Interim Provisions (2018) mapped to our ledger events, and the working-day
arithmetic. Used by the traceability report and by the store's query of late reporters.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


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


def rule_days() -> dict[tuple[str, str], int]:
    """(role, event kind) → working days to upload."""
    return {(r.role, r.kind): r.working_days for r in TRACEABILITY_RULES}
