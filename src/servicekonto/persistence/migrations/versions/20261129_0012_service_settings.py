"""Per-service settings of tenants' OIDC clients and SAML SPs (issue #7)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('oidc_clients') as batch_op:
        batch_op.add_column(sa.Column('allowed_attributes', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('allowed_methods', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('jwks_uri', sa.Text(), nullable=True))
    with op.batch_alter_table('saml_service_providers') as batch_op:
        batch_op.add_column(sa.Column('allowed_attributes', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('allowed_methods', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('min_trust_level', sa.Integer(), server_default=sa.text('1'), nullable=False))
        batch_op.add_column(sa.Column('metadata_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('metadata_fetched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('metadata_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('metadata_error', sa.String(length=500), nullable=True))
    op.create_index('ix_transfers_tenant_id_occurred_at', 'transfers', ['tenant_id', 'occurred_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_transfers_tenant_id_occurred_at', table_name='transfers')
    with op.batch_alter_table('saml_service_providers') as batch_op:
        batch_op.drop_column('metadata_error')
        batch_op.drop_column('metadata_checked_at')
        batch_op.drop_column('metadata_fetched_at')
        batch_op.drop_column('metadata_url')
        batch_op.drop_column('min_trust_level')
        batch_op.drop_column('allowed_methods')
        batch_op.drop_column('allowed_attributes')
    with op.batch_alter_table('oidc_clients') as batch_op:
        batch_op.drop_column('jwks_uri')
        batch_op.drop_column('allowed_methods')
        batch_op.drop_column('allowed_attributes')
