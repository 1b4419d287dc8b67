"""Contained metal per kWh and metal prices for the forecast, from the recovery catalogue.

The contained Li, Ni, Co and Mn of a pack per kWh is the element mass fraction of the pack (recovery
composition catalogue, :func:`circulith.recovery.element_fractions` with ``form="pack"``) divided by the
pack specific energy of the chemistry (``chemistries.csv``)::

    m_X [kg/kWh] = w_X,pack [kg/kg] * 1000 / e_pack [Wh/kg]

Chemistries the catalogue lacks fall back to ``contained_metals_fallback.csv``. Prices of contained metal
come from the recovery price book (dated series in ``prices.csv``; Li valued as lithium carbonate
equivalent from the Li2CO3 price) as of a date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from circulith.errors import InvalidInput, Problem
from circulith.planning.reference_data import load_contained_metals_fallback

METALS: tuple[str, ...] = ("Li", "Ni", "Co", "Mn")


def contained_kg_per_kwh(chemistries: Iterable[str] | None = None) -> pd.DataFrame:
    """Contained Li, Ni, Co, Mn per kWh of pack by chemistry [kg/kWh].

    Parameters
    ----------
    chemistries : iterable of str, optional
        Chemistry codes; default: every code in the catalogue or the fallback table.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``chemistry``; columns ``Li, Ni, Co, Mn`` [kg/kWh] and ``source`` (``recovery catalogue``
        or the fallback row's source).
    """
    from circulith.recovery.composition import chemistries as catalogue_chemistries
    from circulith.recovery.composition import chemistry_codes, element_fractions

    fallback = load_contained_metals_fallback()
    known = chemistry_codes()
    codes = list(dict.fromkeys(chemistries)) if chemistries is not None else sorted(set(known) | set(fallback.index))
    rows = []
    missing = []
    for code in codes:
        if code in known:
            frac = element_fractions(code, "pack")
            e_pack = catalogue_chemistries()[code].pack_specific_energy_wh_per_kg
            rows.append({"chemistry": code, **{m: frac.get(m, 0.0) * 1000.0 / e_pack for m in METALS},
                         "source": "recovery composition catalogue (pack element fractions / pack specific energy)"})
        elif code in fallback.index:
            r = fallback.loc[code]
            rows.append({"chemistry": code, **{m: float(r[m]) for m in METALS}, "source": str(r["source"])})
        else:
            missing.append(code)
    if missing:
        raise InvalidInput(Problem(None, "chemistry", f"no composition for {missing} in the recovery catalogue "
                                   "or the fallback table"), source="contained metals")  # fmt: skip
    return pd.DataFrame(rows).set_index("chemistry")


def metal_prices_usd_per_kg(as_of: dt.date | None = None) -> tuple[dict[str, float], str]:
    """Prices of contained Li, Ni, Co, Mn from the recovery price book [USD/kg of element].

    Parameters
    ----------
    as_of : datetime.date, optional
        Price date ("latest observation on or before"); default: the newest date in the book.

    Returns
    -------
    (prices, date) : tuple
        Price per element and the ISO date they were taken at.
    """
    from circulith.recovery.prices import default_price_book, latest_price_date
    from circulith.recovery.valuation import metal_values_usd_per_kg

    book = default_price_book()
    when = as_of or latest_price_date(book)
    values = metal_values_usd_per_kg(book, when)
    missing = [m for m in METALS if m not in values]
    if missing:
        raise InvalidInput(Problem(None, "price_date", f"no price for {missing} on or before {when.isoformat()}"),
                           source="price book")  # fmt: skip
    return {m: float(values[m]) for m in METALS}, when.isoformat()
