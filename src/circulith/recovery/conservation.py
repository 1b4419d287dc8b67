"""Conservation of each element and of each lot's mass across the lots made from it (pure).

For every recorded lot ``S`` and the lots made from it (its consumers):

* **elements**: what the consumers carry of each element never exceeds what ``S`` holds, within the
  relative uncertainty ``S`` states for its assay (input lots: the uncertainty of the catalogue estimate).
  A consumer made from several sources is attributed to each in proportion to the sources' content of
  that element;
* **mass**: the intermediate lots (shred, black mass) made from ``S`` together weigh no more than ``S``: a
  lot's mass is consumed once. Splitting a lot between consumers is an explicit intermediate lot per part.

Product lots (salts, metals, foils) are not counted against the mass of their source, since reagents add
mass (sulphate, hydrate water, oxygen); their elements are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from circulith.recovery.lots import AnyLot, InputLot, IntermediateLot, ProductLot
from circulith.recovery.reference_data import lot_accounting_parameter

#: Absolute slack on every comparison [kg] (rounding of stored floats).
ABS_SLACK_KG = 1e-6


@dataclass(frozen=True)
class ConservationViolation:
    """An element (or the mass) of a source lot claimed more than once over."""

    source_lot_id: str
    element: str  # an element symbol, or "mass"
    available_kg: float
    claimed_kg: float
    uncertainty_rel: float
    consumer_lot_ids: tuple[str, ...]

    def message(self) -> str:
        """One line naming the element, the kilograms and the lots."""
        what = "mass" if self.element == "mass" else self.element
        return (f"{what}: the lots made from {self.source_lot_id} ({', '.join(self.consumer_lot_ids)}) carry "
                f"{self.claimed_kg:.3f} kg but {self.source_lot_id} holds {self.available_kg:.3f} kg "
                f"(± {self.uncertainty_rel:.1%})")


def lot_element_kg(lot: AnyLot) -> dict[str, float]:
    """Element masses a lot holds [kg]: estimated (input lots), assayed (intermediate) or declared (products)."""
    return {el: kg for el, kg in lot.element_kg().items() if kg > 0}


def uncertainty_rel(lot: AnyLot) -> float:
    """Relative uncertainty [fraction] of a lot's element masses: its stated assay uncertainty or the default."""
    if isinstance(lot, InputLot):
        return lot_accounting_parameter("input_estimate_uncertainty")
    stated = lot.assay_uncertainty_rel
    return stated if stated is not None else lot_accounting_parameter("default_assay_uncertainty")


def _shares(consumer: IntermediateLot | ProductLot, sources: Mapping[str, AnyLot],
            contents: Mapping[str, Mapping[str, float]], key: str) -> dict[str, float]:
    """Share of a consumer's element ``key`` (or its mass) attributed to each of its sources."""
    ids = [s for s in dict.fromkeys(consumer.source_lot_ids) if s in sources]
    if key == "mass":
        weights = {s: sources[s].mass_kg for s in ids}
    else:
        weights = {s: contents[s].get(key, 0.0) for s in ids}
    total = sum(weights.values())
    if total <= 0:
        return {s: 1.0 / len(ids) for s in ids} if ids else {}
    return {s: w / total for s, w in weights.items()}


def check_conservation(lots: Mapping[str, AnyLot], source_ids: Sequence[str]) -> list[ConservationViolation]:
    """Violations of element and mass conservation at each of ``source_ids``.

    Parameters
    ----------
    lots : mapping of lot ID to lot
        The source lots, every lot made from them, and every source of those (for the attribution).
    source_ids : sequence of str
        The lots whose consumers to check.
    """
    consumers: dict[str, list[IntermediateLot | ProductLot]] = {s: [] for s in source_ids}
    for lot in lots.values():
        if isinstance(lot, InputLot):
            continue
        for s in dict.fromkeys(lot.source_lot_ids):
            if s in consumers:
                consumers[s].append(lot)
    contents: dict[str, dict[str, float]] = {}

    def content(lot_id: str) -> dict[str, float]:
        if lot_id not in contents:
            contents[lot_id] = lot_element_kg(lots[lot_id])
        return contents[lot_id]

    for lot in lots.values():  # the sources of every consumer, computed once
        for s in getattr(lot, "source_lot_ids", []):
            if s in lots:
                content(s)
    out: list[ConservationViolation] = []
    for sid in source_ids:
        source, made = lots[sid], consumers[sid]
        if not made:
            continue
        u = uncertainty_rel(source)
        held = content(sid)
        claimed: dict[str, float] = {}
        by: dict[str, set[str]] = {}
        for c in made:
            for el, kg in content(c.lot_id).items():
                share = _shares(c, lots, contents, el).get(sid, 0.0)
                if share > 0:
                    claimed[el] = claimed.get(el, 0.0) + kg * share
                    by.setdefault(el, set()).add(c.lot_id)
        for el in sorted(claimed):
            avail = held.get(el, 0.0)
            if claimed[el] > avail * (1 + u) + ABS_SLACK_KG:
                out.append(ConservationViolation(sid, el, avail, claimed[el], u, tuple(sorted(by[el]))))
        parts = [c for c in made if isinstance(c, IntermediateLot)]
        if parts:
            mass = sum(c.mass_kg * _shares(c, lots, contents, "mass").get(sid, 0.0) for c in parts)
            if mass > source.mass_kg * (1 + 1e-9) + ABS_SLACK_KG:
                out.append(ConservationViolation(sid, "mass", source.mass_kg, mass, 0.0,
                                                 tuple(sorted(c.lot_id for c in parts))))
    return out
