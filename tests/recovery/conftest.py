"""Fixtures: a plant year of lots built from the engine's own hydro run (a realistic, closed mass balance)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from circulith.recovery.black_mass import element_fractions_in_form
from circulith.recovery.lots import InputLot, IntermediateLot, LotItem, ProductLot
from circulith.recovery.valuation import evaluate

YEAR = 2031


@pytest.fixture(autouse=True)
def _cli_acts_as_nobody_named() -> Iterator[None]:
    """Each test starts with no global ``--as`` left over from an earlier in-process CLI run."""
    from circulith.cli.common import state

    old = state.acting_org
    state.acting_org = None
    yield
    state.acting_org = old


def plant_lots(plant: str = "P1", year: int = YEAR, route: str = "hydro") -> list:
    items = [LotItem(battery_id=f"{plant}-B{i}", chemistry="NMC622", form="pack", mass_kg=400.0) for i in range(10)]
    inp = InputLot(lot_id=f"{plant}-IN", plant_id=plant, received_on=dt.date(year, 2, 1), items=items)
    r = evaluate("NMC622", "pack", inp.mass_kg, route)
    ef = element_fractions_in_form("NMC622", "black_mass")
    bm = IntermediateLot(lot_id=f"{plant}-BM", plant_id=plant, produced_on=dt.date(year, 2, 10),
                         source_lot_ids=[inp.lot_id], mass_kg=r.black_mass_kg,
                         assay={e: ef[e] for e in ("Li", "Ni", "Co", "Mn", "Cu", "Al")},
                         electricity_kwh=r.electricity_kwh * 0.3, natural_gas_mj=r.natural_gas_mj * 0.1)
    lots: list = [inp, bm]
    for p in r.products:
        if p.kind not in ("product", "by_product") or p.mass_kg <= 0:
            continue
        content = {e: kg / p.mass_kg for e, kg in p.element_kg.items() if e not in ("O", "F", "other")}
        lots.append(ProductLot(
            lot_id=f"{plant}-{p.stream}", plant_id=plant, produced_on=dt.date(year, 3, 1),
            source_lot_ids=[bm.lot_id if p.operation in ("hydrometallurgy", "direct") else inp.lot_id],
            mass_kg=p.mass_kg, commodity=p.commodity or p.stream, route=route, element_content=content,
            electricity_kwh=r.electricity_kwh * 0.7 / 10, natural_gas_mj=r.natural_gas_mj * 0.9 / 10,
            direct_co2_kg=r.direct_co2_kg / 10,
        ))
    return lots


@pytest.fixture
def lots() -> list:
    return plant_lots()
