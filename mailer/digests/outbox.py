"""The outbox: claim a digest, render it once and write one Delivery row per recipient.

`start` claims a draft or scheduled digest and fans it out in one INSERT ... SELECT of the
list's confirmed, unsuppressed subscribers; `batch_ranges` cuts the open rows into id
ranges for the bulk tasks (mailer.digests.sending).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Executable,
    Select,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)

from mailer import clock
from mailer.digests import variants
from mailer.extensions import db
from mailer.models import (
    EDITABLE,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)

logger = logging.getLogger(__name__)


def changed(statement: Executable) -> int:
    """Run an UPDATE; the number of rows it changed."""
    return int(getattr(db.session.execute(statement), "rowcount", 0) or 0)


def digest_status(digest_id: int) -> DigestStatus | None:
    return db.session.scalar(select(Digest.status).where(Digest.id == digest_id))


def start(digest_id: int) -> int | None:
    """Claim a draft or scheduled digest, render it once and fan it out; None if claimed before.

    Flushes; the caller commits, so the claim, the rendered parts and the outbox land together.
    """
    now = clock.now()
    claimed = changed(
        update(Digest)
        .where(Digest.id == digest_id, Digest.status.in_(EDITABLE))
        .values(status=DigestStatus.sending, started_at=now)
        .execution_options(synchronize_session=False)
    )
    if not claimed:
        return None
    digest = db.session.get(Digest, digest_id)
    assert digest is not None
    db.session.refresh(digest)
    count = fan_out(digest.id, digest.list_id, now)
    variants.render_all(digest)  # once per language its readers use
    if count == 0:
        digest.status, digest.sent_at = DigestStatus.sent, now
    db.session.flush()
    logger.info("digest %s: claimed, %d deliveries", digest_id, count)
    return count


def recipients_query(list_id: int) -> Select[Any]:
    """Confirmed, unsuppressed subscribers of a list (ids), as one SELECT.

    Subscribers are looked at only for the few suppressed addresses (through their
    address_hash index), not joined to every subscription: on PostgreSQL that join was a
    hash join of a million rows each, a quarter of a 1,000,000-row fan-out.
    """
    suppressed = exists().where(
        Subscriber.id == Subscription.subscriber_id,
        Suppression.address_hash == Subscriber.address_hash,
    )
    return select(Subscription.subscriber_id).where(
        Subscription.list_id == list_id,
        Subscription.status == SubscriptionStatus.confirmed,
        ~suppressed,
    )


def recipient_count(list_id: int) -> int:
    """How many subscribers a digest to this list would go to now."""
    query = select(func.count()).select_from(recipients_query(list_id).subquery())
    return int(db.session.scalar(query) or 0)


def fan_out(digest_id: int, list_id: int, now: datetime) -> int:
    """One pending Delivery per recipient, set-based; a repeated fan-out adds nothing."""
    source = (
        recipients_query(list_id)
        .with_only_columns(
            literal(digest_id),
            Subscription.subscriber_id,
            literal(DeliveryStatus.pending.value),
            literal(0),
            literal(now, type_=Delivery.__table__.c.created_at.type),
        )
        .order_by(Subscription.subscriber_id)
    )  # index-ordered inserts: measured faster (PostgreSQL reads them off an index, unsorted)
    columns = ["digest_id", "subscriber_id", "status", "attempts", "created_at"]
    statement = insert(Delivery).from_select(
        columns,
        source.where(
            ~exists().where(
                Delivery.digest_id == digest_id,
                Delivery.subscriber_id == Subscription.subscriber_id,
            )
        ),
    )
    # SQLAlchemy drops the rowcount of an INSERT unless asked to keep it; kept, it is the
    # driver's (psycopg: the server's "INSERT 0 n"), with no second pass over the rows.
    result = db.session.execute(statement.execution_options(preserve_rowcount=True))
    count = int(getattr(result, "rowcount", -1))
    if count < 0:  # never 0 instead: start() would mark the digest sent
        raise RuntimeError("the database driver reported no row count for the fan-out")
    return count


def batch_ranges(digest_id: int, size: int) -> list[tuple[int, int]]:
    """Id ranges of at most `size` open deliveries each, in id order (one query)."""
    open_rows = (
        select(
            Delivery.id,
            ((func.row_number().over(order_by=Delivery.id) - 1) // size).label("chunk"),
        )
        .where(
            Delivery.digest_id == digest_id,
            Delivery.status.in_([DeliveryStatus.pending, DeliveryStatus.sending]),
        )
        .subquery()
    )
    rows = db.session.execute(
        select(func.min(open_rows.c.id), func.max(open_rows.c.id))
        .group_by(open_rows.c.chunk)
        .order_by(func.min(open_rows.c.id))
    ).all()
    return [(int(lo), int(hi)) for lo, hi in rows]
