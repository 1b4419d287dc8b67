"""Dated price scenarios: commodity prices with sources, currency conversion, "price as of a date".

Observations are ``commodity, price, unit, basis, date, source`` rows (the shipped ``prices.csv`` and a
user's price file share that format). ``basis`` is ``product`` (price per tonne of the named product) or
``contained_metal`` (price per tonne of the metal it contains: Ni, Co, Mn, Cu, Al, Li). Prices are
converted to USD per kg when read, with the exchange rate of the observation's year from
``fx_rates.csv`` (ECB annual averages, expressed per euro). "Price as of DATE" is the latest
observation on or before DATE.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache

from circulith.errors import InvalidInput, NotFound, Problem
from circulith.recovery.composition import chemistry_codes
from circulith.recovery.reference_data import load_csv

#: Commodity names accepted without a suffix.
BASE_COMMODITIES: tuple[str, ...] = (
    "Li2CO3", "LiOH.H2O", "Ni", "Co", "Mn", "Cu", "Al", "steel", "graphite", "NiSO4.6H2O", "CoSO4.7H2O",
    "MnSO4.H2O",
)
#: Commodities with a chemistry suffix, e.g. ``black_mass:NMC622``.
PREFIXED_COMMODITIES: tuple[str, ...] = ("black_mass", "cathode")
#: Commodities that may be priced on a contained-metal basis.
METALS: tuple[str, ...] = ("Li", "Ni", "Co", "Mn", "Cu", "Al")
BASES = ("product", "contained_metal")

_MASS_UNIT_KG = {"t": 1000.0, "mt": 1000.0, "tonne": 1000.0, "kg": 1.0, "lb": 0.45359237, "g": 0.001}


def check_commodity(name: str, *, row: int | None = None) -> str:
    """Return ``name`` if it is a known commodity, else raise :class:`InvalidInput`."""
    if name in BASE_COMMODITIES:
        return name
    if ":" in name:
        prefix, chem = name.split(":", 1)
        if prefix in PREFIXED_COMMODITIES and chem in chemistry_codes():
            return name
    raise InvalidInput(Problem(row, "commodity", f"unknown commodity '{name}'; use one of "
                               f"{', '.join(BASE_COMMODITIES)}, black_mass:<chemistry>, cathode:<chemistry>"))


@cache
def _fx_table() -> dict[tuple[int, str], float]:
    return {(int(r["year"]), r["currency"]): float(r["units_per_eur"]) for r in load_csv("fx_rates.csv")}


def usd_per_unit(currency: str, on: dt.date, fx: Mapping[tuple[int, str], float] | None = None) -> float:
    """USD per unit of ``currency`` for the year of ``on`` (ECB annual averages via EUR cross rates)."""
    table = fx if fx is not None else _fx_table()
    if currency == "USD":
        return 1.0
    key_c, key_u = (on.year, currency), (on.year, "USD")
    if key_c not in table or key_u not in table:
        missing = currency if key_c not in table else "USD"
        raise InvalidInput(f"no exchange rate for {missing} in {on.year} (fx_rates.csv has "
                           f"{', '.join(str(y) for y, c in sorted(table) if c == missing) or 'none'})")
    return table[key_u] / table[key_c]


def parse_unit(unit: str) -> tuple[str, float]:
    """Split ``"CNY/t"`` into currency and kilograms per quantity unit."""
    m = re.fullmatch(r"\s*([A-Z]{3})\s*/\s*([A-Za-z]+)\s*", unit or "")
    if not m or m.group(2).lower() not in _MASS_UNIT_KG:
        raise InvalidInput(f"unit '{unit}' not understood; use CUR/t, CUR/kg or CUR/lb (e.g. USD/t, CNY/t, EUR/kg)")
    return m.group(1), _MASS_UNIT_KG[m.group(2).lower()]


@dataclass(frozen=True)
class PriceObservation:
    """One dated price, converted to USD per kg."""

    commodity: str
    usd_per_kg: float
    basis: str
    date: dt.date
    source: str
    original: str = ""


@dataclass(frozen=True)
class PriceBook:
    """A set of dated price observations; look up "as of" a date.

    Build with :func:`default_price_book`, :func:`price_book_from_rows`, and combine with
    :meth:`extend` (later observations replace earlier ones for the same commodity, basis and date).
    """

    observations: tuple[PriceObservation, ...] = ()
    _index: dict[tuple[str, str], list[PriceObservation]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        idx: dict[tuple[str, str], dict[dt.date, PriceObservation]] = {}
        for o in self.observations:
            idx.setdefault((o.commodity, o.basis), {})[o.date] = o
        self._index.update({k: sorted(v.values(), key=lambda o: o.date) for k, v in idx.items()})

    def extend(self, other: PriceBook | Iterable[PriceObservation]) -> PriceBook:
        """A new book with ``other``'s observations added (they win on ties)."""
        obs = other.observations if isinstance(other, PriceBook) else tuple(other)
        return PriceBook(self.observations + tuple(obs))

    def replace_all(self, other: PriceBook) -> PriceBook:
        """A new book in which each commodity/basis present in ``other`` uses only ``other``'s series."""
        keys = {(o.commodity, o.basis) for o in other.observations}
        kept = tuple(o for o in self.observations if (o.commodity, o.basis) not in keys)
        return PriceBook(kept + other.observations)

    def get(self, commodity: str, basis: str, as_of: dt.date) -> PriceObservation | None:
        """Latest observation on or before ``as_of`` (None if there is none)."""
        series = self._index.get((commodity, basis))
        if not series:
            return None
        best = None
        for o in series:
            if o.date <= as_of:
                best = o
            else:
                break
        return best

    def require(self, commodity: str, basis: str, as_of: dt.date) -> PriceObservation:
        """Like :meth:`get` but raises :class:`NotFound` with the reason when there is no price."""
        o = self.get(commodity, basis, as_of)
        if o is None:
            raise NotFound(f"no {basis} price for {commodity} on or before {as_of.isoformat()}; "
                           "add one to the price file")
        return o

    def scaled(self, commodity: str, factor: float) -> PriceBook:
        """A copy with every price of ``commodity`` multiplied by ``factor`` (for sensitivities)."""
        return PriceBook(tuple(replace(o, usd_per_kg=o.usd_per_kg * factor) if o.commodity == commodity else o
                               for o in self.observations))

    def commodities(self) -> tuple[str, ...]:
        """Commodities with at least one observation."""
        return tuple(sorted({o.commodity for o in self.observations}))

    def scenario(self, as_of: dt.date) -> dict[str, dict[str, float]]:
        """All prices in effect on a date: commodity → basis → USD/kg (for reports)."""
        out: dict[str, dict[str, float]] = {}
        for (c, b) in self._index:
            o = self.get(c, b, as_of)
            if o is not None:
                out.setdefault(c, {})[b] = o.usd_per_kg
        return out


def _parse_date(value: str, row: int) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise InvalidInput(Problem(row, "date", f"'{value}' is not an ISO date (YYYY-MM-DD)")) from None


def price_book_from_rows(rows: Iterable[Mapping[str, str]], *, source: str | None = None,
                         fx: Mapping[tuple[int, str], float] | None = None) -> PriceBook:
    """Validate price rows (``commodity, price, unit, basis, date, source``) into a :class:`PriceBook`.

    Every problem is collected; a single :class:`InvalidInput` lists them all.
    """
    problems: list[Problem] = []
    obs: list[PriceObservation] = []
    for n, r in enumerate(rows, start=1):
        before = len(problems)
        missing = [k for k in ("commodity", "price", "unit", "basis", "date") if not (r.get(k) or "").strip()]
        if missing:
            problems.extend(Problem(n, k, "missing") for k in missing)
            continue
        commodity = r["commodity"].strip()
        try:
            check_commodity(commodity, row=n)
        except InvalidInput as e:
            problems.extend(e.problems)
        basis = r["basis"].strip()
        if basis not in BASES:
            problems.append(Problem(n, "basis", f"'{basis}' must be 'product' or 'contained_metal'"))
        elif basis == "contained_metal" and commodity not in METALS:
            problems.append(Problem(n, "basis", f"contained_metal basis applies to {', '.join(METALS)} only"))
        try:
            price = float(r["price"])
            if not price >= 0 or price == float("inf"):
                problems.append(Problem(n, "price", f"must be a non-negative number, got {r['price']}"))
        except ValueError:
            problems.append(Problem(n, "price", f"'{r['price']}' is not a number"))
            price = 0.0
        try:
            date = _parse_date(r["date"], n)
        except InvalidInput as e:
            problems.extend(e.problems)
            continue
        try:
            cur, kg = parse_unit(r["unit"])
            usd = usd_per_unit(cur, date, fx)
        except InvalidInput as e:
            problems.append(Problem(n, "unit", str(e.problems[0].reason)))
            continue
        if len(problems) == before:
            obs.append(PriceObservation(commodity, price * usd / kg, basis, date, (r.get("source") or "").strip(),
                                        f"{r['price']} {r['unit']}"))
    if problems:
        raise InvalidInput(problems, source=source)
    return PriceBook(tuple(obs))


@cache
def default_price_book() -> PriceBook:
    """The shipped price series (``prices.csv``), every row with its source."""
    return price_book_from_rows(load_csv("prices.csv"), source="prices.csv")


def latest_price_date(book: PriceBook | None = None) -> dt.date:
    """Date of the newest observation in a book (default scenario date)."""
    b = book or default_price_book()
    return max(o.date for o in b.observations)
