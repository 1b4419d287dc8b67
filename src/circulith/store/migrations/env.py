"""Alembic environment: runs on the connection circulith passes in (see ``store.database.upgrade``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import circulith.store.lot_models
import circulith.store.platform_models
import circulith.store.trust_models  # noqa: F401
from circulith.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run migrations on the given connection, or on one opened from the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
