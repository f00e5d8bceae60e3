"""eID cards bound to accounts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('eid_cards',
    sa.Column('card_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_eid_cards_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('card_hash', name=op.f('pk_eid_cards'))
    )
    op.create_index(op.f('ix_eid_cards_account_id'), 'eid_cards', ['account_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_eid_cards_account_id'), table_name='eid_cards')
    op.drop_table('eid_cards')
