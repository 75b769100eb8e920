"""stories (articles linked as translations), digest texts and renderings per language

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 20:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'story',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_story')),
        sa.UniqueConstraint('key', name=op.f('uq_story_key')),
    )
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.add_column(sa.Column('story_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_article_story_id'), ['story_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_article_story_id_story'), 'story', ['story_id'], ['id'],
            ondelete='SET NULL',
        )
        batch_op.create_unique_constraint(
            batch_op.f('uq_article_story_id'), ['story_id', 'language']
        )
    for table in ('digest_text', 'digest_rendering'):
        columns = [
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('digest_id', sa.Integer(), nullable=False),
            sa.Column('language', sa.String(length=8), nullable=False),
            sa.Column('subject', sa.String(length=200), nullable=False),
        ]
        if table == 'digest_text':
            columns.append(sa.Column('intro', sa.Text(), nullable=False))
        else:
            columns += [
                sa.Column('text', sa.Text(), nullable=False),
                sa.Column('html', sa.Text(), nullable=False),
            ]
        op.create_table(
            table,
            *columns,
            sa.ForeignKeyConstraint(
                ['digest_id'], ['digest.id'], name=op.f(f'fk_{table}_digest_id_digest'),
                ondelete='CASCADE',
            ),
            sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{table}')),
            sa.UniqueConstraint('digest_id', 'language', name=op.f(f'uq_{table}_digest_id')),
        )


def downgrade():
    op.drop_table('digest_rendering')
    op.drop_table('digest_text')
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_article_story_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_article_story_id_story'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_article_story_id'))
        batch_op.drop_column('story_id')
    op.drop_table('story')
