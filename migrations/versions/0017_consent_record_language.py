"""consent_record: language, the language the consent wording was shown in (issue 12)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 21:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable, no default: PostgreSQL adds it without rewriting the table; older records
    # were all shown in English, but the column says only what is known.
    with op.batch_alter_table('consent_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table('consent_record', schema=None) as batch_op:
        batch_op.drop_column('language')
