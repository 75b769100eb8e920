"""editors: TOTP second factor, recovery codes, server-side sessions, sign-in throttle and events

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('editor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('totp_enrolled_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        'recovery_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('editor_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['editor_id'], ['editor.id'], name=op.f('fk_recovery_code_editor_id_editor'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code')),
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_editor_id'), ['editor_id'], unique=False)

    op.create_table(
        'editor_session',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('editor_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('authenticated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['editor_id'], ['editor.id'], name=op.f('fk_editor_session_editor_id_editor'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_editor_session')),
    )
    with op.batch_alter_table('editor_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_editor_session_editor_id'), ['editor_id'], unique=False)

    op.create_table(
        'login_throttle',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle')),
    )

    op.create_table(
        'login_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('editor_id', sa.Integer(), nullable=True),
        sa.Column('network_hash', sa.String(length=24), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(['editor_id'], ['editor.id'], name=op.f('fk_login_event_editor_id_editor'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_event')),
    )
    with op.batch_alter_table('login_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_event_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_event_editor_id'), ['editor_id'], unique=False)


def downgrade():
    with op.batch_alter_table('login_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_event_editor_id'))
        batch_op.drop_index(batch_op.f('ix_login_event_at'))
    op.drop_table('login_event')
    op.drop_table('login_throttle')
    with op.batch_alter_table('editor_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_editor_session_editor_id'))
    op.drop_table('editor_session')
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_editor_id'))
    op.drop_table('recovery_code')
    with op.batch_alter_table('editor', schema=None) as batch_op:
        batch_op.drop_column('totp_enrolled_at')
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_secret')
