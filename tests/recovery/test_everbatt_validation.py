"""Validation against Argonne EverBatt 2023's default black-mass case.

Reference: EverBatt 2023 workbook (Argonne National Laboratory; method: Dai et al., ANL-19/16, 2019), default
case of its "CM Rec Par." sheet — 10,000 t/yr of black mass per recovery plant, 10-year life, 1 %/yr — with
the workbook's own product prices and yields. EverBatt's result tables are not in a document we could
retrieve; the figures are the workbook's values as reproduced by the regression tests of the independent port
github.com/zhouzhq2021/recycle_cost_tool (tests/test_cm_recovery.py, src/recycle_cost/cm_recovery.py,
src/recycle_cost/output_parity.py). They, and how the totals are derived from them, are shipped in
``reference/data/everbatt_2023_reference.toml``.

What is compared, per kg of black mass (EverBatt's default feed; per kg of cell is NOT covered):

* annualised capital from fixed capital — exact (our capital recovery factor vs EverBatt's);
* revenue of each route for NMC622, and pyro for NMC811 and LFP, with EverBatt's prices and yields but OUR
  catalogue black mass — within 15 %. Our NMC622 black mass holds 52.5 % cathode against EverBatt's 60.4 %
  (EverBatt's pretreatment strips more inactive mass), which is why we sit 11-14 % low;
* cost without the purchase of the black mass — calibrated to NMC622 (so that comparison checks the
  calibration holds), then compared for LFP, which was not calibrated: pyro and hydro within 15 %; direct is
  18 % high because our direct operation costs the same per tonne whatever the cathode content, while
  EverBatt sizes the relithiation furnace on cathode mass (LFP black mass carries less).

NOT compared: energy and GHG. The EverBatt figures available for them (e.g. "Recycling GHGs" of the case)
come without a unit we could establish, so the route energy and emission defaults remain engineering
assumptions (see ``recovery_routes.toml``).
"""

from __future__ import annotations

import datetime as dt

import pytest

from circulith.recovery.prices import price_book_from_rows
from circulith.recovery.reference_data import load_toml
from circulith.recovery.routes import annualised_capital_usd_per_t, apply_overrides, capital_recovery_factor
from circulith.recovery.valuation import evaluate

REF = load_toml("everbatt_2023_reference.toml")
DATE = dt.date(2023, 1, 1)
ROUTES = ("pyro", "hydro", "direct")
OPERATION = {"pyro": "smelting", "hydro": "hydrometallurgy", "direct": "direct"}


@pytest.fixture(scope="module")
def everbatt_prices():
    p = REF["prices_usd_per_kg"]
    basis = {"Ni": "contained_metal", "Co": "contained_metal", "Mn": "contained_metal", "Cu": "contained_metal",
             "Al": "contained_metal"}
    rows = [{"commodity": c, "price": str(v), "unit": "USD/kg", "basis": basis.get(c, "product"),
             "date": DATE.isoformat(), "source": REF["source"]}
            for c, v in p.items() if c not in ("source", "Cu_metal")]
    return price_book_from_rows(rows)


@pytest.fixture(scope="module")
def everbatt_params():
    """Shipped routes with EverBatt's valuation: its intermediate prices are already net, so payable 1.0."""
    return apply_overrides({"operations": {
        "smelting": {"streams": {"alloy": {"payable": {"Ni": 1.0, "Co": 1.0, "Cu": 1.0}}}},
        "hydrometallurgy": {"streams": {"copper_cement": {"payable": {"Cu": 1.0}}}},
    }})


@pytest.mark.parametrize("route", ROUTES)
def test_annualised_capital_reproduces_everbatt(route: str) -> None:
    """EverBatt 2023 CM Rec Par.: fixed capital annualised at 1 %/yr over 10 years (e.g. pyro 75.59 → 7.98 MUSD/yr)."""
    c = REF["cost"]["NMC622"]
    fixed, annual = c["fixed_capital_usd"][route], c["annualised_capital_usd_per_year"][route]
    assert fixed * capital_recovery_factor(0.01, 10) == pytest.approx(annual, rel=1e-8)
    per_t = annualised_capital_usd_per_t(fixed, 10000, rate=0.01, life_years=10)
    # the shipped default of the route's recovery operation is this figure, rounded
    shipped = load_toml("recovery_routes.toml")["operations"][OPERATION[route]]["capital_usd_per_t"]
    assert shipped == pytest.approx(per_t, rel=0.005)


def test_capital_recovery_factor_edge_cases() -> None:
    assert capital_recovery_factor(0.0, 8) == pytest.approx(1 / 8)
    assert capital_recovery_factor(0.08, 20) == pytest.approx(0.101852, rel=1e-5)  # standard annuity table
    from circulith.errors import InvalidInput
    with pytest.raises(InvalidInput):
        capital_recovery_factor(-0.01, 10)
    with pytest.raises(InvalidInput):
        annualised_capital_usd_per_t(1e6, 0.0)


@pytest.mark.parametrize(("chemistry", "route"), [("NMC622", "pyro"), ("NMC622", "hydro"), ("NMC622", "direct"),
                                                  ("NMC811", "pyro"), ("LFP", "pyro")])
def test_revenue_per_kg_black_mass_within_15_percent(chemistry, route, everbatt_prices, everbatt_params) -> None:
    """EverBatt 2023 revenue per kg black mass (reference TOML [revenue]); ours with our own black mass."""
    expected = REF["revenue"][chemistry]["total"][route]
    got = evaluate(chemistry, "black_mass", 1.0, route, prices=everbatt_prices, as_of=DATE,
                   params=everbatt_params).revenue_usd
    assert got == pytest.approx(expected, rel=0.15)


def test_revenue_gap_is_the_cathode_share_of_black_mass(everbatt_prices, everbatt_params) -> None:
    """Direct-route revenue is the cathode line: ours / EverBatt's equals our cathode share / EverBatt's (60.4 %)."""
    from circulith.recovery.black_mass import black_mass_composition
    bm = black_mass_composition("NMC622")
    ours = sum(bm.get(s, 0.0) for s in ("Li", "Ni", "Co", "Mn", "O"))
    eb = REF["black_mass"]["NMC622"]["cathode"]
    r = evaluate("NMC622", "black_mass", 1.0, "direct", prices=everbatt_prices, as_of=DATE, params=everbatt_params)
    cathode = next(p for p in r.products if p.stream == "cathode").revenue_usd
    assert cathode / REF["revenue"]["NMC622"]["lines"]["direct_cathode"] == pytest.approx(ours / eb, rel=0.01)


@pytest.mark.parametrize(("chemistry", "route", "rel"), [
    ("NMC622", "pyro", 0.02), ("NMC622", "hydro", 0.02), ("NMC622", "direct", 0.02),  # calibrated
    ("LFP", "pyro", 0.15), ("LFP", "hydro", 0.15),  # not calibrated
    ("LFP", "direct", 0.25),  # known deviation (+18 %), see module docstring
])
def test_cost_without_feed_per_kg_black_mass(chemistry, route, rel, everbatt_prices) -> None:
    """EverBatt 2023 cost per kg black mass less the black-mass purchase (reference TOML [cost] non_feed)."""
    expected = REF["cost"][chemistry]["non_feed"][route]
    r = evaluate(chemistry, "black_mass", 1.0, route, prices=everbatt_prices, as_of=DATE)
    assert r.cost_usd == pytest.approx(expected, rel=rel)
    assert r.capital_cost_usd == pytest.approx(
        REF["cost"]["NMC622"]["annualised_capital_usd_per_year"][route] / 1e7, rel=0.005)


def test_lfp_direct_cost_deviation_is_known(everbatt_prices) -> None:
    """Documented: our LFP direct cost is above EverBatt's by 10-25 % (flat per-tonne cost; see docstring)."""
    r = evaluate("LFP", "black_mass", 1.0, "direct", prices=everbatt_prices, as_of=DATE)
    ratio = r.cost_usd / REF["cost"]["LFP"]["non_feed"]["direct"]
    assert 1.10 < ratio < 1.25


def test_plant_capital_overrides_default() -> None:
    """A plant replaces EverBatt's capital with its own: capex 120 MUSD for 20 kt/yr at 8 % over 15 years."""
    own = annualised_capital_usd_per_t(120e6, 20000, rate=0.08, life_years=15)
    params = apply_overrides({"operations": {"hydrometallurgy": {"capital_usd_per_t": own}}})
    base = evaluate("NMC622", "black_mass", 1000.0, "hydro")
    mine = evaluate("NMC622", "black_mass", 1000.0, "hydro", params=params)
    assert mine.capital_cost_usd == pytest.approx(own, rel=1e-9)
    assert mine.cost_usd - base.cost_usd == pytest.approx(own - base.capital_cost_usd, rel=1e-9)
