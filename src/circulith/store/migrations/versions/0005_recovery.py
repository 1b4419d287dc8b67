"""recovery: custody transfers of lots, traceability submissions, recycled-content allocations

Revision ID: 0005_recovery
Revises: 0004_ledger
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_recovery"
down_revision = "0004_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lot_transfers",
        sa.Column("transfer_id", sa.String(length=40), nullable=False),
        sa.Column("lot_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("org_id", sa.String(length=120), nullable=False),
        sa.Column("counterparty_org_id", sa.String(length=120), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.String(length=27), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["plant_lots.lot_id"]),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.org_id"]),
        sa.ForeignKeyConstraint(["counterparty_org_id"], ["organisations.org_id"]),
        sa.PrimaryKeyConstraint("transfer_id"),
    )
    op.create_index("ix_lot_transfers_lot_id", "lot_transfers", ["lot_id"])
    op.create_table(
        "traceability_submissions",
        sa.Column("submission_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=120), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.String(length=27), nullable=False),
        sa.Column("user_id", sa.String(length=120), nullable=True),
        sa.Column("platform_reference", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.org_id"]),
        sa.PrimaryKeyConstraint("submission_id"),
    )
    op.create_index("ix_traceability_submissions_org_id", "traceability_submissions", ["org_id"])
    op.create_table(
        "traceability_submission_events",
        sa.Column("submission_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["traceability_submissions.submission_id"]),
        sa.ForeignKeyConstraint(["event_id"], ["events.event_id"]),
        sa.PrimaryKeyConstraint("submission_id", "event_id"),
    )
    op.create_index("ix_traceability_submission_events_event_id", "traceability_submission_events", ["event_id"])
    op.create_table(
        "recycled_content_allocations",
        sa.Column("allocation_id", sa.String(length=40), nullable=False),
        sa.Column("product_lot_id", sa.String(length=200), nullable=False),
        sa.Column("element", sa.String(length=4), nullable=False),
        sa.Column("kg", sa.Float(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("custody_model", sa.String(length=24), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=300), nullable=False),
        sa.Column("target_element_kg", sa.Float(), nullable=False),
        sa.Column("org_id", sa.String(length=120), nullable=False),
        sa.Column("user_id", sa.String(length=120), nullable=True),
        sa.Column("recorded_at", sa.String(length=27), nullable=False),
        sa.ForeignKeyConstraint(["product_lot_id"], ["plant_lots.lot_id"]),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.org_id"]),
        sa.PrimaryKeyConstraint("allocation_id"),
    )
    op.create_index("ix_recycled_content_allocations_product_lot_id", "recycled_content_allocations",
                    ["product_lot_id"])
    op.create_index("ix_recycled_content_allocations_target_id", "recycled_content_allocations", ["target_id"])


def downgrade() -> None:
    op.drop_table("recycled_content_allocations")
    op.drop_table("traceability_submission_events")
    op.drop_table("traceability_submissions")
    op.drop_table("lot_transfers")
