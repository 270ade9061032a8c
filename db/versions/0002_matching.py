"""matching: the sentence and marks of a hit, withdrawn hits and evidence, blocked matches

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sentence', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('marks', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(), nullable=True))
    op.create_table('blocked_matches',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('sentence', sa.Text(), nullable=False),
    sa.Column('cue', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['entries.id'], name=op.f('fk_blocked_matches_entry_id_entries')),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_blocked_matches_indicator_id_indicators')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blocked_matches')),
    sa.UniqueConstraint('entry_id', 'indicator_id', name=op.f('uq_blocked_matches_entry_id'))
    )
    with op.batch_alter_table('blocked_matches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_blocked_matches_entry_id'), ['entry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('blocked_matches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_blocked_matches_entry_id'))
    op.drop_table('blocked_matches')
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_at')
    with op.batch_alter_table('hits', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_at')
        batch_op.drop_column('marks')
        batch_op.drop_column('sentence')
