"""Reads behind one passport's signature check: its events with their signatures, in one query.

The public passport page checks its passport on every view, so it reads only that battery's events
and their signatures (an outer join on ``event_signatures``), never the registry's whole signature table.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from circulith.store.models import Battery, Event
from circulith.store.trust_models import EventSignature

SIGNED_FIELDS = ("event_id", "battery_id", "kind", "occurred_at", "actor_org_id", "site_id", "payload_json")
"""The event fields a signature covers (with the signature itself as ``jws``)."""


def signed_battery_events(session: Session, battery_id: str) -> list[dict[str, str | None]]:
    """A battery's events in chain order: :data:`SIGNED_FIELDS` and ``jws`` (None where not signed)."""
    cols = [getattr(Event, c) for c in SIGNED_FIELDS]
    stmt = (select(*cols, EventSignature.jws).outerjoin(EventSignature, EventSignature.event_id == Event.event_id)
            .where(Event.battery_id == battery_id).order_by(Event.battery_seq))
    return [dict(zip((*SIGNED_FIELDS, "jws"), row, strict=True)) for row in session.execute(stmt)]


def battery_by_key(session: Session, battery_id: str) -> Battery | None:
    """The stored battery by its ``battery_id`` (one primary-key read; None when there is none)."""
    return session.get(Battery, battery_id)
