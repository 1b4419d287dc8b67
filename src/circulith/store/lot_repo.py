"""Plant lots in the registry: insert, read, walk the lot graph, and the ledger events that anchor them.

Only storage: the checks (custody, lifecycle, conservation) and the events are composed in the recovery
services (:mod:`circulith.services.recovery` and its siblings). Every function runs in the caller's session.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from circulith.recovery.lots import AnyLot, InputLot, lot_from_payload
from circulith.store.ledger_store import chunks
from circulith.store.lot_models import LotTransfer, PlantLot, PlantLotBattery, PlantLotSource
from circulith.store.models import Battery, Event, Organisation

#: Ledger event kinds whose payload names a lot (``lot_id``, ``lot_sha256``).
LOT_EVENT_KINDS = ("shredded", "black_mass_lot_created", "material_output")


@dataclass(frozen=True)
class StoredLot:
    """A lot as stored: the parsed lot and its record."""

    lot: AnyLot
    document: str
    document_sha256: str
    recorded_at: str
    actor_org_id: str

    @property
    def lot_id(self) -> str:
        """The lot's identifier."""
        return self.lot.lot_id

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe summary: the lot payload and its record."""
        return {"lot": json.loads(self.document), "document_sha256": self.document_sha256,
                "recorded_at": self.recorded_at, "actor_org_id": self.actor_org_id}


def lot_period(lot: AnyLot) -> dt.date:
    """The date a lot belongs to: ``received_on`` for input lots, ``produced_on`` otherwise."""
    return lot.received_on if isinstance(lot, InputLot) else lot.produced_on


def insert_lot(session: Session, lot: AnyLot, *, document: str, document_sha256: str, recorded_at: str,
               actor_org_id: str, battery_ids: Sequence[str] = ()) -> None:
    """Insert one lot, its batteries (input lots) and its source edges."""
    session.execute(insert(PlantLot), [{
        "lot_id": lot.lot_id, "plant_id": lot.plant_id, "lot_type": lot.lot_type, "period": lot_period(lot),
        "document": document, "document_sha256": document_sha256, "recorded_at": recorded_at,
        "actor_org_id": actor_org_id,
    }])
    if battery_ids:
        session.execute(insert(PlantLotBattery), [{"lot_id": lot.lot_id, "battery_id": b} for b in battery_ids])
    sources = list(dict.fromkeys(getattr(lot, "source_lot_ids", [])))
    if sources:
        session.execute(insert(PlantLotSource), [{"lot_id": lot.lot_id, "source_lot_id": s} for s in sources])


def _stored(row: PlantLot) -> StoredLot:
    return StoredLot(lot=lot_from_payload(json.loads(row.document)), document=row.document,
                     document_sha256=row.document_sha256, recorded_at=row.recorded_at, actor_org_id=row.actor_org_id)


def get_lots(session: Session, lot_ids: Iterable[str]) -> dict[str, StoredLot]:
    """The stored lots among ``lot_ids`` (unknown ones are absent)."""
    out: dict[str, StoredLot] = {}
    for part in chunks(list(dict.fromkeys(lot_ids))):
        for row in session.execute(select(PlantLot).where(PlantLot.lot_id.in_(part))).scalars():
            out[row.lot_id] = _stored(row)
    return out


def lot_digests(session: Session, lot_ids: Iterable[str]) -> dict[str, str]:
    """``lot_id`` → stored ``document_sha256`` for the known lots among ``lot_ids``."""
    out: dict[str, str] = {}
    for part in chunks(list(dict.fromkeys(lot_ids))):
        out.update((a, b) for a, b in session.execute(
            select(PlantLot.lot_id, PlantLot.document_sha256).where(PlantLot.lot_id.in_(part))))
    return out


def plant_lots(session: Session, plant_id: str | None = None, *, start: dt.date | None = None,
               end: dt.date | None = None) -> list[StoredLot]:
    """A plant's lots (all plants when None), optionally dated within ``[start, end]``, in date order."""
    stmt = select(PlantLot).order_by(PlantLot.period, PlantLot.lot_id)
    if plant_id is not None:
        stmt = stmt.where(PlantLot.plant_id == plant_id)
    if start is not None:
        stmt = stmt.where(PlantLot.period >= start)
    if end is not None:
        stmt = stmt.where(PlantLot.period <= end)
    return [_stored(r) for r in session.execute(stmt).scalars()]


def iter_lot_rows(session: Session) -> Iterator[tuple[str, str, str]]:
    """Every stored lot as (lot_id, document, document_sha256)."""
    yield from session.execute(select(PlantLot.lot_id, PlantLot.document, PlantLot.document_sha256)
                               .order_by(PlantLot.lot_id))


def _closure(session: Session, lot_ids: Iterable[str], *, follow: str) -> set[str]:
    """The lots and every lot reached from them through the source links, transitively.

    ``follow="sources"`` walks to the lots each was made from; ``follow="products"`` to the lots made from it.
    """
    frm, to = ((PlantLotSource.lot_id, PlantLotSource.source_lot_id) if follow == "sources"
               else (PlantLotSource.source_lot_id, PlantLotSource.lot_id))
    seen: set[str] = set()
    frontier = list(dict.fromkeys(lot_ids))
    while frontier:
        seen.update(frontier)
        nxt: list[str] = []
        for part in chunks(frontier):
            nxt.extend(s for (s,) in session.execute(select(to).where(frm.in_(part))) if s not in seen)
        frontier = list(dict.fromkeys(nxt))
    return seen


def upstream(session: Session, lot_ids: Iterable[str]) -> set[str]:
    """The lots and every lot they were made from, transitively (the lots themselves included)."""
    return _closure(session, lot_ids, follow="sources")


def downstream(session: Session, lot_ids: Iterable[str]) -> set[str]:
    """The lots and every lot made from them, transitively (the lots themselves included)."""
    return _closure(session, lot_ids, follow="products")


def batteries_of(session: Session, input_lot_ids: Iterable[str]) -> dict[str, list[str]]:
    """Input lot → battery IDs (registry IDs, sorted)."""
    out: dict[str, list[str]] = {}
    for part in chunks(list(dict.fromkeys(input_lot_ids))):
        for lot_id, bid in session.execute(select(PlantLotBattery.lot_id, PlantLotBattery.battery_id)
                                           .where(PlantLotBattery.lot_id.in_(part))):
            out.setdefault(lot_id, []).append(bid)
    return {k: sorted(v) for k, v in out.items()}


def input_lots_of_batteries(session: Session, battery_ids: Iterable[str]) -> dict[str, list[str]]:
    """Battery ID → the input lots it was recorded in."""
    out: dict[str, list[str]] = {}
    for part in chunks(list(dict.fromkeys(battery_ids))):
        for lot_id, bid in session.execute(select(PlantLotBattery.lot_id, PlantLotBattery.battery_id)
                                           .where(PlantLotBattery.battery_id.in_(part))):
            out.setdefault(bid, []).append(lot_id)
    return out


def kinds_recorded(session: Session, battery_ids: Iterable[str], kinds: Sequence[str]) -> set[tuple[str, str]]:
    """(battery_id, kind) pairs among ``kinds`` already in the ledger for the batteries."""
    out: set[tuple[str, str]] = set()
    for part in chunks(list(dict.fromkeys(battery_ids))):
        out.update(session.execute(select(Event.battery_id, Event.kind).where(
            Event.battery_id.in_(part), Event.kind.in_(list(kinds)))).all())
    return out


def lot_events(session: Session, batch: int = 5000) -> Iterator[tuple[str, str, str, str]]:
    """Ledger events that name a lot: (event_id, battery_id, kind, payload_json), in global order."""
    stmt = (select(Event.event_id, Event.battery_id, Event.kind, Event.payload_json)
            .where(Event.kind.in_(LOT_EVENT_KINDS)).order_by(Event.global_seq)
            .execution_options(yield_per=batch))
    yield from session.execute(stmt)


def lot_event_payloads(session: Session, battery_ids: Iterable[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(battery_id, kind, payload) of the lot-naming events of the given batteries."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for part in chunks(list(dict.fromkeys(battery_ids))):
        for bid, kind, text in session.execute(select(Event.battery_id, Event.kind, Event.payload_json).where(
                Event.battery_id.in_(part), Event.kind.in_(LOT_EVENT_KINDS))):
            out.append((bid, kind, json.loads(text)))
    return out


def consumers_of(session: Session, lot_ids: Iterable[str]) -> dict[str, list[str]]:
    """Source lot → the lots recorded as made from it (direct consumers only), sorted."""
    out: dict[str, list[str]] = {}
    for part in chunks(list(dict.fromkeys(lot_ids))):
        for lot_id, src in session.execute(select(PlantLotSource.lot_id, PlantLotSource.source_lot_id)
                                           .where(PlantLotSource.source_lot_id.in_(part))):
            out.setdefault(src, []).append(lot_id)
    return {k: sorted(v) for k, v in out.items()}


def organisation_role(session: Session, org_id: str) -> str | None:
    """The role of a registered organisation, or None if it is not registered."""
    org = session.get(Organisation, org_id)
    return None if org is None else org.role


def get_battery(session: Session, battery_id: str) -> Battery:
    """A registered battery by registry ID (the caller resolved the identifier)."""
    return session.get_one(Battery, battery_id)


def battery_states(session: Session, battery_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Battery ID → (lifecycle state, time of its last event) for the registered ones among ``battery_ids``."""
    out: dict[str, tuple[str, str]] = {}
    for part in chunks(list(dict.fromkeys(battery_ids))):
        for bid, state, last in session.execute(select(Battery.battery_id, Battery.lifecycle_state,
                                                       Battery.last_occurred_at).where(Battery.battery_id.in_(part))):
            out[bid] = (state, last)
    return out


def battery_summaries(session: Session, battery_ids: Iterable[str]) -> list[tuple[str, str, str, float, str]]:
    """(battery_id, passport_id, chemistry, mass_kg, lifecycle_state) of the batteries, sorted by ID."""
    rows: list[tuple[str, str, str, float, str]] = []
    for part in chunks(list(dict.fromkeys(battery_ids))):
        rows.extend(tuple(r) for r in session.execute(  # type: ignore[misc]
            select(Battery.battery_id, Battery.passport_id, Battery.chemistry, Battery.mass_kg,
                   Battery.lifecycle_state).where(Battery.battery_id.in_(part))))
    return sorted(rows)


@dataclass(frozen=True)
class StoredTransfer:
    """A recorded shipment or receipt of a lot."""

    lot_id: str
    kind: str
    org_id: str
    counterparty_org_id: str
    on_date: dt.date
    recorded_at: str


def insert_transfer(session: Session, transfer_id: str, t: StoredTransfer) -> None:
    """Append one shipment or receipt of a lot (never updated: custody is a sequence of facts)."""
    seq = session.execute(select(func.count()).select_from(LotTransfer)
                          .where(LotTransfer.lot_id == t.lot_id)).scalar_one()
    session.execute(insert(LotTransfer), [{
        "transfer_id": transfer_id, "lot_id": t.lot_id, "kind": t.kind, "org_id": t.org_id,
        "counterparty_org_id": t.counterparty_org_id, "on_date": t.on_date, "recorded_at": t.recorded_at,
        "seq": seq + 1,
    }])


def transfers_of(session: Session, lot_ids: Iterable[str]) -> dict[str, list[StoredTransfer]]:
    """Lot → its shipments and receipts in the order recorded."""
    out: dict[str, list[StoredTransfer]] = {}
    for part in chunks(list(dict.fromkeys(lot_ids))):
        for r in session.execute(select(LotTransfer).where(LotTransfer.lot_id.in_(part))
                                 .order_by(LotTransfer.lot_id, LotTransfer.seq)).scalars():
            out.setdefault(r.lot_id, []).append(StoredTransfer(r.lot_id, r.kind, r.org_id, r.counterparty_org_id,
                                                               r.on_date, r.recorded_at))
    return out
