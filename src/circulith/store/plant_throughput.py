"""Throughput of the registered plants from their recorded input lots (tables of migration 0003)."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from circulith.store.lot_models import PlantLot
from circulith.store.models import Organisation


def input_mass_by_plant_year(session: Session) -> list[tuple[str, str, str | None, int, float]]:
    """``(plant_id, actor_org_id, country, year, input_mass_kg)`` summed over each plant's input lots per year.

    The year is the lot's period (its receipt date); the mass is the sum of the lot's items [kg].
    """
    rows = session.execute(
        select(PlantLot.plant_id, PlantLot.actor_org_id, Organisation.country, PlantLot.period, PlantLot.document)
        .join(Organisation, Organisation.org_id == PlantLot.actor_org_id)
        .where(PlantLot.lot_type == "input")
    )
    acc: dict[tuple[str, str, str | None, int], float] = {}
    for plant, org, country, period, doc in rows:
        items = json.loads(doc).get("items", [])
        key = (str(plant), str(org), str(country) if country else None, int(period.year))
        acc[key] = acc.get(key, 0.0) + float(sum(float(i.get("mass_kg", 0.0)) for i in items))
    return [(*k, v) for k, v in sorted(acc.items())]
