"""delivery: deferred_since, where a reader's 4xx retry budget starts

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 18:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable, no default: PostgreSQL adds it without rewriting the table.
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deferred_since', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('deferred_since')
