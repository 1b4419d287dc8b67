"""Price scenarios, currency conversion, valuation, monotonicity in prices, published orderings."""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circulith.errors import InvalidInput, NotFound
from circulith.recovery.prices import default_price_book, price_book_from_rows, usd_per_unit
from circulith.recovery.readers import read_price_file
from circulith.recovery.valuation import (
    LCE_PER_KG_LI,
    black_mass_value,
    evaluate,
    metal_values_usd_per_kg,
    price_sensitivity,
    theoretical_metal_value,
)


def row(**kw: str) -> dict[str, str]:
    base = {"commodity": "Co", "price": "30000", "unit": "USD/t", "basis": "contained_metal", "date": "2023-06-30",
            "source": "test"}
    base.update(kw)
    return base


def test_as_of_is_latest_on_or_before() -> None:
    book = default_price_book()
    assert book.require("Ni", "contained_metal", dt.date(2023, 6, 1)).date == dt.date(2022, 12, 31)
    assert book.require("Ni", "contained_metal", dt.date(2023, 12, 31)).usd_per_kg == pytest.approx(21.521)
    with pytest.raises(NotFound, match="no contained_metal price for Ni on or before 2019-01-01"):
        book.require("Ni", "contained_metal", dt.date(2019, 1, 1))


def test_every_shipped_price_has_a_source() -> None:
    assert all(o.source for o in default_price_book().observations)


def test_currency_conversion_with_ecb_cross_rates() -> None:
    # ECB 2023 annual averages: 1.0813 USD/EUR, 7.6600 CNY/EUR
    assert usd_per_unit("CNY", dt.date(2023, 5, 1)) == pytest.approx(1.0813 / 7.66)
    b = price_book_from_rows([row(price="250000", unit="CNY/t")])
    assert b.observations[0].usd_per_kg == pytest.approx(250.0 * 1.0813 / 7.66)
    b = price_book_from_rows([row(price="15", unit="USD/lb")])
    assert b.observations[0].usd_per_kg == pytest.approx(15 / 0.45359237)
    b = price_book_from_rows([row(price="30", unit="EUR/kg")])
    assert b.observations[0].usd_per_kg == pytest.approx(30 * 1.0813)


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({"unit": "CNY/t", "date": "2018-03-01"}, "unit", "no exchange rate for CNY in 2018"),
        ({"commodity": "Unobtainium"}, "commodity", "unknown commodity"),
        ({"commodity": "black_mass:NMC999"}, "commodity", "unknown commodity"),
        ({"price": "-5"}, "price", "non-negative"),
        ({"price": "abc"}, "price", "not a number"),
        ({"basis": "spot"}, "basis", "product"),
        ({"commodity": "steel", "basis": "contained_metal"}, "basis", "contained_metal basis applies"),
        ({"unit": "USD per tonne"}, "unit", "not understood"),
        ({"date": "30/06/2023"}, "date", "ISO date"),
    ],
)
def test_bad_price_rows(bad: dict, field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as e:
        price_book_from_rows([row(**bad)], source="prices.csv")
    assert e.value.problems[0].field == field and e.value.problems[0].row == 1


def test_price_file_replaces_and_extends(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("commodity,price,unit,basis,date,source\nCo,20000,USD/t,contained_metal,2025-03-31,my broker\n"
                 "cathode:NMC622,20,USD/kg,product,2025-03-31,my offtake\n")
    user = read_price_file(f)
    book = default_price_book().replace_all(user)
    assert book.require("Co", "contained_metal", dt.date(2025, 6, 1)).source == "my broker"
    assert book.get("Co", "contained_metal", dt.date(2024, 12, 31)) is None  # replaced series
    assert book.require("Ni", "contained_metal", dt.date(2025, 6, 1)).usd_per_kg == pytest.approx(16.812)
    direct = evaluate("NMC622", "cell", 1000, "direct", prices=book, as_of=dt.date(2025, 6, 1))
    cathode = next(p for p in direct.products if p.stream == "cathode")
    assert cathode.revenue_usd == pytest.approx(cathode.mass_kg * 20.0)
    (tmp_path / "q.csv").write_text("commodity,price\nCo,1\n")
    with pytest.raises(InvalidInput, match="missing column"):
        read_price_file(tmp_path / "q.csv")


def test_contained_metal_price_values_salts() -> None:
    """NiSO4.6H2O with no product price is valued at its contained Ni × the Ni price (payable 1)."""
    d = dt.date(2023, 12, 31)
    r = evaluate("NMC622", "cell", 1000, "hydro", as_of=d)
    ni = next(p for p in r.products if p.stream == "nickel_sulfate")
    assert ni.revenue_usd == pytest.approx(ni.element_kg["Ni"] * 21.521)
    # with a product price the salt is valued per tonne of salt instead
    book = default_price_book().extend(price_book_from_rows([row(commodity="NiSO4.6H2O", price="4000",
                                                                 basis="product", date="2023-12-31")]))
    ni2 = next(p for p in evaluate("NMC622", "cell", 1000, "hydro", prices=book, as_of=d).products
               if p.stream == "nickel_sulfate")
    assert ni2.revenue_usd == pytest.approx(ni2.mass_kg * 4.0)


def test_theoretical_metal_value_by_hand() -> None:
    d = dt.date(2023, 12, 31)
    v = theoretical_metal_value("NMC622", "cell", as_of=d)
    from circulith.recovery.composition import element_fractions

    ef = element_fractions("NMC622", "cell")
    assert v["Li"] == pytest.approx(ef["Li"] * 1000 * 5.3233 * 46.0, rel=1e-4)  # LCE × 46,000 USD/t
    assert v["Co"] == pytest.approx(ef["Co"] * 1000 * 33.1, rel=1e-9)
    assert v["total"] == pytest.approx(v["Li"] + v["Ni"] + v["Co"] + v["Mn"])
    assert metal_values_usd_per_kg(default_price_book(), d)["Li"] == pytest.approx(46.0 * LCE_PER_KG_LI)


def test_black_mass_payables() -> None:
    d = dt.date(2023, 12, 31)
    full = black_mass_value("NMC622", payables={"Ni": 1.0, "Co": 1.0, "Li": 1.0, "Mn": 1.0}, as_of=d)
    part = black_mass_value("NMC622", payables={"Ni": 0.75, "Co": 0.75}, as_of=d)
    assert full["total"] == pytest.approx(full["contained_value_usd"])
    assert part["Ni"] == pytest.approx(0.75 * full["Ni"])
    with pytest.raises(InvalidInput):
        black_mass_value("NMC622", payables={"Pb": 0.5})


COMMODITIES = ["Ni", "Co", "Mn", "Cu", "Al", "Li2CO3", "graphite", "steel"]


@settings(max_examples=40, deadline=None)
@given(commodity=st.sampled_from(COMMODITIES), factor=st.floats(1.0, 5.0),
       route=st.sampled_from(["pyro", "hydro", "direct", "black_mass"]), chem=st.sampled_from(["NMC622", "LFP", "NCA"]),
       form=st.sampled_from(["cell", "pack", "black_mass"]))
def test_value_is_monotone_in_each_price(commodity: str, factor: float, route: str, chem: str, form: str) -> None:
    book = default_price_book()
    base = evaluate(chem, form, 1000, route, prices=book)
    up = evaluate(chem, form, 1000, route, prices=book.scaled(commodity, factor))
    assert up.revenue_usd >= base.revenue_usd - 1e-9
    assert up.net_usd >= base.net_usd - 1e-9


def test_sensitivity_reports_nickel_for_nmc() -> None:
    s = price_sensitivity("NMC622", "cell", 1000, routes=("hydro",))
    assert s["hydro"]["Ni"] > 0 and s["hydro"]["Co"] > 0
    assert "Ni" not in price_sensitivity("LFP", "cell", 1000, routes=("hydro",))["hydro"]


def test_qualitative_findings_of_ciez_and_whitacre_2019() -> None:
    """Ciez & Whitacre, Nature Sustainability 2, 148 (2019): pyro and hydro recycling do not cut emissions much,
    while direct cathode recycling has the lowest process emissions; smelting loses the lithium; hydro and direct
    recover it. We check the orderings (our parameters are independent engineering assumptions, not theirs)."""
    for chem in ("NMC622", "LFP"):
        runs = {r: evaluate(chem, "cell", 1000, r) for r in ("pyro", "hydro", "direct")}
        assert runs["direct"].ghg_kg_co2e < min(runs["pyro"].ghg_kg_co2e, runs["hydro"].ghg_kg_co2e)
        assert runs["pyro"].element_recovery["Li"] == 0.0
        assert runs["hydro"].element_recovery["Li"] > 0.8
        # LFP holds little value for a smelter: pyro revenue is far below hydro and direct
        if chem == "LFP":
            assert runs["pyro"].revenue_usd < 0.5 * runs["hydro"].revenue_usd


def test_negative_mass_rejected() -> None:
    with pytest.raises(InvalidInput, match="non-negative"):
        evaluate("NMC622", "cell", -1.0, "hydro")
