"""OIDC grants remember the organisation a login acted for (issue #10)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('oidc_grants') as batch_op:
        batch_op.add_column(sa.Column('organisation_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_oidc_grants_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_oidc_grants_organisation_id_organisations'), 'organisations',
                                    ['organisation_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('oidc_grants') as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_oidc_grants_organisation_id_organisations'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_oidc_grants_organisation_id'))
        batch_op.drop_column('organisation_id')
