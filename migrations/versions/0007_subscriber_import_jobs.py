"""subscriber_import: admin CSV imports run as background jobs with progress

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    # The uploaded file (`data`) is cleared when the job ends; the report keeps lines and
    # reasons only, never an address.
    op.create_table('subscriber_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('confirmed', sa.Boolean(), nullable=False),
    sa.Column('editor_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.LargeBinary(), nullable=True),
    sa.Column('status', sa.Enum('queued', 'running', 'done', 'failed', name='importstatus', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('already', sa.Integer(), nullable=False),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.Column('refused_rows', sa.JSON(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['editor_id'], ['editor.id'], name=op.f('fk_subscriber_import_editor_id_editor'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['list_id'], ['mailing_list.id'], name=op.f('fk_subscriber_import_list_id_mailing_list'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriber_import'))
    )
    with op.batch_alter_table('subscriber_import', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriber_import_list_id'), ['list_id'], unique=False)
        batch_op.create_index('ix_subscriber_import_status', ['status', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('subscriber_import', schema=None) as batch_op:
        batch_op.drop_index('ix_subscriber_import_status')
        batch_op.drop_index(batch_op.f('ix_subscriber_import_list_id'))

    op.drop_table('subscriber_import')
