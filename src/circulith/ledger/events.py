"""Lifecycle event kinds and the event record.

The kinds cover the whole chain, from production through first life, retirement, evaluation,
second life and recycling to recovered material. ``registered`` is written by the registry
itself when a passport is first recorded; every other kind comes from an actor in the chain.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EventKind(StrEnum):
    """Every kind of lifecycle event the ledger accepts."""

    REGISTERED = "registered"
    MANUFACTURED = "manufactured"
    PLACED_ON_MARKET = "placed_on_market"
    INSTALLED = "installed"
    BMS_SNAPSHOT = "bms_snapshot"
    REPAIRED = "repaired"
    MODULE_REPLACED = "module_replaced"
    SWAPPED = "swapped"
    REMOVED = "removed"
    COLLECTED = "collected"
    SHIPPED = "shipped"
    RECEIVED = "received"
    TESTED = "tested"
    GRADED = "graded"
    QUARANTINED = "quarantined"
    REPURPOSED = "repurposed"
    REUSED = "reused"
    REMANUFACTURED = "remanufactured"
    DISMANTLED = "dismantled"
    DISCHARGED = "discharged"
    SHREDDED = "shredded"
    BLACK_MASS_LOT_CREATED = "black_mass_lot_created"
    REFINED = "refined"
    MATERIAL_OUTPUT = "material_output"
    RECYCLED = "recycled"


EVENT_KINDS: frozenset[str] = frozenset(k.value for k in EventKind)

# Event IDs derived from content live in this namespace, so that re-importing a file whose rows
# carry no explicit ID yields the same IDs (idempotent import).
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1a53-3c0e-4f51-9d8e-2a4f0c1b7e11")


class LedgerEvent(BaseModel):
    """One lifecycle event as submitted by an actor (before it is chained).

    Parameters
    ----------
    event_id : str
        Globally unique ID (a UUID). Derived from the content when not given.
    battery_id : str
        Canonical identifier of the battery the event concerns.
    kind : EventKind
        What happened.
    occurred_at : datetime
        When it happened, timezone-aware (UTC if given naive).
    actor_org_id : str
        Organisation that records the event.
    site_id : str or None
        Site where it happened.
    payload : dict
        Kind-specific details (measurements, lot IDs, custody target, ...), JSON-serialisable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = ""
    battery_id: str = Field(min_length=1, max_length=300)
    kind: EventKind
    occurred_at: datetime
    actor_org_id: str = Field(min_length=1, max_length=120)
    site_id: str | None = Field(default=None, max_length=120)
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def with_derived_id(self) -> LedgerEvent:
        """Return the event with ``event_id`` filled from its content when it was empty."""
        if self.event_id:
            return self
        from circulith.ledger.hashing import canonical_json, content_text

        text = content_text("", self.battery_id, self.kind.value, format_timestamp(self.occurred_at), self.actor_org_id,
                            self.site_id, canonical_json(self.payload))
        return self.model_copy(update={"event_id": derived_event_id(text)})

    def content(self, *, include_id: bool = True) -> dict[str, Any]:
        """The canonical content that the hash covers (everything the actor asserted)."""
        body: dict[str, Any] = {
            "battery_id": self.battery_id,
            "kind": self.kind.value,
            "occurred_at": format_timestamp(self.occurred_at),
            "actor_org_id": self.actor_org_id,
            "site_id": self.site_id,
            "payload": self.payload,
        }
        if include_id:
            body["event_id"] = self.event_id
        return body


def derived_event_id(content_text_without_id: str) -> str:
    """UUID (version 5) of an event's canonical content text built with an empty ID.

    The same content always gets the same ID, which makes re-imports idempotent.
    """
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, content_text_without_id))


def format_timestamp(value: datetime) -> str:
    """ISO 8601 UTC with microseconds and a ``Z`` suffix: one spelling per instant."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
