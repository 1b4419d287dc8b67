"""initial registry and ledger schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Batteries with their passport document, every identifier ever issued (never reused), the
append-only event table keyed for partitioning by battery, and the global ledger head.
Triggers make the event table append-only in the database itself; ``ledger verify`` still
catches any change made by someone who drops them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batteries',
    sa.Column('battery_id', sa.String(length=300), nullable=False),
    sa.Column('passport_id', sa.String(length=300), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('parent_battery_id', sa.String(length=300), nullable=True),
    sa.Column('predecessor_passport_id', sa.String(length=300), nullable=True),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('chemistry', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('manufacturer_id', sa.String(length=120), nullable=False),
    sa.Column('manufacturing_date', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('lifecycle_state', sa.String(length=16), nullable=False),
    sa.Column('region', sa.String(length=8), nullable=True),
    sa.Column('custodian_org_id', sa.String(length=120), nullable=True),
    sa.Column('custody_site_id', sa.String(length=120), nullable=True),
    sa.Column('mass_kg', sa.Float(), nullable=False),
    sa.Column('rated_energy_kwh', sa.Float(), nullable=False),
    sa.Column('soh_pct', sa.Float(), nullable=True),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('dynamic_json', sa.Text(), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.Column('registered_sha256', sa.String(length=64), nullable=False),
    sa.Column('registered_at', sa.String(length=27), nullable=False),
    sa.Column('updated_at', sa.String(length=27), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('last_chain_sha256', sa.String(length=64), nullable=False),
    sa.Column('last_occurred_at', sa.String(length=27), nullable=False),
    sa.ForeignKeyConstraint(['parent_battery_id'], ['batteries.battery_id'], ),
    sa.PrimaryKeyConstraint('battery_id'),
    sa.UniqueConstraint('passport_id')
    )
    with op.batch_alter_table('batteries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batteries_chemistry'), ['chemistry'], unique=False)
        batch_op.create_index(batch_op.f('ix_batteries_custodian_org_id'), ['custodian_org_id'], unique=False)
        batch_op.create_index('ix_batteries_level_state', ['level', 'lifecycle_state'], unique=False)
        batch_op.create_index(batch_op.f('ix_batteries_lifecycle_state'), ['lifecycle_state'], unique=False)
        batch_op.create_index(batch_op.f('ix_batteries_manufacturer_id'), ['manufacturer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batteries_parent_battery_id'), ['parent_battery_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batteries_predecessor_passport_id'), ['predecessor_passport_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batteries_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_batteries_status'), ['status'], unique=False)

    op.create_table('ledger_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('global_seq', sa.BigInteger(), nullable=False),
    sa.Column('global_chain_sha256', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('organisations',
    sa.Column('org_id', sa.String(length=120), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.PrimaryKeyConstraint('org_id')
    )
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisations_role'), ['role'], unique=False)

    op.create_table('events',
    sa.Column('battery_id', sa.String(length=300), nullable=False),
    sa.Column('battery_seq', sa.Integer(), nullable=False),
    sa.Column('global_seq', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', sa.String(length=27), nullable=False),
    sa.Column('actor_org_id', sa.String(length=120), nullable=False),
    sa.Column('site_id', sa.String(length=120), nullable=True),
    sa.Column('payload_json', sa.Text(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('battery_prev_sha256', sa.String(length=64), nullable=False),
    sa.Column('battery_chain_sha256', sa.String(length=64), nullable=False),
    sa.Column('global_prev_sha256', sa.String(length=64), nullable=False),
    sa.Column('global_chain_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['battery_id'], ['batteries.battery_id'], ),
    sa.PrimaryKeyConstraint('battery_id', 'battery_seq'),
    sa.UniqueConstraint('event_id'),
    sa.UniqueConstraint('global_seq')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_kind_occurred', ['kind', 'occurred_at'], unique=False)

    op.create_table('identifiers',
    sa.Column('identifier', sa.String(length=300), nullable=False),
    sa.Column('battery_id', sa.String(length=300), nullable=False),
    sa.Column('scheme', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['battery_id'], ['batteries.battery_id'], ),
    sa.PrimaryKeyConstraint('identifier')
    )
    with op.batch_alter_table('identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identifiers_battery_id'), ['battery_id'], unique=False)

    op.execute(
        "INSERT INTO ledger_head (id, global_seq, global_chain_sha256) VALUES (1, 0, '" + "0" * 64 + "')"
    )
    _append_only_triggers()


def _append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{action.lower()} BEFORE {action} ON events "
                f"BEGIN SELECT RAISE(ABORT, 'events are append-only: {action} refused'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION circulith_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'events are append-only: % refused', TG_OP; END $$"
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION circulith_events_append_only()"
        )


def _drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS circulith_events_append_only()")



def downgrade() -> None:
    _drop_append_only_triggers()
    with op.batch_alter_table('identifiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identifiers_battery_id'))

    op.drop_table('identifiers')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_kind_occurred')

    op.drop_table('events')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisations_role'))

    op.drop_table('organisations')
    op.drop_table('ledger_head')
    with op.batch_alter_table('batteries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batteries_status'))
        batch_op.drop_index(batch_op.f('ix_batteries_region'))
        batch_op.drop_index(batch_op.f('ix_batteries_predecessor_passport_id'))
        batch_op.drop_index(batch_op.f('ix_batteries_parent_battery_id'))
        batch_op.drop_index(batch_op.f('ix_batteries_manufacturer_id'))
        batch_op.drop_index(batch_op.f('ix_batteries_lifecycle_state'))
        batch_op.drop_index('ix_batteries_level_state')
        batch_op.drop_index(batch_op.f('ix_batteries_custodian_org_id'))
        batch_op.drop_index(batch_op.f('ix_batteries_chemistry'))

    op.drop_table('batteries')
