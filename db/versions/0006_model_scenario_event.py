"""scenarios.event: a scenario that is an event before `closes` (docs/model.md, silence)

Revision ID: 0006_model
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_model'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scenarios', schema=None) as batch_op:
        batch_op.drop_column('event')
