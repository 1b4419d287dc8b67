"""Pricing and route choice for one battery, a lot or a whole fleet, in one vectorised call.

Every route is linear in the species masses of its input, so the net value of a battery is
``mass_kg × V[route, chemistry, form]`` with ``V`` a small precomputed table (USD per kg), plus a
correction for batteries whose passport declares their Li, Ni, Co, Mn content. The offer a recycler can
make is decomposed line by line::

    offer = revenue − processing cost (operations, utilities, disposal, reagents) − logistics − margin

with ``margin = margin_fraction × revenue``. When a battery may be reused (``reuse_eligible``), the
reuse value ``energy_kwh × soh × reuse_value_usd_per_kwh`` (a second-life value the caller supplies
with its source) is compared with the best recycling offer and the battery goes where it is worth most.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.recovery.black_mass import form_composition_table
from circulith.recovery.composition import DECLARED_METALS, FORMS, chemistries
from circulith.recovery.prices import PriceBook, default_price_book, latest_price_date
from circulith.recovery.species import N_SPECIES, SPECIES_INDEX
from circulith.recovery.valuation import route_economics

DEFAULT_ROUTES: tuple[str, ...] = ("pyro", "hydro", "direct", "black_mass")
DECLARED_COLUMNS = {el: f"{el.lower()}_kg" for el in DECLARED_METALS}


@dataclass(frozen=True)
class ValueTables:
    """Per-kg value tables for fast pricing (USD per kg of battery, and per kg of each species).

    ``revenue``/``cost`` have shape (n_routes, n_chemistries * n_forms); ``species_revenue`` and
    ``species_cost`` have shape (n_routes, n_chemistries * n_forms, n_species).
    """

    routes: tuple[str, ...]
    chemistries: tuple[str, ...]
    revenue: np.ndarray
    cost: np.ndarray
    species_revenue: np.ndarray
    species_cost: np.ndarray
    fractions: np.ndarray
    price_date: dt.date

    def cell_index(self, chem_idx: np.ndarray, form_idx: np.ndarray) -> np.ndarray:
        """Flat (chemistry, form) index."""
        return chem_idx * len(FORMS) + form_idx


def value_tables(routes: Sequence[str] = DEFAULT_ROUTES, *, prices: PriceBook | None = None,
                 as_of: dt.date | None = None, params: Mapping[str, Any] | None = None) -> ValueTables:
    """Precompute per-kg revenue and cost of every route, chemistry and form."""
    prices = prices or default_price_book()
    as_of = as_of or latest_price_date(prices)
    frac, codes = form_composition_table()
    n_cf = len(codes) * len(FORMS)
    s_rev = np.zeros((len(routes), n_cf, N_SPECIES))
    s_cost = np.zeros((len(routes), n_cf, N_SPECIES))
    for r, route in enumerate(routes):
        for c, chem in enumerate(codes):
            for f, form in enumerate(FORMS):
                e = route_economics(route, form, chem, prices, as_of, params)
                s_rev[r, c * len(FORMS) + f] = e.revenue
                s_cost[r, c * len(FORMS) + f] = e.processing_cost + e.reagent_cost
    flat = frac.reshape(n_cf, N_SPECIES)
    return ValueTables(tuple(routes), codes, np.einsum("rks,ks->rk", s_rev, flat), np.einsum("rks,ks->rk", s_cost, flat),
                       s_rev, s_cost, flat, as_of)


def _codes(values: pd.Series, known: Sequence[str], field: str, ids: pd.Series | None) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = pd.Index(list(known)).get_indexer(values.cat.categories)
        codes = np.where(values.cat.codes.to_numpy() < 0, -1, codes[values.cat.codes.to_numpy()])
    else:
        codes = pd.Index(list(known)).get_indexer(values.astype(object))
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        problems = [Problem(int(i) + 1, field, f"unknown {field} '{values.iloc[i]}'; known: {', '.join(known)}",
                            None if ids is None else str(ids.iloc[i])) for i in bad[:20]]
        raise InvalidInput(problems)
    return codes.astype(np.int64)


def _masses(frame: pd.DataFrame, chem_idx: np.ndarray, form_idx: np.ndarray, ids: pd.Series | None) -> np.ndarray:
    n = len(frame)
    mass = np.full(n, np.nan)
    if "mass_kg" in frame:
        mass = frame["mass_kg"].to_numpy(dtype=float, na_value=np.nan)
    if "energy_kwh" in frame and np.isnan(mass).any():
        chems = chemistries()
        codes = form_composition_table()[1]
        cell = np.array([chems[c].cell_specific_energy_wh_per_kg for c in codes])
        pack = np.array([chems[c].pack_specific_energy_wh_per_kg for c in codes])
        # module: cells plus module hardware (share of non-cell mass from module_share.csv)
        from circulith.recovery.reference_data import load_csv

        md_share = float(next(r["value"] for r in load_csv("module_share.csv")))
        module = cell / (1 + md_share * (cell / pack - 1))
        wh_per_kg = np.stack([cell, module, pack, np.full_like(cell, np.nan)], axis=1)[chem_idx, form_idx]
        energy = frame["energy_kwh"].to_numpy(dtype=float, na_value=np.nan)
        fill = np.isnan(mass)
        mass[fill] = energy[fill] * 1000.0 / wh_per_kg[fill]
    bad = np.flatnonzero(~np.isfinite(mass) | (mass < 0))
    if bad.size:
        raise InvalidInput([Problem(int(i) + 1, "mass_kg", "needs a non-negative mass_kg (or energy_kwh for a cell, "
                                    "module or pack)", None if ids is None else str(ids.iloc[i])) for i in bad[:20]])
    return mass


def price_fleet(frame: pd.DataFrame, *, routes: Sequence[str] = DEFAULT_ROUTES, prices: PriceBook | None = None,
                as_of: dt.date | None = None, params: Mapping[str, Any] | None = None,
                logistics_usd_per_kg: float = 0.0, margin_fraction: float = 0.0,
                reuse_value_usd_per_kwh: float | None = None, tables: ValueTables | None = None,
                detail: bool = True) -> pd.DataFrame:
    """Value every battery of a frame on every route, choose the best, and make an offer.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per battery (or lot). Columns: ``chemistry``, ``form`` (cell, module, pack, black_mass;
        default pack), ``mass_kg`` [kg] or ``energy_kwh`` [kWh]; optional ``battery_id``, declared metals
        ``li_kg``, ``ni_kg``, ``co_kg``, ``mn_kg`` [kg] (override the catalogue), ``logistics_usd`` [USD]
        (replaces ``logistics_usd_per_kg`` for that row), ``reuse_eligible`` [bool], ``soh`` [0..1].
    routes : sequence of str
        Candidate routes.
    logistics_usd_per_kg : float
        Collection and transport cost [USD/kg] when a row has no ``logistics_usd``.
    margin_fraction : float
        Recycler's margin as a fraction of revenue [-].
    reuse_value_usd_per_kwh : float, optional
        Second-life value [USD per kWh of remaining capacity]; required to consider reuse.
    tables : ValueTables, optional
        Precomputed tables (reuse them across calls with the same prices and parameters).
    detail : bool
        Include the net value of every route as ``net_<route>_usd`` columns.

    Returns
    -------
    pandas.DataFrame
        ``battery_id, chemistry, form, mass_kg, best_route, revenue_usd, processing_cost_usd,
        logistics_usd, margin_usd, offer_usd, reuse_value_usd, destination`` (+ per-route nets).
    """
    if logistics_usd_per_kg < 0 or not 0 <= margin_fraction < 1:
        raise InvalidInput("logistics_usd_per_kg must be ≥ 0 and margin_fraction within [0, 1)")
    if reuse_value_usd_per_kwh is not None and reuse_value_usd_per_kwh < 0:
        raise InvalidInput("reuse_value_usd_per_kwh must not be negative")
    if "chemistry" not in frame:
        raise InvalidInput(Problem(None, "chemistry", "the fleet frame needs a chemistry column"))
    t = tables or value_tables(routes, prices=prices, as_of=as_of, params=params)
    ids = frame.get("battery_id", None)
    chem_idx = _codes(frame["chemistry"], t.chemistries, "chemistry", ids)
    form_col = frame["form"] if "form" in frame else pd.Series(["pack"] * len(frame), index=frame.index)
    form_idx = _codes(form_col, FORMS, "form", ids)
    mass = _masses(frame, chem_idx, form_idx, ids)
    cf = t.cell_index(chem_idx, form_idx)
    n = len(frame)
    n_routes = len(t.routes)
    # the best route depends on (chemistry, form) only, because value is linear in mass
    cols = np.arange(t.revenue.shape[1])
    best_table = np.argmax(t.revenue - t.cost, axis=0)
    best = best_table[cf]
    best_rev = t.revenue[best_table, cols][cf] * mass
    best_cost = t.cost[best_table, cols][cf] * mass
    declared = [c for c in DECLARED_COLUMNS.values() if c in frame]
    rows = np.zeros(0, dtype=np.int64)
    if declared:
        dm = frame[declared].to_numpy(dtype=float, na_value=np.nan)
        rows = np.flatnonzero(~np.isnan(dm).all(axis=1))
    nets: dict[str, np.ndarray] = {}
    if detail:
        for r, route in enumerate(t.routes):
            nets[f"net_{route}_usd"] = (t.revenue[r, cf] - t.cost[r, cf]) * mass
    if rows.size:
        # batteries whose passport declares metals: value every route on their own species masses
        delta = _declared_delta(frame, declared, rows, mass, cf, t, ids)
        cfr = cf[rows]
        rev_r = t.revenue[:, cfr] * mass[rows] + np.einsum("ks,rks->rk", delta, t.species_revenue[:, cfr])
        cost_r = t.cost[:, cfr] * mass[rows] + np.einsum("ks,rks->rk", delta, t.species_cost[:, cfr])
        b = np.argmax(rev_r - cost_r, axis=0)
        k = np.arange(rows.size)
        best[rows], best_rev[rows], best_cost[rows] = b, rev_r[b, k], cost_r[b, k]
        for r, route in enumerate(t.routes):
            if detail:
                nets[f"net_{route}_usd"][rows] = rev_r[r] - cost_r[r]
    if "logistics_usd" in frame:
        logi = frame["logistics_usd"].to_numpy(dtype=float, na_value=np.nan)
        logi = np.where(np.isnan(logi), mass * logistics_usd_per_kg, logi)
    else:
        logi = mass * logistics_usd_per_kg
    margin = margin_fraction * best_rev
    offer = best_rev - best_cost - logi - margin
    out = pd.DataFrame({
        "battery_id": ids.to_numpy() if ids is not None else np.arange(n),
        "chemistry": pd.Categorical.from_codes(chem_idx, categories=list(t.chemistries)),
        "form": pd.Categorical.from_codes(form_idx, categories=list(FORMS)), "mass_kg": mass,
        "best_route": pd.Categorical.from_codes(best, categories=list(t.routes)), "revenue_usd": best_rev,
        "processing_cost_usd": best_cost, "logistics_usd": logi, "margin_usd": margin, "offer_usd": offer,
    }, copy=False)
    reuse = np.full(n, np.nan)
    dest = best.copy()
    if reuse_value_usd_per_kwh is not None and "reuse_eligible" in frame:
        eligible = frame["reuse_eligible"].fillna(False).to_numpy(dtype=bool)
        if "energy_kwh" not in frame:
            raise InvalidInput(Problem(None, "energy_kwh", "reuse comparison needs energy_kwh per battery"))
        soh = frame["soh"].to_numpy(dtype=float, na_value=1.0) if "soh" in frame else np.ones(n)
        if np.any((soh < 0) | (soh > 1.2)):
            raise InvalidInput(Problem(None, "soh", "state of health must be a fraction within 0..1.2"))
        energy = frame["energy_kwh"].to_numpy(dtype=float, na_value=0.0)
        reuse = np.where(eligible, energy * soh * reuse_value_usd_per_kwh - logi, np.nan)
        dest = np.where(eligible & (reuse > offer), n_routes, dest)
    out["reuse_value_usd"] = reuse
    out["destination"] = pd.Categorical.from_codes(dest, categories=[f"recycle:{r}" for r in t.routes] + ["reuse"])
    for col, v in nets.items():
        out[col] = v
    return out


def _declared_delta(frame: pd.DataFrame, declared: list[str], rows: np.ndarray, mass: np.ndarray,
                    cf: np.ndarray, t: ValueTables, ids: pd.Series | None) -> np.ndarray:
    x = t.fractions[cf[rows]] * mass[rows, None]
    total = x.sum(axis=1)
    new = x.copy()
    set_mask = np.zeros_like(x, dtype=bool)
    dm = frame[declared].to_numpy(dtype=float, na_value=np.nan)[rows]
    for j, col in enumerate(declared):
        el = next(e for e, c in DECLARED_COLUMNS.items() if c == col)
        v = dm[:, j]
        has = ~np.isnan(v)
        if np.any(v[has] < 0):
            bad = rows[has][v[has] < 0][0]
            raise InvalidInput(Problem(int(bad) + 1, col, "declared mass must not be negative",
                                       None if ids is None else str(ids.iloc[bad])))
        new[has, SPECIES_INDEX[el]] = v[has]
        set_mask[has, SPECIES_INDEX[el]] = True
    declared_total = np.where(set_mask, new, 0).sum(axis=1)
    over = np.flatnonzero(declared_total > total + 1e-9)
    if over.size:
        i = rows[over[0]]
        raise InvalidInput(Problem(int(i) + 1, "", "declared metals exceed the battery mass",
                                   None if ids is None else str(ids.iloc[i])))
    rest = np.where(set_mask, 0, x).sum(axis=1)
    scale = np.divide(total - declared_total, rest, out=np.ones_like(rest), where=rest > 0)
    new = np.where(set_mask, new, x * scale[:, None])
    return new - x


def price_battery(battery: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Price one battery (a dict with the columns of :func:`price_fleet`); returns its offer line by line."""
    row = price_fleet(pd.DataFrame([dict(battery)]), **kwargs).iloc[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def price_lot(frame: pd.DataFrame, **kwargs: Any) -> dict[str, Any]:
    """Price a lot (rows = batteries) and total its offer; each battery keeps its own best route."""
    priced = price_fleet(frame, **kwargs)
    cols = ["mass_kg", "revenue_usd", "processing_cost_usd", "logistics_usd", "margin_usd", "offer_usd"]
    totals = {c: float(priced[c].sum()) for c in cols}
    totals["batteries"] = len(priced)
    totals["routes"] = priced["best_route"].value_counts().to_dict()
    totals["destinations"] = priced["destination"].value_counts().to_dict()
    return {"totals": totals, "batteries": priced}
