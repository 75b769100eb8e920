"""one-line list names and digest subjects: control characters become spaces (audit L4)

Revision ID: 0009
Revises: 0008_scrub_errors
Create Date: 2026-11-30 18:00:00.000000

Data only. List names and subjects go into mail headers; forms refuse control characters
from now on, and this cleans what was stored before, so that no digest fails to build.
"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008_scrub_errors'
branch_labels = None
depends_on = None

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_COLUMNS = {"mailing_list": ("name",), "digest": ("subject", "rendered_subject")}


def upgrade():
    conn = op.get_bind()
    for table, columns in _COLUMNS.items():
        t = sa.table(table, sa.column("id"), *(sa.column(c) for c in columns))
        for row in conn.execute(sa.select(t)).mappings():
            fixed = {
                c: _CONTROL.sub(" ", row[c]).strip()
                for c in columns
                if row[c] is not None and _CONTROL.search(row[c])
            }
            if fixed:
                conn.execute(sa.update(t).where(t.c.id == row["id"]).values(**fixed))


def downgrade():
    pass  # the line breaks are not worth restoring
