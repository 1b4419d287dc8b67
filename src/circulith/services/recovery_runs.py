"""Recovery calculations: a lot through one route or every route, the value matrix, pricing batteries.

One function per use case, each taking the acting principal; the CLI (``circulith recovery run|compare|
price``), the API (``/api/v1/recovery/...``) and the dashboard call these and only format the result.
A price scenario is the shipped price book (or a plant's own prices replacing it series by series) as of
a date, with metal prices scaled by a multiplier.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd
from pydantic import BaseModel
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import Principal, Scope, is_restricted
from circulith.errors import InvalidInput, Problem
from circulith.recovery.compliance import Check, material_recovery_check
from circulith.recovery.composition import FORMS
from circulith.recovery.prices import PriceBook, default_price_book, latest_price_date
from circulith.recovery.pricing import DEFAULT_ROUTES, price_fleet, value_tables
from circulith.recovery.valuation import RecoveryResult, black_mass_value, evaluate, theoretical_metal_value
from circulith.services.access_rules import audiences, find_battery, log_seen, require_scope

#: Commodities the metal-price multiplier scales.
METAL_COMMODITIES = ("Al", "Co", "Cu", "Li2CO3", "Mn", "Ni")

Cell = str | float | int | bool | None


class RecoveryRun(RecoveryResult):
    """One route's products, recoveries, money, energy, emissions and water, with the EU recovery check."""

    metal_price_multiplier: float
    eu_material_recovery: list[Check]


class RouteLine(BaseModel):
    """One route in a comparison."""

    revenue_usd: float
    cost_usd: float
    net_usd: float
    energy_mj: float
    ghg_kg_co2e: float
    water_m3: float
    black_mass_kg: float
    element_recovery: dict[str, float]


class RouteComparison(BaseModel):
    """Every route side by side for one chemistry, form and mass."""

    chemistry: str
    form: str
    mass_kg: float
    price_date: dt.date
    metal_price_multiplier: float
    theoretical_metal_value_usd_per_t: dict[str, float]
    black_mass_value_usd_per_t: dict[str, float] | None = None
    routes: dict[str, RouteLine]


class ValueMatrix(BaseModel):
    """Net value of every route per chemistry [USD/t] under a price scenario."""

    form: str
    price_date: dt.date
    metal_price_multiplier: float
    routes: list[str]
    rows: list[dict[str, str | float]]
    prices_usd_per_kg: dict[str, dict[str, float]]


class PassportPrice(BaseModel):
    """A registered battery's best route and offer."""

    battery_id: str
    chemistry: str
    form: str
    mass_kg: float
    price_date: dt.date
    metal_price_multiplier: float
    best_route: str
    destination: str
    revenue_usd: float
    processing_cost_usd: float
    logistics_usd: float
    margin_usd: float
    offer_usd: float
    net_by_route_usd: dict[str, float]


class BatteriesPrice(BaseModel):
    """Batteries (a file or a lot) priced line by line, with totals."""

    price_date: dt.date
    totals: dict[str, float]
    batteries: list[dict[str, Cell]]


def price_scenario(price_date: dt.date | str | None = None, metal_price_multiplier: float = 1.0, *,
                   price_book: PriceBook | None = None) -> tuple[PriceBook, dt.date]:
    """A price book as of ``price_date`` (its latest if None) with metal prices scaled.

    ``price_book`` replaces the shipped prices series by series (a plant's own prices).
    """
    if not 0 < metal_price_multiplier <= 10:
        raise InvalidInput(Problem(None, "metal_price_multiplier", "must lie in (0, 10]"))
    book = default_price_book()
    if price_book is not None:
        book = book.replace_all(price_book)
    if metal_price_multiplier != 1.0:
        for c in METAL_COMMODITIES:
            book = book.scaled(c, metal_price_multiplier)
    if isinstance(price_date, str):
        try:
            price_date = dt.date.fromisoformat(price_date)
        except ValueError:
            raise InvalidInput(Problem(None, "price_date", f"'{price_date}' is not an ISO date (YYYY-MM-DD)")) from None
    as_of = price_date or latest_price_date(price_book if price_book is not None else book)
    return book, as_of


def price_dates() -> list[str]:
    """Dates of the shipped price observations (for the scenario switch)."""
    return sorted({o.date.isoformat() for o in default_price_book().observations})


def recovery_run(principal: Principal, *, chemistry: str, form: str, mass_kg: float, route: str,
                 price_date: dt.date | str | None = None, metal_price_multiplier: float = 1.0,
                 price_book: PriceBook | None = None, params: Mapping[str, Any] | None = None) -> RecoveryRun:
    """Run a lot through one route (any logged-in caller: a calculation on the caller's own inputs).

    ``params`` are a plant's own route figures (:func:`circulith.recovery.routes.apply_overrides`).
    """
    require_scope(principal, Scope.READ)
    book, as_of = price_scenario(price_date, metal_price_multiplier, price_book=price_book)
    res = evaluate(chemistry, form, mass_kg, route, prices=book, as_of=as_of, params=params)
    return RecoveryRun(**dict(res), metal_price_multiplier=metal_price_multiplier,
                       eu_material_recovery=material_recovery_check(res.element_recovery))


def recovery_compare(principal: Principal, *, chemistry: str, form: str, mass_kg: float,
                     price_date: dt.date | str | None = None, metal_price_multiplier: float = 1.0,
                     price_book: PriceBook | None = None, params: Mapping[str, Any] | None = None) -> RouteComparison:
    """Every route side by side for one chemistry, form and mass (black-mass value for cells and black mass)."""
    require_scope(principal, Scope.READ)
    book, as_of = price_scenario(price_date, metal_price_multiplier, price_book=price_book)
    lines = {}
    for r in DEFAULT_ROUTES:
        res = evaluate(chemistry, form, mass_kg, r, prices=book, as_of=as_of, params=params)
        lines[r] = RouteLine(**{k: getattr(res, k) for k in RouteLine.model_fields})
    return RouteComparison(
        chemistry=chemistry, form=form, mass_kg=mass_kg, price_date=as_of, metal_price_multiplier=metal_price_multiplier,
        theoretical_metal_value_usd_per_t=theoretical_metal_value(chemistry, form, prices=book, as_of=as_of),
        black_mass_value_usd_per_t=(black_mass_value(chemistry, prices=book, as_of=as_of)
                                    if form in ("cell", "black_mass") else None),
        routes=lines)


def value_matrix(principal: Principal, *, form: str = "pack", price_date: dt.date | str | None = None,
                 metal_price_multiplier: float = 1.0) -> ValueMatrix:
    """Net value per tonne of every route for every chemistry [USD/t] under a price scenario."""
    require_scope(principal, Scope.READ)
    if form not in FORMS:
        raise InvalidInput(Problem(None, "form", f"unknown form '{form}'; use {', '.join(FORMS)}"))
    book, as_of = price_scenario(price_date, metal_price_multiplier)
    t = value_tables(DEFAULT_ROUTES, prices=book, as_of=as_of)
    f = list(FORMS).index(form)
    rows: list[dict[str, str | float]] = []
    for c, chem in enumerate(t.chemistries):
        k = c * len(FORMS) + f
        rows.append({"chemistry": chem, **{f"{r}_usd_per_t": round(float(t.revenue[i, k] - t.cost[i, k]) * 1000, 1)
                                           for i, r in enumerate(t.routes)}})
    return ValueMatrix(form=form, price_date=as_of, metal_price_multiplier=metal_price_multiplier,
                       routes=list(t.routes), rows=rows, prices_usd_per_kg=book.scenario(as_of))


def price_batteries(principal: Principal, batteries: pd.DataFrame, *, price_date: dt.date | str | None = None,
                    metal_price_multiplier: float = 1.0, price_book: PriceBook | None = None,
                    params: Mapping[str, Any] | None = None, logistics_usd_per_kg: float = 0.0,
                    margin_fraction: float = 0.0, reuse_value_usd_per_kwh: float | None = None) -> BatteriesPrice:
    """Price batteries the caller describes (a file or a lot): best route per battery and the offer."""
    require_scope(principal, Scope.READ)
    book, as_of = price_scenario(price_date, metal_price_multiplier, price_book=price_book)
    out = price_fleet(batteries, prices=book, as_of=as_of, params=params, logistics_usd_per_kg=logistics_usd_per_kg,
                      margin_fraction=margin_fraction, reuse_value_usd_per_kwh=reuse_value_usd_per_kwh)
    cols = ["mass_kg", "revenue_usd", "processing_cost_usd", "logistics_usd", "margin_usd", "offer_usd"]
    return BatteriesPrice(price_date=as_of, totals={c: float(out[c].sum()) for c in cols},
                          batteries=out.astype(object).where(out.notna(), None).to_dict(orient="records"))


def price_passport(session: Session, principal: Principal, identifier: str, *,
                   price_date: dt.date | str | None = None, metal_price_multiplier: float = 1.0,
                   logistics_usd_per_kg: float = 0.0, margin_fraction: float = 0.0) -> PassportPrice:
    """Price one battery the caller may see beyond the public view (custody, maker, grant, authorities)."""
    require_scope(principal, Scope.READ)
    b = find_battery(session, identifier)
    (s,) = audiences(session, principal, [b])
    if not is_restricted(s.audience):
        raise AccessDenied(f"you may not price {b.battery_id}: it is not in your custody, not made by you and you "
                           "hold no grant for it (request one at /api/v1/grants)")
    book, as_of = price_scenario(price_date, metal_price_multiplier)
    form = b.level if b.level in ("pack", "module", "cell") else "pack"
    frame = pd.DataFrame({"battery_id": [b.battery_id], "chemistry": [b.chemistry], "form": [form],
                          "mass_kg": [b.mass_kg]})
    priced = price_fleet(frame, prices=book, as_of=as_of, logistics_usd_per_kg=logistics_usd_per_kg,
                         margin_fraction=margin_fraction)
    row = priced.iloc[0]
    nets = {c[4:-4]: round(float(row[c]), 2) for c in priced.columns if c.startswith("net_") and c.endswith("_usd")}
    log_seen(session, principal, [s], "price")
    return PassportPrice(
        battery_id=b.battery_id, chemistry=b.chemistry, form=form, mass_kg=b.mass_kg, price_date=as_of,
        metal_price_multiplier=metal_price_multiplier, best_route=str(row["best_route"]),
        destination=str(row["destination"]),
        **{k: round(float(row[k]), 2) for k in ("revenue_usd", "processing_cost_usd", "logistics_usd", "margin_usd",
                                                 "offer_usd")},
        net_by_route_usd=nets)
