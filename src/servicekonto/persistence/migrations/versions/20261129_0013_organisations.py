"""Organisations, their members, member roles, invitations, service roles; transfers acting for one

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organisations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('legal_form', sa.String(length=100), nullable=False),
    sa.Column('register_type', sa.String(length=8), nullable=True),
    sa.Column('register_court', sa.String(length=100), nullable=True),
    sa.Column('register_number', sa.String(length=40), nullable=True),
    sa.Column('street_address', sa.String(length=150), nullable=False),
    sa.Column('postal_code', sa.String(length=10), nullable=False),
    sa.Column('locality', sa.String(length=100), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('contact_email', sa.String(length=320), nullable=False),
    sa.Column('contact_phone', sa.String(length=32), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_by', sa.Uuid(), nullable=True),
    sa.Column('verification_note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations'))
    )
    op.create_table('organisation_invitations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('invited_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invited_by'], ['accounts.id'], name=op.f('fk_organisation_invitations_invited_by_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_organisation_invitations_organisation_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_organisation_invitations_token_hash'))
    )
    op.create_index(op.f('ix_organisation_invitations_organisation_id'), 'organisation_invitations', ['organisation_id'], unique=False)
    op.create_table('organisation_members',
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_organisation_members_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_organisation_members_organisation_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organisation_id', 'account_id', name=op.f('pk_organisation_members'))
    )
    op.create_index(op.f('ix_organisation_members_account_id'), 'organisation_members', ['account_id'], unique=False)
    op.create_table('service_roles',
    sa.Column('service_id', sa.String(length=1024), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_service_roles_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('service_id', 'name', name=op.f('pk_service_roles'))
    )
    op.create_index(op.f('ix_service_roles_tenant_id'), 'service_roles', ['tenant_id'], unique=False)
    op.create_table('organisation_member_roles',
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('service_id', sa.String(length=1024), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id', 'account_id'], ['organisation_members.organisation_id', 'organisation_members.account_id'], name='fk_organisation_member_roles_membership', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organisation_id', 'account_id', 'service_id', 'role', name=op.f('pk_organisation_member_roles'))
    )
    with op.batch_alter_table('transfers') as batch_op:
        batch_op.add_column(sa.Column('organisation_id', sa.Uuid(), nullable=True))
        batch_op.create_index('ix_transfers_organisation_id_occurred_at', ['organisation_id', 'occurred_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_transfers_organisation_id_organisations'), 'organisations', ['organisation_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('transfers') as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_transfers_organisation_id_organisations'), type_='foreignkey')
        batch_op.drop_index('ix_transfers_organisation_id_occurred_at')
        batch_op.drop_column('organisation_id')
    op.drop_table('organisation_member_roles')
    op.drop_index(op.f('ix_service_roles_tenant_id'), table_name='service_roles')
    op.drop_table('service_roles')
    op.drop_index(op.f('ix_organisation_members_account_id'), table_name='organisation_members')
    op.drop_table('organisation_members')
    op.drop_index(op.f('ix_organisation_invitations_organisation_id'), table_name='organisation_invitations')
    op.drop_table('organisation_invitations')
    op.drop_table('organisations')
