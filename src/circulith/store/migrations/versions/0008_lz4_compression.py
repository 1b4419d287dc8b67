"""PostgreSQL: lz4 compression for the registry's large text columns

Passport documents, their dynamic values and event payloads are compressed when PostgreSQL stores
them out of line (TOAST). lz4 decompresses several times faster than PostgreSQL's default pglz at a
similar ratio; ``ledger verify`` and every passport read decompress these columns (verify took 12 %
less time with lz4 at 50,000 events, benchmarks/RESULTS.md). The method is per column (PostgreSQL
14 and later, when the server was built with lz4, as Debian's packages are): values already stored
keep their method until rewritten, and both read alike. SQLite, and servers without lz4, are left
as they are.

References: PostgreSQL 14 documentation, ``ALTER TABLE ... SET COMPRESSION`` and the
``default_toast_compression`` setting.

Revision ID: 0008_lz4_compression
Revises: 0007_planning
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_lz4_compression"
down_revision = "0007_planning"
branch_labels = None
depends_on = None

COLUMNS = (("batteries", "document"), ("batteries", "dynamic_json"), ("events", "payload_json"))


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or (bind.dialect.server_version_info or (0,)) < (14,):
        return False
    enumvals = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")).scalar()
    return "lz4" in (enumvals or [])


def upgrade() -> None:
    if _lz4_available():
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if _lz4_available():
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION DEFAULT")
