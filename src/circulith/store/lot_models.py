"""Tables of plant lots: the lot documents, the batteries of input lots, and the lot graph.

A lot's ``document`` is the canonical JSON of its payload (:meth:`circulith.recovery.lots._Lot.to_payload`);
``document_sha256`` is its digest, which the ledger events on the lot's batteries repeat as ``lot_sha256``,
so that a stored lot altered afterwards no longer matches the ledger (migration ``0003_plant_lots``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from circulith.store.models import SHA, Base


class PlantLot(Base):
    """One lot recorded by a plant: input, intermediate (shred or black mass) or product."""

    __tablename__ = "plant_lots"

    lot_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    plant_id: Mapped[str] = mapped_column(String(120))
    lot_type: Mapped[str] = mapped_column(String(16))
    period: Mapped[dt.date] = mapped_column(Date)
    document: Mapped[str] = mapped_column(Text)
    document_sha256: Mapped[str] = mapped_column(SHA)
    recorded_at: Mapped[str] = mapped_column(String(27))
    actor_org_id: Mapped[str] = mapped_column(String(120), ForeignKey("organisations.org_id"), index=True)

    __table_args__ = (Index("ix_plant_lots_plant_period", "plant_id", "period"),)


class PlantLotBattery(Base):
    """A battery that entered a plant in an input lot."""

    __tablename__ = "plant_lot_batteries"

    lot_id: Mapped[str] = mapped_column(String(200), ForeignKey("plant_lots.lot_id"), primary_key=True)
    battery_id: Mapped[str] = mapped_column(String(300), ForeignKey("batteries.battery_id"), primary_key=True,
                                            index=True)


class PlantLotSource(Base):
    """An edge of the lot graph: ``lot_id`` was made from ``source_lot_id``."""

    __tablename__ = "plant_lot_sources"

    lot_id: Mapped[str] = mapped_column(String(200), ForeignKey("plant_lots.lot_id"), primary_key=True)
    source_lot_id: Mapped[str] = mapped_column(String(200), ForeignKey("plant_lots.lot_id"), primary_key=True,
                                               index=True)


class LotTransfer(Base):
    """A change of custody of a lot between organisations: its shipment, then its receipt (append-only).

    ``org_id`` records the fact (the shipper for ``shipped``, the receiver for ``received``);
    ``counterparty_org_id`` is the other side.
    """

    __tablename__ = "lot_transfers"

    transfer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    lot_id: Mapped[str] = mapped_column(String(200), ForeignKey("plant_lots.lot_id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[str] = mapped_column(String(120), ForeignKey("organisations.org_id"))
    counterparty_org_id: Mapped[str] = mapped_column(String(120), ForeignKey("organisations.org_id"))
    on_date: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[str] = mapped_column(String(27))
    seq: Mapped[int] = mapped_column(Integer)


class TraceabilitySubmission(Base):
    """An upload to a national traceability platform: what was reported, when, by whom (append-only)."""

    __tablename__ = "traceability_submissions"

    submission_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(120), ForeignKey("organisations.org_id"), index=True)
    submitted_on: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[str] = mapped_column(String(27))
    user_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    platform_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)


class TraceabilitySubmissionEvent(Base):
    """A ledger event reported in a submission."""

    __tablename__ = "traceability_submission_events"

    submission_id: Mapped[str] = mapped_column(String(40), ForeignKey("traceability_submissions.submission_id"),
                                               primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), ForeignKey("events.event_id"), primary_key=True, index=True)


class RecycledContentAllocation(Base):
    """Kilograms of an element of a product lot allocated to a battery batch or passport (append-only).

    Recycled content under a chain-of-custody model (mass balance, ISO 22095:2020 clause 3.3.4): each
    kilogram of a lot is reserved once, to one target, by its holder.
    """

    __tablename__ = "recycled_content_allocations"

    allocation_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_lot_id: Mapped[str] = mapped_column(String(200), ForeignKey("plant_lots.lot_id"), index=True)
    element: Mapped[str] = mapped_column(String(4))
    kg: Mapped[float] = mapped_column(Float)
    origin: Mapped[str] = mapped_column(String(16))
    custody_model: Mapped[str] = mapped_column(String(24))
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(300), index=True)
    target_element_kg: Mapped[float] = mapped_column(Float)
    org_id: Mapped[str] = mapped_column(String(120), ForeignKey("organisations.org_id"))
    user_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    recorded_at: Mapped[str] = mapped_column(String(27))
