"""Forecast scenarios: the parameters a planner varies, with defaults from ``lifetime_defaults.toml``.

A scenario file is TOML; every key is optional (the values shown are the shipped defaults of
``lifetime_defaults.toml``, which the code reads; nothing here is a code default)::

    [scenario]
    name = "baseline"                    # free text
    regions = ["China", "Europe", "USA"] # IEA region names (iea_ev_sales.csv)
    modes = ["Cars", "Buses", "Vans", "Trucks"]
    first_sales_year = 2011              # first cohort
    last_sales_year = 2035               # last cohort (IEA projection held flat after 2035)
    end_year = 2045                      # last forecast year
    sales_projection = "Projection-STEPS"  # or "Projection-APS"
    ensemble_members = 200
    relative_sd = 0.12                   # spread of lifetime parameters when sampled
    seed = 0
    interval = [0.05, 0.95]
    group_by = ["region"]                # any of region, chemistry, segment
    price_date = "2024-12-31"            # date of the price-book prices (ISO); default the newest

    [lifetime.Cars]                      # any of Cars, Vans, Buses, Trucks; any subset of the keys
    battery_shape = 3.5
    battery_scale_years = 15.0
    vehicle_shape = 4.0
    vehicle_scale_years = 16.0
    crash_hazard_per_year = 0.004

    [second_life]
    share = 0.15
    duration_years = 7

    [production_scrap]
    years = [2015, 2020, 2025, 2030]
    share = [0.15, 0.10, 0.07, 0.05]

    [prices_usd_per_kg]                  # element prices [USD/kg]; each key given overrides the
    Li = 80.0                            # recovery price book (prices.csv) as of scenario.price_date
    Ni = { value = 16.0, basis = "contained" }   # (default: the newest date in the book)
    Co = 29.0                            # a bare number is per kg of contained element;
    Mn = { value = 7.2, basis = "MnSO4.H2O" }    # a product basis is converted by mass fraction
                                         # contained prices outside scenario_price_ranges.csv are refused

    [scenario]
    price_multiplier = 1.0               # every contained-metal price times this (a price-drop scenario: 0.7)

    [inputs]
    network_sites = "sites.csv"          # network plan of the scenario (default: the shipped example)
    network_demand = "demand.csv"        # optional: without it the plan's collection volumes follow this
                                         # scenario's forecast (planning/forecast_demand.py)
    network_costs = "costs.csv"          # optional cost or distance matrix (planning/network_costs.py)
    sales = "my_sales.csv"               # the planner's sales (planning/sales_input.py: region, chemistry,
                                         # year, units[, segment, pack_kwh]), path relative to this file;
                                         # replaces the IEA series and chemistry shares
    registry_fleet = false               # true: the registry's own cohorts (production year, region,
                                         # chemistry) as forecast input (--db)

    [pack_kwh.Cars]
    BEV = 60.0
    PHEV = 20.0

Lifetime parameters outside sane bounds (``lifetime.SHAPE_BOUNDS`` ...) are refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from circulith.errors import InvalidInput, Problem
from circulith.planning.lifetime import CompetingRisks
from circulith.planning.reference_data import load_lifetime_defaults, load_scenario_price_ranges

INPUT_KEYS = ("sales", "registry_fleet", "network_sites", "network_demand", "network_costs")
"""Keys of a scenario's ``[inputs]`` section (file paths relative to the scenario file)."""
LIFETIME_KEYS = ("battery_shape", "battery_scale_years", "vehicle_shape", "vehicle_scale_years",
                 "crash_hazard_per_year")  # fmt: skip


class LifetimeParams(BaseModel):
    """Competing-risk lifetime parameters of one segment ([-], [year], [1/year])."""

    model_config = ConfigDict(extra="forbid")
    battery_shape: float
    battery_scale_years: float
    vehicle_shape: float
    vehicle_scale_years: float
    crash_hazard_per_year: float

    def risks(self) -> CompetingRisks:
        """As a :class:`CompetingRisks`."""
        return CompetingRisks(**self.model_dump())


class Scenario(BaseModel):
    """A forecast scenario; see the module docstring for the file format."""

    model_config = ConfigDict(extra="forbid")
    name: str
    regions: list[str]
    modes: list[str]
    first_sales_year: int
    last_sales_year: int
    end_year: int
    sales_projection: str
    ensemble_members: int = Field(ge=1, le=5000)
    relative_sd: float = Field(ge=0.0, le=1.0)
    seed: int
    interval: tuple[float, float]
    group_by: list[str]
    price_date: dt.date | None = None
    lifetime: dict[str, LifetimeParams]
    second_life_share: float = Field(ge=0.0, le=1.0)
    second_life_years: int = Field(ge=0, le=30)
    scrap_years: list[int]
    scrap_share: list[float]
    prices_usd_per_kg: dict[str, float] = Field(default_factory=dict)
    price_bases: dict[str, str] = Field(default_factory=dict)
    pack_kwh: dict[str, dict[str, float]]
    sales_file: str | None = None
    registry_fleet: bool = False
    price_multiplier: float = Field(1.0, gt=0.0, le=10.0)
    network_sites: str | None = None
    network_demand: str | None = None
    network_costs: str | None = None

    @field_validator("last_sales_year")
    @classmethod
    def _years(cls, v: int) -> int:
        if not 2010 <= v <= 2060:
            raise ValueError("must lie in [2010, 2060]")
        return v

    def lifetimes(self) -> dict[str, CompetingRisks]:
        """Central lifetime law per segment (validated against sane bounds)."""
        out = {}
        for seg, p in self.lifetime.items():
            r = p.risks()
            r.validate(where=f"lifetime.{seg}")
            out[seg] = r
        return out

    def prices(self) -> tuple[dict[str, float], str]:
        """Contained-metal prices in effect [USD/kg] and a note of their origin.

        The recovery price book as of ``price_date`` (newest if unset), with this scenario's explicit
        ``prices_usd_per_kg`` on top.
        """
        from circulith.planning.metals import metal_prices_usd_per_kg

        book, when = metal_prices_usd_per_kg(self.price_date)
        unknown = sorted(set(self.prices_usd_per_kg) - set(book))
        if unknown:
            raise InvalidInput(Problem(None, "prices_usd_per_kg", f"unknown metal(s) {unknown}; expected Li, Ni, Co, Mn"))
        bad = {k: v for k, v in self.prices_usd_per_kg.items() if not v >= 0}
        if bad:
            raise InvalidInput(Problem(None, "prices_usd_per_kg", f"prices must be >= 0, got {bad}"))
        note = f"recovery price book (prices.csv) as of {when}"
        if self.prices_usd_per_kg:
            note += f"; scenario overrides {sorted(self.prices_usd_per_kg)}"
        prices = {**book, **self.prices_usd_per_kg}
        if self.price_multiplier != 1.0:
            note += f"; every metal price x {self.price_multiplier:g}"
            prices = {k: v * self.price_multiplier for k, v in prices.items()}
        return prices, note

    def scrap_share_by_year(self) -> dict[int, float]:
        """Production-scrap share by key year."""
        return dict(zip(self.scrap_years, self.scrap_share, strict=True))


def scenario_from_mapping(data: dict[str, Any], *, source: str = "scenario") -> Scenario:
    """Build a :class:`Scenario` from parsed TOML, filling every missing key from the shipped defaults.

    Raises
    ------
    InvalidInput
        Unknown keys, wrong types, or values outside their bounds, each named.
    """
    defaults = load_lifetime_defaults()
    sc = {k: v for k, v in defaults["scenario"].items() if k != "source"}
    sc["relative_sd"] = defaults["ensemble"]["relative_sd"]
    sc.update(data.get("scenario", {}))
    unknown_top = set(data) - {"scenario", "lifetime", "second_life", "production_scrap", "prices_usd_per_kg",
                               "pack_kwh", "inputs"}  # fmt: skip
    if unknown_top:
        raise InvalidInput(Problem(None, ",".join(sorted(unknown_top)), "unknown section(s)"), source=source)
    lifetime: dict[str, dict[str, float]] = {}
    for seg, params in defaults["lifetime"].items():
        lifetime[seg] = {k: params[k] for k in LIFETIME_KEYS}
    for seg, params in data.get("lifetime", {}).items():
        base = lifetime.get(seg, {})
        lifetime[seg] = {**base, **params}
    sl = {**defaults["second_life"], **data.get("second_life", {})}
    scrap = {**defaults["production_scrap"], **data.get("production_scrap", {})}
    # explicit overrides only (the rest from the price book), each on a stated basis and range-checked
    prices, bases = contained_prices(data.get("prices_usd_per_kg", {}), source=source)
    inputs = dict(data.get("inputs", {}))
    unknown_inputs = set(inputs) - set(INPUT_KEYS)
    if unknown_inputs:
        raise InvalidInput(Problem(None, "inputs." + ",".join(sorted(unknown_inputs)), "unknown key(s); expected "
                                   + ", ".join(INPUT_KEYS)), source=source)  # fmt: skip
    pack = {m: {p: v for p, v in d.items() if p != "source"} for m, d in defaults["pack_kwh"].items()}
    for m, d in data.get("pack_kwh", {}).items():
        pack[m] = {**pack.get(m, {}), **d}
    try:
        scenario = Scenario.model_validate(dict(
            **sc,
            lifetime=lifetime,
            second_life_share=sl["share"],
            second_life_years=sl["duration_years"],
            scrap_years=scrap["years"],
            scrap_share=scrap["share"],
            prices_usd_per_kg=prices,
            price_bases=bases,
            pack_kwh=pack,
            sales_file=inputs.get("sales"),
            registry_fleet=bool(inputs.get("registry_fleet", False)),
            network_sites=inputs.get("network_sites"),
            network_demand=inputs.get("network_demand"),
            network_costs=inputs.get("network_costs"),
        ))
    except ValidationError as exc:
        problems = [Problem(None, ".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidInput(problems, source=source) from exc
    if len(scenario.scrap_years) != len(scenario.scrap_share):
        raise InvalidInput(Problem(None, "production_scrap", "years and share differ in length"), source=source)
    scenario.lifetimes()  # bounds check now, with names
    return scenario


PRICE_BASES: dict[str, tuple[str, ...]] = {
    "Li": ("Li2CO3", "LiOH.H2O"), "Ni": ("NiSO4.6H2O",), "Co": ("CoSO4.7H2O",), "Mn": ("MnSO4.H2O",),
}
"""Product bases a scenario price may be given on, besides ``contained`` (converted by mass fraction)."""


def contained_prices(raw: dict[str, Any], *, source: str = "scenario") -> tuple[dict[str, float], dict[str, str]]:
    """Scenario metal prices on the contained-element basis [USD/kg of element], each range-checked.

    ``Li = 80.0`` is a price per kg of contained Li; ``Li = { value = 10.5, basis = "Li2CO3" }`` a price per kg
    of the product, converted with the product's Li mass fraction (:func:`circulith.recovery.species.mass_fractions`).
    Each contained price must lie in the plausible range of ``scenario_price_ranges.csv``; a value outside it is
    refused with the likely basis mistake named (a carbonate price typed as contained Li).

    Returns
    -------
    (prices, bases) : tuple of dict
        Contained prices [USD/kg] and the basis each was given on.
    """
    from circulith.recovery.species import mass_fractions

    ranges = load_scenario_price_ranges()
    prices: dict[str, float] = {}
    bases: dict[str, str] = {}
    for metal, spec in raw.items():
        field = f"prices_usd_per_kg.{metal}"
        if metal not in ranges.index:
            raise InvalidInput(Problem(None, "prices_usd_per_kg", f"unknown metal(s) ['{metal}']; expected "
                                       f"{', '.join(ranges.index)}"), source=source)  # fmt: skip
        if isinstance(spec, dict):
            unknown = set(spec) - {"value", "basis", "unit"}
            if unknown or "value" not in spec:
                raise InvalidInput(Problem(None, field, "give { value = ..., basis = \"contained\" or a product }"),
                                   source=source)  # fmt: skip
            if spec.get("unit", "USD/kg") != "USD/kg":
                raise InvalidInput(Problem(None, field + ".unit", f"must be USD/kg, got {spec['unit']!r}"), source=source)
            value, basis = spec["value"], str(spec.get("basis", "contained"))
        else:
            value, basis = spec, "contained"
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise InvalidInput(Problem(None, field, f"prices must be numbers >= 0, got {value!r}"), source=source)
        if basis != "contained" and basis not in PRICE_BASES[metal]:
            raise InvalidInput(Problem(None, field + ".basis", f"unknown basis {basis!r}; expected contained or "
                                       f"{', '.join(PRICE_BASES[metal])}"), source=source)  # fmt: skip
        frac = 1.0 if basis == "contained" else mass_fractions(basis)[metal]
        contained = float(value) / frac
        lo, hi = float(ranges.loc[metal, "min_usd_per_kg"]), float(ranges.loc[metal, "max_usd_per_kg"])
        if not lo <= contained <= hi:
            hint = ""
            if basis == "contained" and PRICE_BASES[metal]:
                prod = PRICE_BASES[metal][0]
                as_prod = float(value) / mass_fractions(prod)[metal]
                if lo <= as_prod <= hi:
                    hint = (f"; as a {prod} price it is {as_prod:,.1f} USD/kg of contained {metal}: write "
                            f"{metal} = {{ value = {value}, basis = \"{prod}\" }}")  # fmt: skip
            raise InvalidInput(Problem(None, field, f"{contained:,.2f} USD/kg of contained {metal} is outside the "
                                       f"plausible range {lo:g}-{hi:g} USD/kg{hint}"), source=source)  # fmt: skip
        prices[metal] = contained
        bases[metal] = basis
    return prices, bases
