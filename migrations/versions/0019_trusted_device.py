"""trusted_device: editors' trusted browsers, one row per device cookie (revocable one by one)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'trusted_device',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('editor_id', sa.Integer(), nullable=False),
        sa.Column('nonce_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('label', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ['editor_id'], ['editor.id'], name=op.f('fk_trusted_device_editor_id_editor'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_trusted_device')),
        sa.UniqueConstraint('nonce_hash', name=op.f('uq_trusted_device_nonce_hash')),
        sqlite_autoincrement=True,  # ids are in forms and the audit log: never reused
    )
    with op.batch_alter_table('trusted_device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trusted_device_editor_id'), ['editor_id'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_trusted_device_last_used_at'), ['last_used_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('trusted_device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trusted_device_last_used_at'))
        batch_op.drop_index(batch_op.f('ix_trusted_device_editor_id'))
    op.drop_table('trusted_device')
