"""Lots, chain of custody, assay checks, recycled-content allocation and the compliance report."""

import datetime as dt

import pytest

from circulith.errors import InvalidInput
from circulith.recovery.compliance import (
    CountingRules,
    applicable_targets,
    compliance_report,
    material_recovery_check,
    recycled_content_checks,
)
from circulith.recovery.lots import (
    InputLot,
    IntermediateLot,
    LotItem,
    NewBattery,
    ProductLot,
    allocate_recycled_content,
    check_assay,
    lot_from_payload,
    lot_yields,
    trace_to_batteries,
)

from .conftest import YEAR, plant_lots


def test_payload_round_trip(lots) -> None:
    for lot in lots:
        payload = lot.to_payload()
        assert payload["lot_type"] in ("input", "intermediate", "product")
        assert lot_from_payload(payload) == lot


def test_bad_payloads() -> None:
    with pytest.raises(InvalidInput, match="unknown lot_type"):
        lot_from_payload({"lot_type": "magic", "lot_id": "L"})
    with pytest.raises(InvalidInput) as e:
        lot_from_payload({"lot_type": "input", "lot_id": "L", "plant_id": "P", "received_on": "2026-01-01",
                          "items": [{"battery_id": "b", "chemistry": "NMC999", "mass_kg": 1}]})
    assert "NMC999" in str(e.value)
    with pytest.raises(InvalidInput, match="mass_kg"):
        lot_from_payload({"lot_type": "input", "lot_id": "L", "plant_id": "P", "received_on": "2026-01-01",
                          "items": [{"battery_id": "b", "chemistry": "LFP", "mass_kg": -3}]})
    with pytest.raises(InvalidInput, match="element_content"):
        lot_from_payload({"lot_type": "product", "lot_id": "L", "plant_id": "P", "produced_on": "2026-01-01",
                          "source_lot_ids": ["X"], "mass_kg": 1, "commodity": "alloy"})


def test_known_product_content_from_formula() -> None:
    p = ProductLot(lot_id="L", plant_id="P", produced_on=dt.date(2026, 1, 1), source_lot_ids=["X"], mass_kg=1000,
                   commodity="Li2CO3")
    assert p.element_kg()["Li"] == pytest.approx(1000 / 5.3233, rel=1e-4)
    assert "O" not in p.element_content  # reagent/anion elements never count


def test_assay_consistent_passes(lots) -> None:
    check_assay(lots[1], [lots[0]])


def test_assay_inconsistent_is_a_clear_error(lots) -> None:
    inp, bm = lots[0], lots[1]
    lfp_like = bm.model_copy(update={"assay": {"Ni": 0.01, "Fe": 0.2}})
    with pytest.raises(InvalidInput, match="assay.Fe") as e:
        check_assay(lfp_like, [inp])
    assert e.value.problems[0].record_id == bm.lot_id
    heavy = bm.model_copy(update={"mass_kg": inp.mass_kg * 2})
    with pytest.raises(InvalidInput, match="exceeds its input lots"):
        check_assay(heavy, [inp])
    off = bm.model_copy(update={"assay": {**bm.assay, "Co": bm.assay["Co"] * 0.3}})
    with pytest.raises(InvalidInput, match="input lots imply"):
        check_assay(off, [inp])
    with pytest.raises(InvalidInput, match="not given"):
        check_assay(bm, [])
    with pytest.raises(ValueError, match="sum to 1.3"):  # pydantic's ValidationError on direct construction
        IntermediateLot(lot_id="x", plant_id="P", produced_on=dt.date(2026, 1, 1), source_lot_ids=["a"], mass_kg=1,
                        assay={"Ni": 0.7, "Co": 0.6})
    with pytest.raises(InvalidInput, match="sum to 1.3"):  # and InvalidInput from a payload
        IntermediateLot.from_payload({"lot_id": "x", "plant_id": "P", "produced_on": "2026-01-01",
                                      "source_lot_ids": ["a"], "mass_kg": 1, "assay": {"Ni": 0.7, "Co": 0.6}})


def test_trace_product_to_batteries(lots) -> None:
    ids = trace_to_batteries("P1-nickel_sulfate", lots)
    assert ids == sorted(f"P1-B{i}" for i in range(10))
    with pytest.raises(InvalidInput, match="not in the records"):
        trace_to_batteries("nope", lots)


def test_lot_yields_close_the_balance(lots) -> None:
    y = lot_yields([lots[0]], lots[1:])
    assert 0.9 < y["element_yield"]["Ni"] <= 1.0
    assert y["element_yield"]["Cu"] <= 1.0 + 1e-9
    assert y["ghg_kg_co2e"] > 0 and y["energy_mj"] > 0


def test_compliance_report_hydro_plant(lots) -> None:
    rep = compliance_report(lots + plant_lots("P2"), "P1", YEAR)
    assert rep.input_lots == 1 and rep.input_mass_kg == pytest.approx(4000.0)
    assert 60 < rep.recycling_efficiency_pct < 100
    checks = {(c.regime, c.metric, c.material): c for c in rep.checks}
    # 2031: the end-2030 efficiency target (70 %) and end-2027 recovery targets are binding, end-2031 not yet
    assert checks[("EU", "recycling_efficiency", "total")].threshold_pct == 70
    assert checks[("EU", "material_recovery", "Li")].threshold_pct == 80
    assert checks[("EU", "material_recovery", "Co")].passed is (rep.material_recovery_pct["Co"] >= 95)
    assert checks[("CN", "material_recovery", "Ni")].threshold_pct == 98
    assert rep.carbon_footprint_kg_co2e_per_kwh > 0


def test_counting_rules_change_the_efficiency(lots) -> None:
    base = compliance_report(lots, "P1", YEAR).recycling_efficiency_pct
    no_graphite = compliance_report(lots, "P1", YEAR, rules=CountingRules(count_graphite=False))
    excl = compliance_report(lots, "P1", YEAR, rules=CountingRules(excluded_elements=frozenset({"C"})))
    assert no_graphite.recycling_efficiency_pct < base
    assert excl.counted_input_mass_kg < no_graphite.counted_input_mass_kg
    with pytest.raises(InvalidInput):
        compliance_report(lots, "P1", YEAR, rules=CountingRules(excluded_elements=frozenset({"Co"})))
    with pytest.raises(InvalidInput, match="no input lots"):
        compliance_report(lots, "P1", 1999)


def test_pyro_plant_fails_lithium_recovery() -> None:
    rep = compliance_report(plant_lots(route="pyro"), "P1", YEAR)
    li = next(c for c in rep.checks if c.regime == "EU" and c.material == "Li")
    assert li.passed is False and li.value_pct == pytest.approx(0.0)


def test_targets_in_force() -> None:
    t2025 = {(t.metric, t.material): t.threshold_pct for t in applicable_targets(2025, "EU")}
    assert t2025 == {("recycling_efficiency", "total"): 65}
    t2032 = {(t.metric, t.material): t.threshold_pct for t in applicable_targets(2032, "EU")}
    assert t2032[("material_recovery", "Li")] == 80 and t2032[("recycled_content", "Co")] == 16
    assert {(t.metric, t.material): t.threshold_pct for t in applicable_targets(2036, "EU")}[
        ("recycled_content", "Ni")] == 15
    checks = material_recovery_check({"Co": 0.93, "Li": 0.6})
    assert [c.passed for c in checks if c.material == "Co"] == [True, False]


def test_recycled_content_allocation() -> None:
    batteries = [NewBattery(battery_id=f"N{i}", co_kg=5.0, li_kg=6.0, ni_kg=40.0) for i in range(4)]
    shares = allocate_recycled_content({"Co": 8.0, "Li": 2.4, "Ni": 16.0}, {"Co": 12.0, "Li": 21.6, "Ni": 144.0},
                                       batteries)
    assert shares[0].co_share == pytest.approx(0.40) and shares[0].li_share == pytest.approx(0.10)
    assert sum(s.co_recycled_kg for s in shares) <= 8.0 + 1e-9
    checks = {c.material: c for c in recycled_content_checks(shares, 2031)}
    assert checks["Co"].passed and checks["Li"].passed and checks["Ni"].passed is True  # 10 % ≥ 6 %
    later = {c.material: c for c in recycled_content_checks(shares, 2036)}
    assert later["Ni"].passed is False  # 10 % < 15 %
    with pytest.raises(InvalidInput, match="only"):
        allocate_recycled_content({"Co": 1.0}, {"Co": 1.0}, batteries)


def test_input_lot_rejects_duplicates() -> None:
    item = LotItem(battery_id="b", chemistry="LFP", mass_kg=1)
    with pytest.raises(ValueError, match="twice"):
        InputLot(lot_id="L", plant_id="P", received_on=dt.date(2026, 1, 1), items=[item, item])
