"""The engine's view of a sending digest: finish it, its next retry, progress, the reaper.

Editors' and the scheduler's state changes (start, pause, resume, cancel...) are in
mailer.digests.lifecycle.

`reap` puts rows whose lease expired back to pending and finds sending digests with work
that no task is carrying; the beat job re-queues them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    exists,
    func,
    or_,
    select,
    update,
)

from mailer.digests.outbox import changed, digest_status
from mailer.extensions import db
from mailer.models import (
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    utcnow,
)

logger = logging.getLogger(__name__)


def finish_if_done(digest_id: int) -> bool:
    """Mark a sending digest `sent` once no delivery is pending or sending."""
    open_rows = exists().where(
        Delivery.digest_id == digest_id,
        Delivery.status.in_([DeliveryStatus.pending, DeliveryStatus.sending]),
    )
    done = changed(
        update(Digest)
        .where(Digest.id == digest_id, Digest.status == DigestStatus.sending, ~open_rows)
        .values(status=DigestStatus.sent, sent_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if done:
        logger.info("digest %s: sent", digest_id)
    return bool(done)


def next_retry_in(digest_id: int, lo: int, hi: int) -> float | None:
    """Seconds until the range's next deferred delivery is due; None if none, or not sending.

    Of every deferred row of the range, not only those of the last run: a row deferred near
    the end of one run may not be due yet when the next one claims, and must not be left
    for the reaper.
    """
    due = db.session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.digest_id == digest_id,
            Delivery.id.between(lo, hi),
            Delivery.status == DeliveryStatus.pending,
            Delivery.next_attempt_at.is_not(None),
        )
    )
    sending = digest_status(digest_id) == DigestStatus.sending
    db.session.commit()
    if due is None or not sending:
        return None
    return max(0.0, (due - utcnow()).total_seconds())


# --- progress ---------------------------------------------------------------------------------


@dataclass
class Progress:
    total: int
    sent: int
    failed: int
    skipped: int
    pending: int
    sending: int

    @property
    def remaining(self) -> int:
        return self.pending + self.sending

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped


def progress(digest_id: int) -> Progress:
    """Counts of the digest's deliveries by status (one GROUP BY)."""
    counts = dict(
        db.session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.digest_id == digest_id)
            .group_by(Delivery.status)
        ).all()
    )
    get = lambda s: int(counts.get(s, 0))  # noqa: E731
    return Progress(
        total=sum(int(v) for v in counts.values()),
        sent=get(DeliveryStatus.sent),
        failed=get(DeliveryStatus.failed),
        skipped=get(DeliveryStatus.skipped),
        pending=get(DeliveryStatus.pending),
        sending=get(DeliveryStatus.sending),
    )


# --- the reaper -------------------------------------------------------------------------------


# A deferred row's retry is a task scheduled for about when the row is due, held by a worker
# (not in the queue the reaper can see): only rows overdue by more than this have lost theirs.
# Without it, every reap during a 4xx storm started a second chain of retries per range.
RETRY_GRACE = timedelta(minutes=2)


def reap(now: datetime | None = None) -> list[int]:
    """Expired leases back to pending; return sending digests with due work and no live lease."""
    now = now or utcnow()
    cancelled = select(Digest.id).where(Digest.status == DigestStatus.cancelled)
    for target, in_cancelled in ((DeliveryStatus.skipped, True), (DeliveryStatus.pending, False)):
        in_digest = Delivery.digest_id.in_(cancelled)
        db.session.execute(
            update(Delivery)
            .where(
                Delivery.status == DeliveryStatus.sending,
                Delivery.lease_expires_at < now,
                in_digest if in_cancelled else ~in_digest,
            )
            .values(status=target, lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    sending = db.session.scalars(select(Digest.id).where(Digest.status == DigestStatus.sending))
    stalled = []
    for digest_id in list(sending):
        if finish_if_done(digest_id):
            continue
        live = db.session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.digest_id == digest_id, Delivery.status == DeliveryStatus.sending)
        )
        due = db.session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.digest_id == digest_id,
                Delivery.status == DeliveryStatus.pending,
                or_(
                    Delivery.next_attempt_at.is_(None),
                    Delivery.next_attempt_at <= now - RETRY_GRACE,
                ),
            )
        )
        if due and not live:
            stalled.append(digest_id)
    return stalled


def auto_send_due(now: datetime | None = None) -> list[int]:
    """Scheduled digests whose time has come, to be started."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Digest.id).where(
                Digest.status == DigestStatus.scheduled, Digest.scheduled_at <= now
            )
        )
    )
