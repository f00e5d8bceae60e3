"""Transfer history, known devices and account preferences

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('transfers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('protocol', sa.String(length=8), nullable=False),
    sa.Column('service_id', sa.String(length=1024), nullable=False),
    sa.Column('service_name', sa.String(length=200), nullable=False),
    sa.Column('attributes', sa.Text(), nullable=False),
    sa.Column('trust_level', sa.Integer(), nullable=False),
    sa.Column('methods', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_transfers_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers'))
    )
    op.create_index('ix_transfers_account_id_id', 'transfers', ['account_id', 'id'], unique=False)
    op.create_index(op.f('ix_transfers_occurred_at'), 'transfers', ['occurred_at'], unique=False)
    op.create_table('known_devices',
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('device_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_known_devices_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'device_hash', name=op.f('pk_known_devices'))
    )
    op.create_table('account_preferences',
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('new_device_notice', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_preferences_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_preferences'))
    )


def downgrade() -> None:
    op.drop_table('account_preferences')
    op.drop_table('known_devices')
    op.drop_index(op.f('ix_transfers_occurred_at'), table_name='transfers')
    op.drop_index('ix_transfers_account_id_id', table_name='transfers')
    op.drop_table('transfers')
