"""planning: the jurisdiction an authority supervises (organisations.jurisdiction)

Revision ID: 0007_planning
Revises: 0006_access
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_planning"
down_revision = "0006_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("jurisdiction", sa.String(length=400), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("jurisdiction")
