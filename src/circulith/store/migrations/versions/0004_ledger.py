"""ledger trust: signed tree heads, organisations' signing keys, event signatures

Revision ID: 0004_ledger
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_ledger"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.String(length=120), nullable=False),
        sa.Column("org_id", sa.String(length=120), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=27), nullable=False),
        sa.Column("retired_at", sa.String(length=27), nullable=True),
        sa.Column("revoked_at", sa.String(length=27), nullable=True),
        sa.Column("revocation_reason", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index("ix_signing_keys_org_id", "signing_keys", ["org_id"])
    op.create_table(
        "tree_heads",
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_sha256", sa.String(length=64), nullable=False),
        sa.Column("global_chain_sha256", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.String(length=27), nullable=False),
        sa.Column("key_id", sa.String(length=120), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size"),
    )
    op.create_table(
        "event_signatures",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=120), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_event_signatures_key_id", "event_signatures", ["key_id"])


def downgrade() -> None:
    op.drop_table("event_signatures")
    op.drop_table("tree_heads")
    op.drop_table("signing_keys")
