"""Demo users: one log-in per organisation of a demo registry (never use the demo in production)."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Engine

from circulith.auth.passwords import hash_password
from circulith.services.access_rules import timestamp
from circulith.store import platform_repo as repo
from circulith.store.database import transaction

DEMO_PASSWORD = "circulith-demo-2026"
"""Password of every demo user (printed by ``circulith demo``; never use the demo in production)."""


class DemoUser(BaseModel):
    """The credentials of one demo user."""

    email: str
    password: str
    org_id: str
    role: str


def demo_email(org_id: str) -> str:
    """The demo user's e-mail of an organisation (``<org_id lower>@demo.circulith``)."""
    return f"{org_id.lower()}@demo.circulith"


def seed_demo_users(engine: Engine, password: str = DEMO_PASSWORD) -> list[DemoUser]:
    """One demo user per organisation (idempotent); returns the credentials to print."""
    out = []
    with transaction(engine) as session:
        hashed: str | None = None
        for org in repo.list_organisations(session):
            email = demo_email(org.org_id)
            if repo.get_user_by_email(session, email) is None:
                hashed = hashed or hash_password(password)
                repo.add_user(session, user_id=f"user-{org.org_id.lower()}", email=email, org_id=org.org_id,
                              display_name=f"Demo user of {org.name}", password_hash=hashed, active=True,
                              created_at=timestamp())
            out.append(DemoUser(email=email, password=password, org_id=org.org_id, role=org.role))
    return out
