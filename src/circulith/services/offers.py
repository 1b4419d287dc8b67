"""A recycling offer a buyer can trust, from the grade output or any list of batteries.

The pricing engine is :func:`circulith.recovery.pricing.price_fleet`; this service feeds it what
intake and triage recorded: the passports' declared mass and chemistry (stated figures that
disagree, or break physical limits, are refused by row), the damage state of quarantined batteries
(handling cost lines from :mod:`circulith.recovery.handling_costs`, deducted line by line), and a
warning when the newest price is older than the configured age (a current price file can be loaded).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from circulith.auth.policy import Principal, Role
from circulith.errors import InvalidInput, NotFound, Problem
from circulith.recovery.handling_costs import handling_lines, plausibility_problems, price_age_warning
from circulith.recovery.prices import PriceBook, default_price_book, latest_price_date, price_book_from_rows
from circulith.recovery.pricing import price_fleet
from circulith.services.intake import require_role
from circulith.store.database import transaction
from circulith.store.registry import get_battery
from circulith.store.triage_queries import declared_figures

OFFER_ROLES = frozenset({Role.OPERATOR, Role.RECYCLER, Role.DISMANTLER, Role.REFINER})
RECYCLING_GRADES = frozenset({"recycle", "quarantine"})
"""Grades whose units go to recycling (and are priced by default)."""


class HandlingLine(BaseModel):
    """One handling cost deducted from an offer."""

    item: str
    damage_state: str
    quantity: float
    unit: str
    rate: float
    cost_usd: float
    source: str


class OfferLine(BaseModel):
    """The offer for one battery, line by line [USD]."""

    battery_id: str
    chemistry: str
    form: str
    mass_kg: float
    damage_state: str
    best_route: str
    revenue_usd: float
    processing_cost_usd: float
    logistics_usd: float
    margin_usd: float
    handling: list[HandlingLine]
    handling_usd: float
    offer_usd: float = Field(description="Revenue - processing - logistics - margin - handling.")


class ExcludedUnit(BaseModel):
    """A battery left out of the offer, and why."""

    battery_id: str
    lifecycle_state: str
    reason: str


class OfferResult(BaseModel):
    """The offer for a consignment."""

    as_of: dt.date
    newest_price_date: dt.date
    warnings: list[str]
    lines: list[OfferLine]
    handling_usd_total: float
    offer_usd_total: float
    excluded: list[ExcludedUnit] = Field(default_factory=list,
                                         description="Batteries not priced: recycled, shredded or in a second life.")


NOT_OFFERED: dict[str, str] = {
    "recycled": "already recycled: its passport has ceased (Art. 77(8)); there is no battery left to offer for",
    "shredded": "already shredded: its material is in a black-mass lot (price the lot, not the battery)",
    "second_life": "in a second life (repurposed, reused or remanufactured): not for recycling",
}
"""Lifecycle states whose batteries are never priced for recycling, with the reason."""


def _offerable(battery_id: str, state: str, excluded: list[ExcludedUnit]) -> bool:
    """Whether a battery in ``state`` may be priced; if not, it is added to ``excluded`` with the reason."""
    why = NOT_OFFERED.get(state)
    if why is not None:
        excluded.append(ExcludedUnit(battery_id=battery_id, lifecycle_state=state, reason=why))
    return why is None


def _kept(frame: pd.DataFrame, keep: list[bool], excluded: list[ExcludedUnit]) -> pd.DataFrame:
    """The rows of ``frame`` still to price; refused in one line per battery when none is left."""
    if not any(keep):
        raise InvalidInput([Problem(None, "battery_id", x.reason, x.battery_id) for x in excluded][:20],
                           source="offer input")
    return frame[keep].reset_index(drop=True)


def load_price_file(path: Path) -> PriceBook:
    """The shipped prices extended by a current price file (columns of ``prices.csv``)."""
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(Problem(None, "", f"cannot read the price file ({exc})"), source=str(path)) from None
    return default_price_book().extend(price_book_from_rows(rows, source=str(path)))


def _to_price(units: pd.DataFrame, grades: Collection[str] | None) -> pd.DataFrame:
    """Rows to price: top-level units only (a pack's modules are in its price) of ``grades`` (None: all).

    Column ``_row`` keeps each row's 1-based position in ``units`` (its row in the input file).
    """
    df = units.copy()
    df["_row"] = range(1, len(df) + 1)
    if "battery_id" not in df and "identifier" in df:
        df["battery_id"] = df["identifier"]
    if "battery_id" not in df:
        raise InvalidInput(Problem(None, "battery_id", "required column missing"), source="offer input")
    if "parent_battery_id" in df:
        df = df[~df["parent_battery_id"].isin(set(df["battery_id"]))]
    if "grade" in df and grades is not None:
        df = df[df["grade"].isin(list(grades))]
    return df.reset_index(drop=True)


def _at_input_rows(problems: list[Problem], rows: pd.Series) -> list[Problem]:
    """``problems`` numbered by row of the priced table, renumbered by row of the input."""
    return [dataclasses.replace(p, row=int(rows.iloc[p.row - 1])) if p.row is not None else p for p in problems]


def recycling_offer(
    engine: Engine,
    principal: Principal,
    units: pd.DataFrame,
    *,
    as_of: dt.date | None = None,
    max_price_age_days: int | None = None,
    prices: PriceBook | None = None,
    logistics_usd_per_kg: float = 0.0,
    margin_fraction: float = 0.0,
    grades: Collection[str] | None = RECYCLING_GRADES,
    params: Mapping[str, Any] | None = None,
) -> OfferResult:
    """Price batteries for recycling with their handling costs; refuse implausible figures.

    Parameters
    ----------
    units : pandas.DataFrame
        The grade output (JSON units or CSV) or any table with ``battery_id``; optional stated
        ``mass_kg`` [kg], ``chemistry`` and ``form`` (default: the passport's).
    as_of : date, optional
        Offer date (default today): the price-age check compares it with the newest price.
    max_price_age_days : int, optional
        Price age that triggers the warning [days] (default ``offer_checks.toml``: 90).
    prices : PriceBook, optional
        Prices to use (default: the shipped ones; see :func:`load_price_file`).
    logistics_usd_per_kg : float
        Collection and transport [USD/kg].
    margin_fraction : float
        Recycler's margin [fraction of revenue].
    grades : collection of str, optional
        Grades of the units priced (default :data:`RECYCLING_GRADES`; None: every top-level unit).
    params : mapping, optional
        A plant's own route figures (:func:`circulith.recovery.routes.apply_overrides`).

    Problems name the row of ``units`` (the row in the input file) and the battery.
    """
    require_role(principal, OFFER_ROLES, "making recycling offers", write=False)
    frame = _to_price(units, grades)
    if frame.empty:
        what = "no unit" if grades is None else f"no battery graded {' or '.join(sorted(grades))}"
        raise InvalidInput(Problem(None, "grade", f"{what} to price"), source="offer input")
    with transaction(engine) as session:
        ids: list[str] = []
        problems: list[Problem] = []
        keep: list[bool] = []
        excluded: list[ExcludedUnit] = []
        for k, ident in enumerate(frame["battery_id"].astype(str), start=1):
            try:
                bat = get_battery(session, ident)
                keep.append(_offerable(bat.battery_id, bat.lifecycle_state, excluded))
                if keep[-1]:
                    ids.append(bat.battery_id)
            except (InvalidInput, NotFound) as exc:
                problems.append(Problem(k, "battery_id", f"not in the registry ({exc})", ident))
        if problems:
            raise InvalidInput(_at_input_rows(problems, frame["_row"]), source="offer input")
        declared = declared_figures(session, ids)
    frame = _kept(frame, keep, excluded)
    frame["battery_id"] = ids
    problems = plausibility_problems(frame, declared)
    if problems:
        raise InvalidInput(_at_input_rows(problems, frame["_row"]), source="offer input")
    dec = declared.set_index("battery_id")
    for col in ("chemistry", "mass_kg"):
        stated = frame[col] if col in frame else pd.Series(None, index=frame.index, dtype=object)
        frame[col] = stated.where(stated.notna(), frame["battery_id"].map(dec[col]))
    frame["form"] = frame.get("form", "pack")
    frame["damage_state"] = frame["battery_id"].map(dec["damage_state"])
    book = prices or default_price_book()
    day = as_of or dt.date.today()
    newest = latest_price_date(book)
    warnings = [w for w in [price_age_warning(newest, day, max_price_age_days)] if w]
    priced = price_fleet(frame[["battery_id", "chemistry", "form", "mass_kg"]], prices=book,
                         as_of=day, detail=False, params=params,
                         logistics_usd_per_kg=logistics_usd_per_kg, margin_fraction=margin_fraction)
    lines = handling_lines(frame)
    by_bat = dict(list(lines.groupby("battery_id")))
    out: list[OfferLine] = []
    for r, dmg in zip(priced.to_dict(orient="records"), frame["damage_state"], strict=True):
        hl = by_bat.get(r["battery_id"])
        handling = [] if hl is None else [HandlingLine.model_validate(x) for x in hl.to_dict(orient="records")]
        h_usd = round(sum(h.cost_usd for h in handling), 2)
        out.append(OfferLine(battery_id=r["battery_id"], chemistry=r["chemistry"], form=r["form"],
                             mass_kg=float(r["mass_kg"]), damage_state=str(dmg), best_route=str(r["best_route"]),
                             revenue_usd=round(float(r["revenue_usd"]), 2),
                             processing_cost_usd=round(float(r["processing_cost_usd"]), 2),
                             logistics_usd=round(float(r["logistics_usd"]), 2),
                             margin_usd=round(float(r["margin_usd"]), 2), handling=handling, handling_usd=h_usd,
                             offer_usd=round(float(r["offer_usd"]) - h_usd, 2)))
    warnings += [f"{x.battery_id} not priced: {x.reason}" for x in excluded]
    return OfferResult(as_of=day, newest_price_date=newest, warnings=warnings, lines=out,
                       handling_usd_total=round(sum(x.handling_usd for x in out), 2),
                       offer_usd_total=round(sum(x.offer_usd for x in out), 2), excluded=excluded)
