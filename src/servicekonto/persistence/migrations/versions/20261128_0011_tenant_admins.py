"""Tenant admins and the tenant lifecycle (organisation, contact, purpose)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tenants') as batch_op:
        batch_op.add_column(sa.Column('organisation', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('contact', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('purpose', sa.Text(), nullable=True))
    op.create_table('tenant_admins',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=True),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_tenant_admins_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_tenant_admins_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_admins'))
    )
    op.create_index(op.f('ix_tenant_admins_account_id'), 'tenant_admins', ['account_id'], unique=False)
    op.create_index(op.f('ix_tenant_admins_tenant_id'), 'tenant_admins', ['tenant_id'], unique=False)
    op.create_index('uq_tenant_admins_account_role_tenant', 'tenant_admins', ['account_id', 'role', 'tenant_id'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_tenant_admins_account_role_tenant', table_name='tenant_admins')
    op.drop_index(op.f('ix_tenant_admins_tenant_id'), table_name='tenant_admins')
    op.drop_index(op.f('ix_tenant_admins_account_id'), table_name='tenant_admins')
    op.drop_table('tenant_admins')
    with op.batch_alter_table('tenants') as batch_op:
        batch_op.drop_column('purpose')
        batch_op.drop_column('contact')
        batch_op.drop_column('organisation')
