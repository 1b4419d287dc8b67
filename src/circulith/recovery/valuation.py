"""Valuation of recovery routes at a dated price scenario.

* :func:`metal_values_usd_per_kg` — what one kg of contained Li, Ni, Co, Mn, Cu, Al is worth
  (lithium as lithium carbonate equivalent, 5.323 kg LCE per kg Li).
* :func:`theoretical_metal_value` — contained Li (as LCE), Ni, Co and Mn at full price [USD/t].
* :func:`route_economics` — per-kg-of-species revenue, cost, reagents, energy, water and GHG weights of a
  compiled route for a chemistry (the linear "value vector" pricing uses).
* :func:`evaluate` — one battery or lot through one route: products, recoveries, money, energy, GHG.
* :func:`black_mass_value` — value of black mass by payables (% of contained metal value).
* :func:`price_sensitivity` — change of net value for a +10 % change in each price.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from circulith.errors import InvalidInput, NotFound
from circulith.recovery.black_mass import form_composition_table
from circulith.recovery.composition import check_chemistry, check_form
from circulith.recovery.prices import PriceBook, default_price_book, latest_price_date
from circulith.recovery.routes import CompiledRoute, Stream, compile_route
from circulith.recovery.species import (
    ELEMENT_CONTENT,
    ELEMENTS,
    N_SPECIES,
    SPECIES,
    SPECIES_INDEX,
    product_mass_per_element_kg,
)

#: kg lithium carbonate equivalent per kg Li (Li2CO3 / 2 Li = 73.89 / 13.88).
LCE_PER_KG_LI = product_mass_per_element_kg("Li2CO3", "Li")
#: Elements reported as recoveries.
REPORTED_ELEMENTS = ("Li", "Ni", "Co", "Mn", "Cu", "Al", "Fe", "C")
_EL = {e: i for i, e in enumerate(ELEMENTS)}


def metal_values_usd_per_kg(prices: PriceBook, as_of: dt.date) -> dict[str, float]:
    """USD per kg of contained metal (Li from the Li2CO3 price as LCE) for metals with a price."""
    out: dict[str, float] = {}
    li = prices.get("Li2CO3", "product", as_of)
    if li is not None:
        out["Li"] = li.usd_per_kg * LCE_PER_KG_LI
    else:
        li_m = prices.get("Li", "contained_metal", as_of)
        if li_m is not None:
            out["Li"] = li_m.usd_per_kg
    for m in ("Ni", "Co", "Mn", "Cu", "Al"):
        o = prices.get(m, "contained_metal", as_of)
        if o is not None:
            out[m] = o.usd_per_kg
    return out


def _need(values: Mapping[str, float], el: str, what: str, as_of: dt.date) -> float:
    if el not in values:
        basis = "Li2CO3 product" if el == "Li" else f"{el} contained_metal"
        raise NotFound(f"{what} needs a {basis} price on or before {as_of.isoformat()}; add one to the price file")
    return values[el]


def stream_value_vector(stream: Stream, chemistry: str, prices: PriceBook, as_of: dt.date,
                        params: Mapping[str, Any]) -> np.ndarray:
    """USD per kg of each species that ends in ``stream`` (zeros for residues and losses)."""
    v = np.zeros(N_SPECIES)
    if stream.kind not in ("product", "by_product") or stream.valuation == "none":
        return v
    metals = metal_values_usd_per_kg(prices, as_of)
    what = f"stream '{stream.name}'"
    if stream.valuation == "product":
        commodity = stream.commodity or ""
        if commodity == "Li2CO3" and stream.operation == "hydrometallurgy":
            commodity = str(params["operations"]["hydrometallurgy"].get("lithium_product", "Li2CO3"))
        if stream.element:
            idx = SPECIES_INDEX[stream.element]
            o = prices.get(commodity, "product", as_of)
            if o is not None:
                v[idx] = o.usd_per_kg * product_mass_per_element_kg(commodity, stream.element)
            else:
                v[idx] = _need(metals, stream.element, f"{what} ({commodity})", as_of) * float(
                    stream.payable.get(stream.element, 1.0))
        else:
            v[:] = prices.require(commodity, "product", as_of).usd_per_kg
        return v
    if stream.valuation == "contained":
        for el, pay in stream.payable.items():
            if pay:
                v += ELEMENT_CONTENT[:, _EL[el]] * _need(metals, el, what, as_of) * float(pay)
        return v
    if stream.valuation == "cathode":
        o = prices.get(f"cathode:{chemistry}", "product", as_of)
        if o is not None:
            v[:] = o.usd_per_kg
            return v
        factor = float(params["operations"][stream.operation].get("cathode_value_factor", 1.0))
        for el in ("Li", "Ni", "Co", "Mn"):
            if el in metals:
                v[SPECIES_INDEX[el]] = metals[el] * factor
        if "Li" not in metals:
            _need(metals, "Li", what, as_of)
        return v
    if stream.valuation == "payables":
        o = prices.get(f"black_mass:{chemistry}", "product", as_of)
        if o is not None:
            v[:] = o.usd_per_kg
            return v
        for el, pay in stream.payable.items():
            if pay:
                v[SPECIES_INDEX[el]] = _need(metals, el, what, as_of) * float(pay)
        return v
    raise InvalidInput(f"stream '{stream.name}': unknown valuation '{stream.valuation}'")


@dataclass(frozen=True)
class RouteEconomics:
    """Linear weights of a route for one chemistry and form, per kg of each input species.

    ``revenue`` [USD/kg], ``processing_cost`` (operations, utilities, disposal) [USD/kg],
    ``reagent_cost`` [USD/kg], ``energy_mj`` [MJ/kg], ``ghg_kg_co2e`` [kg/kg], ``water_m3`` [m3/kg],
    ``stream_revenue`` (n_streams, n_species) [USD/kg].
    """

    compiled: CompiledRoute
    chemistry: str
    revenue: np.ndarray
    stream_revenue: np.ndarray
    processing_cost: np.ndarray
    reagent_cost: np.ndarray
    reagent_ghg: np.ndarray
    energy_mj: np.ndarray
    ghg_kg_co2e: np.ndarray
    water_m3: np.ndarray

    @property
    def net(self) -> np.ndarray:
        """Net value [USD per kg of input species]."""
        return self.revenue - self.processing_cost - self.reagent_cost


def route_economics(route: str, form: str, chemistry: str, prices: PriceBook | None = None,
                    as_of: dt.date | None = None, params: Mapping[str, Any] | None = None) -> RouteEconomics:
    """Per-species linear weights of a route (see :class:`RouteEconomics`)."""
    check_chemistry(chemistry)
    prices = prices or default_price_book()
    as_of = as_of or latest_price_date(prices)
    cr = compile_route(route, form, params)
    p = cr.params
    util = p["utilities"]
    stream_rev = np.array([cr.stream_coef[k] * stream_value_vector(s, chemistry, prices, as_of, p)
                           for k, s in enumerate(cr.streams)]) if cr.streams else np.zeros((0, N_SPECIES))
    reagent_cost = np.zeros(N_SPECIES)
    reagent_ghg = np.zeros(N_SPECIES)
    for rg, kg in cr.reagent_kg_per_kg.items():
        spec = p["reagents"][rg]
        if "price_from" in spec:
            price = prices.require(spec["price_from"], "product", as_of).usd_per_kg
        else:
            price = float(spec["price_usd_per_t"]) / 1000
        reagent_cost += kg * price
        reagent_ghg += kg * float(spec.get("kg_co2e_per_kg", 0.0))
    energy = cr.electricity_kwh_per_kg * 3.6 + cr.natural_gas_mj_per_kg
    ghg = (cr.electricity_kwh_per_kg * float(util["electricity_kg_co2e_per_kwh"])
           + cr.natural_gas_mj_per_kg * float(util["natural_gas_kg_co2e_per_mj"]) + cr.direct_co2_kg_per_kg + reagent_ghg)
    return RouteEconomics(cr, chemistry, stream_rev.sum(axis=0), stream_rev, cr.cost_usd_per_kg, reagent_cost,
                          reagent_ghg, energy, ghg, cr.water_m3_per_kg)


class ProductLine(BaseModel):
    """One output stream of a route run."""

    stream: str
    operation: str
    kind: str
    commodity: str | None
    mass_kg: float
    revenue_usd: float
    element_kg: dict[str, float]


class RecoveryResult(BaseModel):
    """One battery or lot through one route."""

    chemistry: str
    form: str
    route: str
    input_mass_kg: float
    price_date: dt.date
    operations: list[str]
    products: list[ProductLine]
    element_input_kg: dict[str, float]
    element_recovery: dict[str, float]
    black_mass_kg: float
    revenue_usd: float
    processing_cost_usd: float
    capital_cost_usd: float
    reagent_cost_usd: float
    cost_usd: float
    net_usd: float
    energy_mj: float
    electricity_kwh: float
    natural_gas_mj: float
    ghg_kg_co2e: float
    direct_co2_kg: float
    water_m3: float
    reagents_kg: dict[str, float]
    mass_balance_error_kg: float


def _product_mass(stream: Stream, species_kg: np.ndarray, params: Mapping[str, Any]) -> float:
    if stream.valuation == "product" and stream.element:
        commodity = stream.commodity or ""
        if commodity == "Li2CO3" and stream.operation == "hydrometallurgy":
            commodity = str(params["operations"]["hydrometallurgy"].get("lithium_product", "Li2CO3"))
        return float(species_kg[SPECIES_INDEX[stream.element]] * product_mass_per_element_kg(commodity, stream.element))
    return float(species_kg.sum())


def species_input(chemistry: str, form: str, mass_kg: float, *, fractions: np.ndarray | None = None) -> np.ndarray:
    """Species masses [kg] of ``mass_kg`` of a chemistry in a form (catalogue or given fractions)."""
    check_chemistry(chemistry)
    check_form(form)
    if not np.isfinite(mass_kg) or mass_kg < 0:
        raise InvalidInput(f"mass must be a non-negative number of kg, got {mass_kg}")
    if fractions is None:
        table, codes = form_composition_table()
        fractions = table[codes.index(chemistry), ("cell", "module", "pack", "black_mass").index(form)]
    return np.asarray(fractions, dtype=float) * float(mass_kg)


def evaluate(chemistry: str, form: str, mass_kg: float, route: str, *, prices: PriceBook | None = None,
             as_of: dt.date | None = None, params: Mapping[str, Any] | None = None,
             species_kg: np.ndarray | None = None) -> RecoveryResult:
    """Run one battery or lot through one route.

    Parameters
    ----------
    chemistry, form, route : str
        Catalogue chemistry, input form (cell, module, pack, black_mass), route (pyro, hydro, direct,
        black_mass).
    mass_kg : float
        Input mass [kg].
    prices, as_of : PriceBook, date, optional
        Price scenario and date (default: shipped prices, latest date).
    params : mapping, optional
        Route parameters with a plant's overrides (see :func:`circulith.recovery.routes.apply_overrides`).
    species_kg : numpy.ndarray, optional
        Species masses [kg] replacing the catalogue (e.g. with passport-declared metals).
    """
    prices = prices or default_price_book()
    as_of = as_of or latest_price_date(prices)
    x = species_input(chemistry, form, mass_kg) if species_kg is None else np.asarray(species_kg, dtype=float)
    if np.any(x < 0):
        raise InvalidInput("species masses must not be negative")
    econ = route_economics(route, form, chemistry, prices, as_of, params)
    cr = econ.compiled
    out_species = cr.stream_coef * x  # (n_streams, n_species)
    products = [
        ProductLine(stream=s.name, operation=s.operation, kind=s.kind, commodity=_commodity_label(s, chemistry, cr.params),
                    mass_kg=_product_mass(s, out_species[k], cr.params), revenue_usd=float(econ.stream_revenue[k] @ x),
                    element_kg={e: float(v) for e, v in zip(ELEMENTS, out_species[k] @ ELEMENT_CONTENT, strict=True)
                                if v > 0})
        for k, s in enumerate(cr.streams)
    ]
    el_in = x @ ELEMENT_CONTENT
    counted = np.array([s.kind in ("product", "by_product") for s in cr.streams])
    el_rec = (out_species[counted].sum(axis=0) @ ELEMENT_CONTENT) if counted.any() else np.zeros(len(ELEMENTS))
    recovery = {e: float(el_rec[_EL[e]] / el_in[_EL[e]]) for e in REPORTED_ELEMENTS if el_in[_EL[e]] > 1e-12}
    black_mass_kg = 0.0
    if "pretreatment" in cr.operations and len(cr.operations) > cr.operations.index("pretreatment") + 1:
        black_mass_kg = float(cr.operation_feed[cr.operations.index("pretreatment") + 1] @ x)
    elif form == "black_mass":
        black_mass_kg = float(x.sum())
    revenue = float(econ.revenue @ x)
    proc = float(econ.processing_cost @ x)
    reag = float(econ.reagent_cost @ x)
    return RecoveryResult(
        chemistry=chemistry, form=form, route=route, input_mass_kg=float(x.sum()), price_date=as_of,
        operations=list(cr.operations), products=products,
        element_input_kg={e: float(el_in[_EL[e]]) for e in ELEMENTS if el_in[_EL[e]] > 0},
        element_recovery=recovery, black_mass_kg=black_mass_kg, revenue_usd=revenue, processing_cost_usd=proc,
        capital_cost_usd=float(cr.capital_usd_per_kg @ x), reagent_cost_usd=reag, cost_usd=proc + reag,
        net_usd=revenue - proc - reag,
        energy_mj=float(econ.energy_mj @ x), electricity_kwh=float(cr.electricity_kwh_per_kg @ x),
        natural_gas_mj=float(cr.natural_gas_mj_per_kg @ x), ghg_kg_co2e=float(econ.ghg_kg_co2e @ x),
        direct_co2_kg=float(cr.direct_co2_kg_per_kg @ x), water_m3=float(econ.water_m3 @ x),
        reagents_kg={k: float(v @ x) for k, v in cr.reagent_kg_per_kg.items()},
        mass_balance_error_kg=float(np.abs(out_species.sum(axis=0) - x).max()) if len(cr.streams) else float(x.sum()),
    )


def _commodity_label(s: Stream, chemistry: str, params: Mapping[str, Any]) -> str | None:
    if s.commodity in ("cathode", "black_mass"):
        return f"{s.commodity}:{chemistry}"
    if s.commodity == "Li2CO3" and s.operation == "hydrometallurgy":
        return str(params["operations"]["hydrometallurgy"].get("lithium_product", "Li2CO3"))
    return s.commodity


def theoretical_metal_value(chemistry: str, form: str = "cell", *, prices: PriceBook | None = None,
                            as_of: dt.date | None = None, species_kg_per_t: np.ndarray | None = None) -> dict[str, float]:
    """Contained-metal value per tonne [USD/t]: Li as LCE, Ni, Co, Mn at full price, and the total."""
    prices = prices or default_price_book()
    as_of = as_of or latest_price_date(prices)
    x = species_input(chemistry, form, 1000.0) if species_kg_per_t is None else species_kg_per_t
    el = x @ ELEMENT_CONTENT
    values = metal_values_usd_per_kg(prices, as_of)
    out = {m: float(el[_EL[m]] * _need(values, m, "theoretical metal value", as_of)) for m in ("Li", "Ni", "Co", "Mn")}
    out["total"] = sum(out.values())
    return out


def black_mass_value(chemistry: str, black_mass_kg: float = 1000.0, *, payables: Mapping[str, float] | None = None,
                     prices: PriceBook | None = None, as_of: dt.date | None = None) -> dict[str, float]:
    """Value of black mass by payables [USD]: Σ contained metal × price × payable.

    Payables default to the ``black_mass_sale`` operation's (shipped assumption; a contract replaces them).
    """
    prices = prices or default_price_book()
    as_of = as_of or latest_price_date(prices)
    if payables is None:
        cr = compile_route("black_mass", "black_mass")
        payables = cr.streams[cr.stream_index("black_mass_sold")].payable
    for el, p in payables.items():
        if el not in ("Li", "Ni", "Co", "Mn", "Cu", "Al") or not 0 <= p <= 1.5:
            raise InvalidInput(f"payable for {el} must be a fraction of contained value for Li, Ni, Co, Mn, Cu, Al")
    x = species_input(chemistry, "black_mass", black_mass_kg)
    el = x @ ELEMENT_CONTENT
    values = metal_values_usd_per_kg(prices, as_of)
    out = {m: float(el[_EL[m]] * _need(values, m, "black-mass value", as_of) * p) for m, p in payables.items() if p}
    out["contained_value_usd"] = float(sum(el[_EL[m]] * values.get(m, 0.0) for m in ("Li", "Ni", "Co", "Mn")))
    out["total"] = float(sum(v for k, v in out.items() if k in payables))
    return out


def price_sensitivity(chemistry: str, form: str, mass_kg: float, routes: Sequence[str] = ("pyro", "hydro", "direct"),
                      *, prices: PriceBook | None = None, as_of: dt.date | None = None, bump: float = 0.10,
                      params: Mapping[str, Any] | None = None) -> dict[str, dict[str, float]]:
    """Change of net value [USD] for a relative price change ``bump`` of each commodity, per route."""
    prices = prices or default_price_book()
    as_of = as_of or latest_price_date(prices)
    out: dict[str, dict[str, float]] = {}
    for r in routes:
        base = evaluate(chemistry, form, mass_kg, r, prices=prices, as_of=as_of, params=params).net_usd
        out[r] = {}
        for c in prices.commodities():
            bumped = evaluate(chemistry, form, mass_kg, r, prices=prices.scaled(c, 1 + bump), as_of=as_of,
                              params=params).net_usd
            if abs(bumped - base) > 1e-9:
                out[r][c] = bumped - base
    return out


__all__ = [
    "LCE_PER_KG_LI", "ProductLine", "RecoveryResult", "RouteEconomics", "black_mass_value", "evaluate",
    "metal_values_usd_per_kg", "price_sensitivity", "route_economics", "species_input", "stream_value_vector",
    "theoretical_metal_value", "SPECIES",
]
