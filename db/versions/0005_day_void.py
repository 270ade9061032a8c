"""forecasts.voids: a void row points at the manual forecast or resolution it withdraws

Revision ID: 0005_day_void
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_day_void'
down_revision = '0006_model'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('forecasts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voids', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_forecasts_voids_forecasts'), 'forecasts',
                                    ['voids'], ['id'])
        batch_op.create_unique_constraint(batch_op.f('uq_forecasts_voids'), ['voids'])


def downgrade() -> None:
    with op.batch_alter_table('forecasts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_forecasts_voids'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_forecasts_voids_forecasts'), type_='foreignkey')
        batch_op.drop_column('voids')
