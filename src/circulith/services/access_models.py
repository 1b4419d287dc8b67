"""Typed inputs and results of the write and access services (events, dynamic values, grants, the access log).

The API serves these models as its request and response bodies; the CLI prints them with ``--json``.
Timestamps given by a caller must carry a timezone (``Z`` or ``+hh:mm``): a naive timestamp is
refused, never guessed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

GRANT_PURPOSES = ("repair", "remanufacturing", "preparing_for_reuse", "repurposing", "recycling", "energy_services")
"""Purposes of Art. 77(2), third subparagraph (legitimate interest)."""
Purpose = Literal["repair", "remanufacturing", "preparing_for_reuse", "repurposing", "recycling", "energy_services"]
DynamicKey = Literal[
    "soh_pct", "remaining_capacity_ah", "remaining_energy_kwh", "remaining_power_w", "full_cycles",
    "energy_throughput_kwh", "capacity_throughput_ah", "deep_discharge_events", "overcharge_events",
    "time_above_max_temp_h", "time_below_min_temp_h", "internal_resistance_increase_pct", "soc_pct",
]
EventKindIn = Literal[
    "manufactured", "placed_on_market", "installed", "bms_snapshot", "repaired", "module_replaced", "swapped",
    "removed", "collected", "shipped", "received", "tested", "graded", "repurposed", "reused", "remanufactured",
    "dismantled", "discharged", "shredded", "black_mass_lot_created", "refined", "material_output", "recycled",
]
MAX_GRANT_BATTERIES = 1000
"""Most batteries one grant request may name [-] (a truck of packs with their modules)."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIn(_In):
    """A lifecycle event recorded by the caller's organisation (the actor is the caller)."""

    event_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")
    battery_id: str = Field(min_length=1, max_length=300, description="Any identifier of the battery.")
    kind: EventKindIn
    occurred_at: AwareDatetime = Field(description="When it happened, with its timezone (naive times are refused).")
    site_id: str | None = Field(None, max_length=120)
    payload: dict[str, object] = Field(default_factory=dict)


class DynamicIn(_In):
    """New dynamic values (recorded as a ``bms_snapshot`` event, never by editing the passport)."""

    values: dict[DynamicKey, float] = Field(min_length=1)
    occurred_at: AwareDatetime | None = None
    site_id: str | None = Field(None, max_length=120)


class AppendOut(BaseModel):
    """What an append did."""

    appended: int
    unchanged: int
    event_id: str
    head_global_seq: int
    head_sha256: str


class GrantIn(_In):
    """A legitimate-interest request (Art. 77(2)) for a set of batteries' restricted data.

    Name the batteries (``battery_ids``, or the single ``battery_id``) or a consignment (every battery
    of the shipment whose consignment ID a ``shipped`` event states).
    """

    battery_id: str | None = Field(None, min_length=1, max_length=300)
    battery_ids: list[str] = Field(default_factory=list, max_length=MAX_GRANT_BATTERIES)
    consignment_id: str | None = Field(None, min_length=1, max_length=120)
    purpose: Purpose
    justification: str = Field(min_length=10, max_length=2000)


class GrantDecisionIn(_In):
    """The data owner's (or the operator's) decision on a whole request."""

    decision: Literal["approve", "refuse", "revoke"]
    note: str | None = Field(None, max_length=2000)
    valid_days: int = Field(90, ge=1, le=365)


class GrantOut(BaseModel):
    """An access grant: one request, its batteries, one decision."""

    grant_id: str
    org_id: str
    battery_id: str
    battery_ids: list[str]
    owner_org_id: str | None = None
    purpose: str
    justification: str
    status: str
    requested_at: str
    decided_at: str | None = None
    decided_by_org_id: str | None = None
    decision_note: str | None = None
    expires_at: str | None = None


class GrantRequestOut(BaseModel):
    """What one request created: one grant per data owner of the batteries named."""

    grants: list[GrantOut]


class AccessLogItem(BaseModel):
    """One logged read of non-public data."""

    entry_id: int
    at: str
    org_id: str
    user_id: str | None = None
    key_id: str | None = None
    battery_id: str
    audience: str
    action: str
    ground: str
    entry_sha256: str | None = None


class AccessLogOut(BaseModel):
    """A page of the access log (newest first) within what the caller may read."""

    scope: str
    items: list[AccessLogItem]
    next_before: int | None = None
