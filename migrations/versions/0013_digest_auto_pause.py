"""auto-pause: per-list bounce and complaint limits, a digest's pause reason and re-arm time

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    # All nullable without a default (no table rewrite): an empty limit is the site's default.
    with op.batch_alter_table('mailing_list', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pause_bounce_rate', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('pause_complaint_rate', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('pause_min_sent', sa.Integer(), nullable=True))
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pause_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column('rates_since', sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.drop_column('rates_since')
        batch_op.drop_column('pause_reason')
    with op.batch_alter_table('mailing_list', schema=None) as batch_op:
        batch_op.drop_column('pause_min_sent')
        batch_op.drop_column('pause_complaint_rate')
        batch_op.drop_column('pause_bounce_rate')
