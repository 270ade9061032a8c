"""feeds.held_until: until when the feed's host asked the tracker to wait (Retry-After)

Revision ID: 0007_feed_hold
Revises: 0005_day_void
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_feed_hold'
down_revision = '0005_day_void'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_until', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.drop_column('held_until')
