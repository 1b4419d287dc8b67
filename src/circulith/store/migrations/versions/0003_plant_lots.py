"""plant lots: lot documents, batteries of input lots, lot graph

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plant_lots",
        sa.Column("lot_id", sa.String(length=200), nullable=False),
        sa.Column("plant_id", sa.String(length=120), nullable=False),
        sa.Column("lot_type", sa.String(length=16), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.String(length=27), nullable=False),
        sa.Column("actor_org_id", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(["actor_org_id"], ["organisations.org_id"]),
        sa.PrimaryKeyConstraint("lot_id"),
    )
    op.create_index("ix_plant_lots_plant_period", "plant_lots", ["plant_id", "period"])
    op.create_index("ix_plant_lots_actor_org_id", "plant_lots", ["actor_org_id"])
    op.create_table(
        "plant_lot_batteries",
        sa.Column("lot_id", sa.String(length=200), nullable=False),
        sa.Column("battery_id", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["plant_lots.lot_id"]),
        sa.ForeignKeyConstraint(["battery_id"], ["batteries.battery_id"]),
        sa.PrimaryKeyConstraint("lot_id", "battery_id"),
    )
    op.create_index("ix_plant_lot_batteries_battery_id", "plant_lot_batteries", ["battery_id"])
    op.create_table(
        "plant_lot_sources",
        sa.Column("lot_id", sa.String(length=200), nullable=False),
        sa.Column("source_lot_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["plant_lots.lot_id"]),
        sa.ForeignKeyConstraint(["source_lot_id"], ["plant_lots.lot_id"]),
        sa.PrimaryKeyConstraint("lot_id", "source_lot_id"),
    )
    op.create_index("ix_plant_lot_sources_source_lot_id", "plant_lot_sources", ["source_lot_id"])


def downgrade() -> None:
    op.drop_table("plant_lot_sources")
    op.drop_table("plant_lot_batteries")
    op.drop_table("plant_lots")
