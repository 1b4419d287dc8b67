"""Process routes as chains of unit operations, compiled to linear operators on species masses.

A unit operation splits its feed by transfer coefficients into named streams; the unlisted rest goes to
its ``next`` stream (the feed of the following operation) or, for the last operation, to its
``remainder`` stream. Because every split is linear in the feed, a whole route applied to a battery in a
given form collapses to

* ``stream_coef[k, s]`` — fraction of species ``s`` in the input that ends in output stream ``k``
  (each column sums to exactly one: the mass balance), and
* per-species linear weights for cost, energy, water, reagents and direct emissions.

That is what lets :mod:`circulith.recovery.pricing` value ten million batteries with one gather.

Defaults are read from ``recovery_routes.toml`` (sources there); a plant overrides any number with
:func:`apply_overrides` (a nested dict, e.g. from its own TOML file).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from circulith.errors import InvalidInput, Problem
from circulith.recovery.composition import FORMS, check_form
from circulith.recovery.reference_data import load_toml
from circulith.recovery.species import (
    CARBON_FRACTION,
    CO2_PER_C,
    N_SPECIES,
    SPECIES,
    SPECIES_INDEX,
    SPECIES_MOLAR_MASS,
    molar_mass_g_per_mol,
)

STREAM_KINDS = ("product", "by_product", "residue", "loss")
VALUATIONS = ("product", "contained", "cathode", "payables", "none")
ROUTE_NAMES_DEFAULT = ("pyro", "hydro", "direct", "black_mass")


@dataclass(frozen=True)
class Stream:
    """One output stream of a compiled route."""

    name: str
    operation: str
    kind: str
    commodity: str | None = None
    valuation: str = "none"
    element: str | None = None
    payable: Mapping[str, float] = field(default_factory=dict)
    disposal_usd_per_t: float = 0.0
    combusted: bool = False


@dataclass(frozen=True)
class CompiledRoute:
    """A route applied to one input form, as linear operators on species masses [kg].

    Attributes
    ----------
    stream_coef : numpy.ndarray
        (n_streams, n_species) [kg in stream / kg in input]; columns sum to one.
    operation_feed : numpy.ndarray
        (n_operations, n_species) fraction of each input species reaching each operation.
    cost_usd_per_kg : numpy.ndarray
        Processing cost excluding reagents [USD per kg of input species] (operation cost, utilities,
        residue disposal).
    electricity_kwh_per_kg, natural_gas_mj_per_kg, water_m3_per_kg : numpy.ndarray
        Utilities per kg of input species.
    reagent_kg_per_kg : dict
        Reagent name → (n_species,) [kg reagent per kg input species].
    direct_co2_kg_per_kg : numpy.ndarray
        Direct CO2 from combustion of the battery's carbon [kg CO2 per kg input species].
    fixed_direct_co2_kg_per_kg : numpy.ndarray
        Direct CO2 from reagents (limestone calcination) [kg per kg input species].
    capital_usd_per_kg : numpy.ndarray
        Annualised capital cost [USD per kg of input species], the part of ``cost_usd_per_kg`` that comes
        from the operations' ``capital_usd_per_t`` (see :func:`annualised_capital_usd_per_t`).
    """

    route: str
    form: str
    operations: tuple[str, ...]
    streams: tuple[Stream, ...]
    stream_coef: np.ndarray
    operation_feed: np.ndarray
    cost_usd_per_kg: np.ndarray
    electricity_kwh_per_kg: np.ndarray
    natural_gas_mj_per_kg: np.ndarray
    water_m3_per_kg: np.ndarray
    reagent_kg_per_kg: Mapping[str, np.ndarray]
    direct_co2_kg_per_kg: np.ndarray
    params: Mapping[str, Any]
    capital_usd_per_kg: np.ndarray = field(default_factory=lambda: np.zeros(N_SPECIES))

    def stream_index(self, name: str) -> int:
        """Index of a stream by name."""
        for i, s in enumerate(self.streams):
            if s.name == name:
                return i
        raise InvalidInput(f"route {self.route} has no stream '{name}'")


def capital_recovery_factor(rate: float, life_years: float) -> float:
    """Capital recovery factor: the constant annual payment per unit of capital [1/yr].

    ``rate / (1 - (1 + rate) ** -life_years)`` (``1 / life_years`` when the rate is zero): the annuity
    that repays the investment with interest over the plant life. EverBatt 2023 annualises the fixed
    capital of its recovery plants this way (defaults: 1 % a year over 10 years).
    """
    if not np.isfinite(rate) or rate < 0:
        raise InvalidInput(Problem(None, "rate", f"must be a non-negative fraction per year, got {rate}"))
    if not np.isfinite(life_years) or life_years <= 0:
        raise InvalidInput(Problem(None, "life_years", f"must be a positive number of years, got {life_years}"))
    if rate == 0:
        return 1.0 / life_years
    return rate / (1.0 - (1.0 + rate) ** -life_years)


def annualised_capital_usd_per_t(fixed_capital_usd: float, capacity_t_per_year: float, *, rate: float = 0.01,
                                 life_years: float = 10.0) -> float:
    """Annualised capital cost of a plant per tonne of feed [USD/t].

    Parameters
    ----------
    fixed_capital_usd : float
        Fixed capital investment [USD].
    capacity_t_per_year : float
        Feed processed per year [t/yr].
    rate : float
        Interest (discount) rate [1/yr]; EverBatt 2023 default 0.01.
    life_years : float
        Plant life [yr]; EverBatt 2023 default 10.

    Returns
    -------
    float
        USD per tonne of feed, to put in an operation's ``capital_usd_per_t`` (a plant override).
    """
    if not np.isfinite(fixed_capital_usd) or fixed_capital_usd < 0:
        raise InvalidInput(Problem(None, "fixed_capital_usd", f"must be a non-negative amount, got {fixed_capital_usd}"))
    if not np.isfinite(capacity_t_per_year) or capacity_t_per_year <= 0:
        raise InvalidInput(Problem(None, "capacity_t_per_year", f"must be positive, got {capacity_t_per_year}"))
    return fixed_capital_usd * capital_recovery_factor(rate, life_years) / capacity_t_per_year


def default_parameters() -> dict[str, Any]:
    """A deep copy of the shipped route parameters (``recovery_routes.toml``)."""
    return copy.deepcopy(load_toml("recovery_routes.toml"))


def _merge(base: dict[str, Any], over: Mapping[str, Any], path: str, problems: list[Problem]) -> None:
    for k, v in over.items():
        where = f"{path}.{k}" if path else k
        if isinstance(v, Mapping):
            if k not in base:
                base[k] = {}
            if not isinstance(base[k], dict):
                problems.append(Problem(None, where, "expected a value, got a table"))
                continue
            _merge(base[k], v, where, problems)
        else:
            if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
                problems.append(Problem(None, where, f"must not be negative, got {v}"))
                continue
            base[k] = v


def apply_overrides(overrides: Mapping[str, Any] | None, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge a plant's own figures into route parameters.

    Parameters
    ----------
    overrides : mapping
        Same nesting as ``recovery_routes.toml``, e.g.
        ``{"operations": {"hydrometallurgy": {"streams": {"lithium_salt": {"transfer": {"Li": 0.95}}},
        "electricity_kwh_per_t": 350}}}``.
    params : mapping, optional
        Base parameters (default: the shipped ones).
    """
    out = copy.deepcopy(dict(params)) if params is not None else default_parameters()
    problems: list[Problem] = []
    if overrides:
        _merge(out, overrides, "", problems)
    if problems:
        raise InvalidInput(problems, source="route overrides")
    validate_parameters(out)
    return out


def validate_parameters(params: Mapping[str, Any]) -> None:
    """Check transfer coefficients (0..1, sum ≤ 1 per species), names and route definitions."""
    problems: list[Problem] = []
    ops = params.get("operations", {})
    for op_name, op in ops.items():
        sums = np.zeros(N_SPECIES)
        if "next" not in op and "remainder" not in op:
            problems.append(Problem(None, f"operations.{op_name}", "needs 'next' or 'remainder'"))
        for form in op.get("applies_to", []):
            if form not in FORMS:
                problems.append(Problem(None, f"operations.{op_name}.applies_to", f"unknown form '{form}'"))
        for st_name, st in op.get("streams", {}).items():
            where = f"operations.{op_name}.streams.{st_name}"
            if st.get("kind") not in STREAM_KINDS:
                problems.append(Problem(None, f"{where}.kind", f"must be one of {', '.join(STREAM_KINDS)}"))
            if st.get("valuation", "none") not in VALUATIONS:
                problems.append(Problem(None, f"{where}.valuation", f"must be one of {', '.join(VALUATIONS)}"))
            for sp, f in st.get("transfer", {}).items():
                if sp not in SPECIES_INDEX:
                    problems.append(Problem(None, f"{where}.transfer", f"unknown species '{sp}'"))
                    continue
                if not 0.0 <= float(f) <= 1.0:
                    problems.append(Problem(None, f"{where}.transfer.{sp}", f"must be within 0..1, got {f}"))
                sums[SPECIES_INDEX[sp]] += float(f)
        for i in np.flatnonzero(sums > 1.0 + 1e-9):
            problems.append(Problem(None, f"operations.{op_name}", f"transfer coefficients of {SPECIES[i]} sum to "
                                    f"{sums[i]:.4f} > 1"))
        for rg_name, rg in op.get("reagents", {}).items():
            if rg_name not in params.get("reagents", {}):
                problems.append(Problem(None, f"operations.{op_name}.reagents", f"unknown reagent '{rg_name}'"))
            for sp in rg.get("mol_per_mol", {}):
                if sp not in SPECIES_MOLAR_MASS:
                    problems.append(Problem(None, f"operations.{op_name}.reagents.{rg_name}",
                                            f"species '{sp}' has no single molar mass"))
        for rg_name in op.get("reagents_kg_per_t", {}):
            if rg_name not in params.get("reagents", {}):
                problems.append(Problem(None, f"operations.{op_name}.reagents_kg_per_t", f"unknown reagent '{rg_name}'"))
    for r_name, r in params.get("routes", {}).items():
        for op_name in r.get("operations", []):
            if op_name not in ops:
                problems.append(Problem(None, f"routes.{r_name}", f"unknown operation '{op_name}'"))
        last = r.get("operations", [])[-1:] or [None]
        if last[0] is not None and last[0] in ops and "remainder" not in ops[last[0]]:
            problems.append(Problem(None, f"routes.{r_name}", f"last operation '{last[0]}' needs a 'remainder' stream"))
    if problems:
        raise InvalidInput(problems, source="route parameters")


def route_names(params: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Routes defined in the parameters."""
    p = params if params is not None else load_toml("recovery_routes.toml")
    return tuple(p["routes"])


def compile_route(route: str, form: str, params: Mapping[str, Any] | None = None) -> CompiledRoute:
    """Compile a route for an input form into linear operators (see :class:`CompiledRoute`)."""
    check_form(form)
    if params is None:
        return _compile_default(route, form)
    return _compile(route, form, params)


@cache
def _compile_default(route: str, form: str) -> CompiledRoute:
    return _compile(route, form, load_toml("recovery_routes.toml"))


def _compile(route: str, form: str, params: Mapping[str, Any]) -> CompiledRoute:
    if route not in params["routes"]:
        raise InvalidInput(Problem(None, "route", f"unknown route '{route}'; known: {', '.join(params['routes'])}"))
    ops_all = params["operations"]
    util = params["utilities"]
    op_names = [o for o in params["routes"][route]["operations"] if form in ops_all[o].get("applies_to", FORMS)]
    reach = np.ones(N_SPECIES)
    streams: list[Stream] = []
    coefs: list[np.ndarray] = []
    feeds: list[np.ndarray] = []
    cost = np.zeros(N_SPECIES)
    elec = np.zeros(N_SPECIES)
    gas = np.zeros(N_SPECIES)
    water = np.zeros(N_SPECIES)
    capital = np.zeros(N_SPECIES)
    direct = np.zeros(N_SPECIES)
    reagents: dict[str, np.ndarray] = {}
    carbon = np.array([CARBON_FRACTION.get(s, 0.0) for s in SPECIES])
    for k, op_name in enumerate(op_names):
        op = ops_all[op_name]
        last = k == len(op_names) - 1
        feeds.append(reach.copy())
        # per tonne of feed -> per kg of input species reaching the operation
        cost += reach * float(op.get("cost_usd_per_t", 0.0)) / 1000
        capital += reach * float(op.get("capital_usd_per_t", 0.0)) / 1000
        e = reach * float(op.get("electricity_kwh_per_t", 0.0)) / 1000
        g = reach * float(op.get("natural_gas_mj_per_t", 0.0)) / 1000
        elec += e
        gas += g
        water += reach * float(op.get("water_m3_per_t", 0.0)) / 1000
        for rg, kg_per_t in op.get("reagents_kg_per_t", {}).items():
            reagents[rg] = reagents.get(rg, np.zeros(N_SPECIES)) + reach * float(kg_per_t) / 1000
        for rg, spec in op.get("reagents", {}).items():
            mm = molar_mass_g_per_mol(params["reagents"][rg]["formula"])
            v = np.zeros(N_SPECIES)
            for sp, mol in spec.get("mol_per_mol", {}).items():
                i = SPECIES_INDEX[sp]
                v[i] = float(mol) * mm / SPECIES_MOLAR_MASS[sp]
            reagents[rg] = reagents.get(rg, np.zeros(N_SPECIES)) + reach * v * float(spec.get("excess", 1.0))
        taken = np.zeros(N_SPECIES)
        remainder_name = op.get("remainder") if last else None
        op_streams = dict(op.get("streams", {}))
        for st_name, st in op_streams.items():
            t = np.zeros(N_SPECIES)
            for sp, f in st.get("transfer", {}).items():
                t[SPECIES_INDEX[sp]] = float(f)
            taken += t
            streams.append(_stream(st_name, op_name, st))
            coefs.append(reach * t)
        rest = reach * np.clip(1.0 - taken, 0.0, 1.0)
        if last:
            if remainder_name not in op_streams:
                raise InvalidInput(f"operation {op_name}: remainder stream '{remainder_name}' is not defined")
            coefs[len(coefs) - len(op_streams) + list(op_streams).index(remainder_name)] += rest
            reach = np.zeros(N_SPECIES)
        else:
            reach = rest
    if op_names and "remainder" not in ops_all[op_names[-1]]:
        raise InvalidInput(f"route {route}: last operation {op_names[-1]} has no remainder stream")
    coef = np.array(coefs) if coefs else np.zeros((0, N_SPECIES))
    for i, s in enumerate(streams):
        if s.combusted:
            direct += coef[i] * carbon * CO2_PER_C
        if s.disposal_usd_per_t:
            cost += coef[i] * s.disposal_usd_per_t / 1000
    for rg, v in reagents.items():
        direct += v * float(params["reagents"][rg].get("direct_kg_co2_per_kg", 0.0))
    cost += capital
    cost += elec * float(util["electricity_usd_per_kwh"]) + gas * float(util["natural_gas_usd_per_mj"]) + water * float(
        util["water_usd_per_m3"])
    return CompiledRoute(
        route=route, form=form, operations=tuple(op_names), streams=tuple(streams), stream_coef=coef,
        operation_feed=np.array(feeds) if feeds else np.zeros((0, N_SPECIES)), cost_usd_per_kg=cost,
        electricity_kwh_per_kg=elec, natural_gas_mj_per_kg=gas, water_m3_per_kg=water, reagent_kg_per_kg=reagents,
        direct_co2_kg_per_kg=direct, params=params, capital_usd_per_kg=capital,
    )


def _stream(name: str, op: str, st: Mapping[str, Any]) -> Stream:
    return Stream(
        name=name, operation=op, kind=st.get("kind", "residue"), commodity=st.get("commodity"),
        valuation=st.get("valuation", "none"), element=st.get("element"), payable=dict(st.get("payable", {})),
        disposal_usd_per_t=float(st.get("disposal_usd_per_t", 0.0)), combusted=bool(st.get("combusted", False)),
    )


def lithium_product(params: Mapping[str, Any] | None = None) -> str:
    """Lithium salt made by the hydrometallurgical route (``Li2CO3`` or ``LiOH.H2O``)."""
    p = params if params is not None else load_toml("recovery_routes.toml")
    return str(p["operations"]["hydrometallurgy"].get("lithium_product", "Li2CO3"))
