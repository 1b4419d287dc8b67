"""access: grant requests over sets of batteries, data owners deciding; the access log chained

Revision ID: 0006_access
Revises: 0005_recovery
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_access"
down_revision = "0005_recovery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from circulith.ledger.access_chain import GENESIS_SHA256, entry_digest

    with op.batch_alter_table("access_grants") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("owner_org_id", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("decided_by_org_id", sa.String(length=120), nullable=True))
        batch.create_index("ix_access_grants_request_id", ["request_id"])
    op.execute("UPDATE access_grants SET request_id = grant_id WHERE request_id IS NULL")
    with op.batch_alter_table("access_log") as batch:
        batch.add_column(sa.Column("prev_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("entry_sha256", sa.String(length=64), nullable=True))
    op.create_table(
        "access_log_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    conn = op.get_bind()
    cols = ("entry_id", "at", "org_id", "user_id", "key_id", "battery_id", "audience", "action", "ground")
    rows = conn.execute(sa.text(f"SELECT {', '.join(cols)} FROM access_log ORDER BY entry_id")).mappings().all()
    prev, last = GENESIS_SHA256, 0
    for r in rows:  # chain the entries recorded before this revision, in order
        digest = entry_digest(prev, dict(r))
        conn.execute(sa.text("UPDATE access_log SET prev_sha256 = :p, entry_sha256 = :d WHERE entry_id = :i"),
                     {"p": prev, "d": digest, "i": r["entry_id"]})
        prev, last = digest, int(r["entry_id"])
    conn.execute(sa.text("INSERT INTO access_log_head (id, entry_id, sha256) VALUES (1, :i, :s)"),
                 {"i": last, "s": prev})


def downgrade() -> None:
    op.drop_table("access_log_head")
    with op.batch_alter_table("access_log") as batch:
        batch.drop_column("entry_sha256")
        batch.drop_column("prev_sha256")
    with op.batch_alter_table("access_grants") as batch:
        batch.drop_index("ix_access_grants_request_id")
        batch.drop_column("decided_by_org_id")
        batch.drop_column("owner_org_id")
        batch.drop_column("request_id")
