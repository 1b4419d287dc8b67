"""Throughput of the registered plants from their recorded lots (tables of migration 0003).

A plant's input is the mass of its input lots (batteries received) plus the lots of *other* plants that its
own lots were made from (a refining hub's intermediate lots, e.g. black mass received from a recycler), so a
plant that records no input lot of its own still shows its throughput.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from circulith.store.lot_models import PlantLot, PlantLotSource
from circulith.store.models import Organisation


def input_mass_by_plant_year(session: Session) -> list[tuple[str, str, str | None, int, float]]:
    """``(plant_id, actor_org_id, country, year, input_mass_kg)`` summed over each plant's inputs per year.

    Input lots: the year is the lot's period (its receipt date), the mass the sum of its items [kg]. Lots of
    another plant used as sources: the year is the period of the first own lot made from it, the mass the
    source lot's ``mass_kg`` [kg], each source lot counted once per plant.
    """
    acc: dict[tuple[str, str, str | None, int], float] = {}
    rows = session.execute(
        select(PlantLot.plant_id, PlantLot.actor_org_id, Organisation.country, PlantLot.period, PlantLot.document)
        .join(Organisation, Organisation.org_id == PlantLot.actor_org_id)
        .where(PlantLot.lot_type == "input")
    )
    for plant, org, country, period, doc in rows:
        items = json.loads(doc).get("items", [])
        key = (str(plant), str(org), str(country) if country else None, int(period.year))
        acc[key] = acc.get(key, 0.0) + float(sum(float(i.get("mass_kg", 0.0)) for i in items))
    src = aliased(PlantLot)
    received = session.execute(
        select(PlantLot.plant_id, PlantLot.actor_org_id, Organisation.country, PlantLot.period, src.lot_id,
               src.document)
        .join(PlantLotSource, PlantLotSource.lot_id == PlantLot.lot_id)
        .join(src, src.lot_id == PlantLotSource.source_lot_id)
        .join(Organisation, Organisation.org_id == PlantLot.actor_org_id)
        .where(src.plant_id != PlantLot.plant_id)
        .order_by(PlantLot.period)
    )  # fmt: skip
    seen: set[tuple[str, str]] = set()
    for plant, org, country, period, source_id, doc in received:
        if (str(plant), str(source_id)) in seen:
            continue
        seen.add((str(plant), str(source_id)))
        key = (str(plant), str(org), str(country) if country else None, int(period.year))
        acc[key] = acc.get(key, 0.0) + float(json.loads(doc).get("mass_kg", 0.0) or 0.0)
    return [(*k, v) for k, v in sorted(acc.items())]
