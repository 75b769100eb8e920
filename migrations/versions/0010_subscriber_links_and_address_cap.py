"""subscriber: link token version, one-time links, pending sign-up data; address_mail cap

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    # Links already mailed carry no version: they read as version 0, which every existing
    # subscriber has, so they keep working until the subscriber revokes them.
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('pending_language', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('token_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('one_time_counter', sa.Integer(), server_default='0', nullable=False))
    op.create_table('address_mail',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address_hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_address_mail'))
    )
    with op.batch_alter_table('address_mail', schema=None) as batch_op:
        batch_op.create_index('ix_address_mail_lookup', ['address_hash', 'kind', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_address_mail_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('address_mail', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_address_mail_created_at'))
        batch_op.drop_index('ix_address_mail_lookup')
    op.drop_table('address_mail')
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.drop_column('one_time_counter')
        batch_op.drop_column('token_version')
        batch_op.drop_column('pending_language')
        batch_op.drop_column('pending_name')
