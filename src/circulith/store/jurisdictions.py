"""Which regions an organisation supervises (``organisations.jurisdiction``, migration 0004_planning).

``jurisdiction`` holds region codes separated by ``;`` (member states such as ``DE``, or regions such as
``DE-BY`` where the registry records them); empty means the organisation's own ``country``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from circulith.errors import NotFound

_ORGS = sa.table("organisations", sa.column("org_id"), sa.column("role"), sa.column("country"),
                 sa.column("jurisdiction"))  # fmt: skip


def org_jurisdiction(session: Session, org_id: str) -> tuple[str, list[str]]:
    """``(role, regions)`` of an organisation: its configured jurisdiction, else its own country."""
    row = session.execute(sa.select(_ORGS.c.role, _ORGS.c.country, _ORGS.c.jurisdiction)
                          .where(_ORGS.c.org_id == org_id)).first()  # fmt: skip
    if row is None:
        raise NotFound(f"organisation {org_id!r} not found")
    regions = [r.strip() for r in (row.jurisdiction or "").split(";") if r.strip()]
    return str(row.role), regions or ([str(row.country)] if row.country else [])


def set_jurisdiction(session: Session, org_id: str, regions: list[str]) -> None:
    """Configure the regions an organisation supervises (empty list: back to its own country)."""
    res = session.execute(sa.update(_ORGS).where(_ORGS.c.org_id == org_id)
                          .values(jurisdiction=";".join(regions) or None))  # fmt: skip
    if res.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"organisation {org_id!r} not found")


def org_countries(session: Session) -> dict[str, str | None]:
    """Country of every organisation (``org_id -> country``)."""
    return {str(o): (str(c) if c else None) for o, c in session.execute(sa.select(_ORGS.c.org_id, _ORGS.c.country))}
