"""Audit events of an account by newest first

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 19:55:16.907349
"""

from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_account_id'))
        batch_op.create_index('ix_audit_events_account_id_id', ['account_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_account_id_id')
        batch_op.create_index(batch_op.f('ix_audit_events_account_id'), ['account_id'], unique=False)

