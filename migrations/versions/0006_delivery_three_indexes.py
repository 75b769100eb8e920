"""delivery: unique (subscriber_id, digest_id) instead of a subscriber_id index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 14:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # One index fewer to maintain per fanned-out row: the uniqueness of digest × subscriber,
    # subscriber first, also serves the lookups the subscriber_id index was for (erase).
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_delivery_subscriber_id'), ['subscriber_id', 'digest_id'])
        batch_op.drop_constraint(batch_op.f('uq_delivery_digest_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_delivery_subscriber_id'))


def downgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_subscriber_id'), ['subscriber_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_delivery_digest_id'), ['digest_id', 'subscriber_id'])
        batch_op.drop_constraint(batch_op.f('uq_delivery_subscriber_id'), type_='unique')
