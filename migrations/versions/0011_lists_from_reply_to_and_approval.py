"""lists: From name, Reply-To, and "send automatically" or "wait for an editor"

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 18:00:00.000000

Every list, old ones included, starts as "wait for an editor" (send_automatically false):
once the reviewed weekly digest reads this column, no weekly digest reaches readers
unless an editor approved it or switched the list to "send automatically".
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mailing_list', schema=None) as batch_op:
        batch_op.add_column(sa.Column('from_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('reply_to', sa.String(length=254), nullable=True))
        batch_op.add_column(
            sa.Column('send_automatically', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('mailing_list', schema=None) as batch_op:
        batch_op.drop_column('send_automatically')
        batch_op.drop_column('reply_to')
        batch_op.drop_column('from_name')
