"""editor roles, disabled editors, invitations, append-only audit_event

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

from mailer.models.audit import DROP_SQL, NO_UPDATE_SQL


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

ROLE = sa.Enum('viewer', 'editor', 'owner', name='role', native_enum=False, create_constraint=True, length=16)


def upgrade():
    # Every editor so far could do everything: they become owners.
    with op.batch_alter_table('editor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', ROLE, server_default='owner', nullable=False))
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table('editor_invite',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', ROLE, nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('editor_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['editor_id'], ['editor.id'], name=op.f('fk_editor_invite_editor_id_editor')),
    sa.ForeignKeyConstraint(['invited_by_id'], ['editor.id'], name=op.f('fk_editor_invite_invited_by_id_editor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_editor_invite'))
    )

    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('editor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=True),
    sa.Column('object_ids', sa.String(length=200), nullable=True),
    sa.Column('network', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_at', ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_editor_id'), ['editor_id'], unique=False)
    for statement in NO_UPDATE_SQL.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade():
    for statement in DROP_SQL.get(op.get_bind().dialect.name, []):
        op.execute(statement)
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_editor_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_action'))
        batch_op.drop_index('ix_audit_event_at')
    op.drop_table('audit_event')
    op.drop_table('editor_invite')
    with op.batch_alter_table('editor', schema=None) as batch_op:
        batch_op.drop_constraint('role', type_='check')
        batch_op.drop_column('disabled_at')
        batch_op.drop_column('role')
