"""scrub stored SMTP error texts and bounce diagnostics of addresses (audit M6, M5)

Delivery errors were stored as str(exc), which named the recipient; erasing a subscriber
left them on the unlinked rows. Rows of erased subscribers lose their text (the code
stays); every other error text and bounce diagnostic is redacted with today's patterns
(internationalised addresses too), and a delivery's error also loses its own recipient's
address and local part. Data only: there is nothing to downgrade.

Revision ID: 0008_scrub_errors
Revises: 0007
Create Date: 2026-11-30 17:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

from mailer.redaction import scrub


# revision identifiers, used by Alembic.
revision = '0008_scrub_errors'
down_revision = '0007'
branch_labels = None
depends_on = None

BATCH = 1000
LENGTH = 500  # delivery.error and bounce_event.diagnostic are VARCHAR(500)

delivery = sa.table(
    'delivery',
    sa.column('id', sa.BigInteger),
    sa.column('subscriber_id', sa.Integer),
    sa.column('error', sa.String),
)
subscriber = sa.table('subscriber', sa.column('id', sa.Integer), sa.column('email', sa.String))
bounce_event = sa.table(
    'bounce_event', sa.column('id', sa.BigInteger), sa.column('diagnostic', sa.String)
)


def upgrade():
    conn = op.get_bind()
    conn.execute(
        delivery.update()
        .where(delivery.c.subscriber_id.is_(None), delivery.c.error.is_not(None))
        .values(error=None)
    )
    errors = (
        sa.select(delivery.c.id, delivery.c.error, subscriber.c.email)
        .select_from(delivery.outerjoin(subscriber, subscriber.c.id == delivery.c.subscriber_id))
        .where(delivery.c.error.is_not(None))
    )
    _rewrite(conn, delivery, 'error', errors)
    diagnostics = sa.select(
        bounce_event.c.id, bounce_event.c.diagnostic, sa.null().label('email')
    ).where(bounce_event.c.diagnostic.is_not(None))
    _rewrite(conn, bounce_event, 'diagnostic', diagnostics)


def _rewrite(conn, table, column, query):
    """Scrub the texts BATCH rows at a time, in id order, so memory stays flat.

    Scrubbing can lengthen a text ("[address]" is longer than a@b.cd): cut it to the
    column again, or PostgreSQL refuses the row and the whole upgrade rolls back.
    """
    statement = (
        table.update().where(table.c.id == sa.bindparam('row_id')).values({column: sa.bindparam('value')})
    )
    last = None
    while True:
        page = query if last is None else query.where(table.c.id > last)
        rows = conn.execute(page.order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        last = rows[-1][0]
        changed = []
        for row_id, old, email in rows:
            new = scrub(old, email)[:LENGTH]
            if new != old:
                changed.append({'row_id': row_id, 'value': new})
        if changed:
            conn.execute(statement, changed)


def downgrade():
    pass  # the removed text is gone for good
