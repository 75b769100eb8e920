"""digest: when the week's digest's review mail was queued for the editors

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 20:30:00.000000

The scheduler queues the review mail of a weekly digest it drafted and notes when; one
whose mail could not be queued (Redis away) is queued again at its next run. Weekly
digests made before this revision count as mailed: nobody is mailed about an old week.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_queued_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE digest SET review_queued_at = created_at WHERE schedule_slot IS NOT NULL"
    )


def downgrade():
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.drop_column('review_queued_at')
