"""Forecast scenarios: the parameters a planner varies, with defaults from ``lifetime_defaults.toml``.

A scenario file is TOML; every key is optional (defaults in brackets)::

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

    [prices_usd_per_kg]                  # contained element prices; each key given overrides the
    Li = 80.0                            # recovery price book (prices.csv) as of scenario.price_date
    Ni = 16.0                            # (default: the newest date in the book)
    Co = 29.0
    Mn = 2.0

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
from circulith.planning.reference_data import load_lifetime_defaults

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
    name: str = "baseline"
    regions: list[str] = Field(default_factory=lambda: ["China", "Europe", "USA", "Rest of the world"])
    modes: list[str] = Field(default_factory=lambda: ["Cars", "Buses", "Vans", "Trucks"])
    first_sales_year: int = 2011
    last_sales_year: int = 2035
    end_year: int = 2045
    sales_projection: str = "Projection-STEPS"
    ensemble_members: int = Field(200, ge=1, le=5000)
    relative_sd: float = Field(0.12, ge=0.0, le=1.0)
    seed: int = 0
    interval: tuple[float, float] = (0.05, 0.95)
    group_by: list[str] = Field(default_factory=lambda: ["region"])
    price_date: dt.date | None = None
    lifetime: dict[str, LifetimeParams]
    second_life_share: float = Field(ge=0.0, le=1.0)
    second_life_years: int = Field(ge=0, le=30)
    scrap_years: list[int]
    scrap_share: list[float]
    prices_usd_per_kg: dict[str, float] = Field(default_factory=dict)
    pack_kwh: dict[str, dict[str, float]]

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
        return {**book, **self.prices_usd_per_kg}, note

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
    sc = dict(data.get("scenario", {}))
    unknown_top = set(data) - {"scenario", "lifetime", "second_life", "production_scrap", "prices_usd_per_kg",
                               "pack_kwh"}  # fmt: skip
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
    prices = dict(data.get("prices_usd_per_kg", {}))  # explicit overrides only; the rest from the price book
    pack = {m: {p: v for p, v in d.items() if p != "source"} for m, d in defaults["pack_kwh"].items()}
    for m, d in data.get("pack_kwh", {}).items():
        pack[m] = {**pack.get(m, {}), **d}
    try:
        scenario = Scenario(
            **sc,
            lifetime=lifetime,
            second_life_share=sl["share"],
            second_life_years=sl["duration_years"],
            scrap_years=scrap["years"],
            scrap_share=scrap["share"],
            prices_usd_per_kg=prices,
            pack_kwh=pack,
        )
    except ValidationError as exc:
        problems = [Problem(None, ".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidInput(problems, source=source) from exc
    if len(scenario.scrap_years) != len(scenario.scrap_share):
        raise InvalidInput(Problem(None, "production_scrap", "years and share differ in length"), source=source)
    scenario.lifetimes()  # bounds check now, with names
    return scenario
