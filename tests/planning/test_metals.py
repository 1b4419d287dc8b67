"""Contained metal from the recovery catalogue and prices from the recovery price book."""

import datetime as dt

import pytest

from circulith.errors import InvalidInput
from circulith.planning.metals import contained_kg_per_kwh, metal_prices_usd_per_kg
from circulith.planning.scenario import scenario_from_mapping

NI, CO = 58.6934, 58.933194  # IUPAC standard atomic weights [g/mol]
LCE_PER_LI = 73.8891 / (2 * 6.94)  # kg Li2CO3 per kg Li


def test_catalogue_metals_follow_the_cathode_stoichiometry():
    m = contained_kg_per_kwh(["NMC811", "NMC111", "LFP", "NaIon"])
    # LiNi0.8Mn0.1Co0.1O2: Ni/Co mass ratio = 8 * M(Ni) / M(Co) (Co is only in the cathode)
    assert m.loc["NMC811", "Ni"] / m.loc["NMC811", "Co"] == pytest.approx(8 * NI / CO, rel=0.01)
    assert m.loc["NMC111", "Ni"] / m.loc["NMC111", "Co"] == pytest.approx(NI / CO, rel=0.01)
    assert m.loc["LFP", ["Ni", "Co", "Mn"]].sum() == 0.0
    assert m.loc["NaIon", "Li"] == 0.0
    # order of magnitude: ~0.1 kg Li per kWh for Li-ion packs (fallback table derived independently)
    assert 0.05 < m.loc["NMC811", "Li"] < 0.2
    assert m["source"].str.contains("catalogue").all()


def test_unknown_chemistry_is_refused():
    with pytest.raises(InvalidInput, match="no composition"):
        contained_kg_per_kwh(["NMC999"])


def test_prices_come_from_the_dated_book():
    p, when = metal_prices_usd_per_kg(dt.date(2022, 12, 31))
    assert when == "2022-12-31"
    # prices.csv: Li2CO3 37,000 USD/t (USGS MCS 2024, 2022 average), Ni 25,834 USD/t (World Bank, 2022)
    assert p["Li"] == pytest.approx(37.0 * LCE_PER_LI, rel=1e-3)
    assert p["Ni"] == pytest.approx(25.834)


def test_scenario_overrides_only_the_prices_it_names():
    sc = scenario_from_mapping({"scenario": {"price_date": "2022-12-31"}, "prices_usd_per_kg": {"Co": 10.0}})
    prices, note = sc.prices()
    assert prices["Co"] == 10.0
    assert prices["Ni"] == pytest.approx(25.834)
    assert "2022-12-31" in note and "Co" in note
    with pytest.raises(InvalidInput, match="unknown metal"):
        scenario_from_mapping({"prices_usd_per_kg": {"Fe": 1.0}}).prices()
