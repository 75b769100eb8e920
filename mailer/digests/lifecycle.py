"""The one place a digest changes state: create, schedule, unschedule, start, pause, resume,
cancel, and the scheduler's start of due digests.

The admin pages, `mailer digest ...` and the beat job call these and nothing else. Each
commits its change, then queues the worker's part (mailer.tasks.digests): a start is the
`start_digest` task, which claims the digest once (mailer.digests.outbox.start).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from flask import current_app
from redis import RedisError
from sqlalchemy import update

from mailer.digests import control, service, testsend
from mailer.digests.outbox import changed, digest_status
from mailer.digests.schedule import create_due_digests
from mailer.extensions import db
from mailer.models import (
    Article,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestStatus,
    MailingList,
    utcnow,
)
from mailer.tasks import digests as digest_tasks
from mailer.tasks.queue import enqueue_after_commit

logger = logging.getLogger(__name__)

__all__ = ["NotSendable", "PastTime"]


class NotSendable(Exception):
    """The digest cannot be started, scheduled, paused, resumed or cancelled from its status."""


class PastTime(ValueError):
    """A digest can only be scheduled for a time still to come."""


def create(mailing_list: MailingList, articles: Sequence[Article] | None = None) -> Digest:
    """A draft of the list's next digest (the articles since its last one, unless given)."""
    digest = service.create_digest(mailing_list, articles)
    db.session.commit()
    return digest


def _move(
    digest_id: int, target: DigestStatus, when: datetime | None, verb: str, *, drafts: bool = True
) -> None:
    """Move a digest still waiting (a draft, or scheduled and not yet due) to `target`."""
    waiting = (Digest.status == DigestStatus.scheduled) & (Digest.scheduled_at > utcnow())
    if drafts:
        waiting |= Digest.status == DigestStatus.draft
    moved = changed(
        update(Digest)
        .where(Digest.id == digest_id, waiting)
        .values(status=target, scheduled_at=when)
        .execution_options(synchronize_session=False)
    )
    if not moved:
        db.session.rollback()
        digest = db.session.get(Digest, digest_id)
        shown = digest.shown_status if digest else "gone"
        raise NotSendable(f"This digest is {shown}: it cannot be {verb}.")
    db.session.commit()


def schedule(digest_id: int, when: datetime) -> None:
    """Send a waiting digest at `when` (UTC, in the future); the scheduler starts it then."""
    if when <= utcnow():
        raise PastTime("Choose a time in the future.")
    _move(digest_id, DigestStatus.scheduled, when, "scheduled")


def unschedule(digest_id: int) -> None:
    """Make a scheduled digest a draft again (not one already due: that one is starting)."""
    _move(digest_id, DigestStatus.draft, None, "unscheduled", drafts=False)


def start(digest_id: int) -> bool:
    """Send a waiting digest now: due at once, committed, then its start queued.

    Marked scheduled-for-now in the same transaction, so every page shows it on its way
    and a second start is refused; if the queue is down the scheduler starts it (it is
    due). The worker's claim (outbox.start) makes any second copy of the task harmless.
    False if it could not be queued now.
    """
    digest = db.session.get(Digest, digest_id)
    if digest is not None and not digest.items:
        raise service.NoArticles("Add at least one article before sending.")
    _move(digest_id, DigestStatus.scheduled, utcnow(), "started")
    logger.info("digest %s: start queued", digest_id)
    return enqueue_after_commit(digest_tasks.start_digest, digest_id)


def send_test(digest_id: int, address: str, language: str | None = None) -> bool:
    """Queue a test send of the digest (in `language`, else its list's) to `address`.

    False if Redis is away.
    """
    try:
        test_id = testsend.remember(digest_id, address, language)
    except (RedisError, OSError):
        logger.warning("digest %s: test send not queued, Redis is away", digest_id)
        return False
    return enqueue_after_commit(digest_tasks.send_test_digest, digest_id, test_id)


def start_due(now: datetime | None = None) -> list[int]:
    """The scheduler: make this week's digests whose slot passed, then start every due one."""
    now = now or utcnow()
    create_due_digests(now, current_app.config["SCHEDULE_GRACE"])
    db.session.commit()
    due = control.auto_send_due(now)
    for digest_id in due:
        enqueue_after_commit(digest_tasks.start_digest, digest_id)
    return due


def _switch(digest_id: int, sources: tuple[DigestStatus, ...], target: DigestStatus) -> None:
    """Move the digest from one of `sources` to `target` (flushed), or raise NotSendable."""
    moved = changed(
        update(Digest)
        .where(Digest.id == digest_id, Digest.status.in_(sources))
        .values(status=target)
        .execution_options(synchronize_session=False)
    )
    if not moved:
        db.session.rollback()
        status = digest_status(digest_id)
        raise NotSendable(
            f"This digest is {status.value if status else 'gone'}: it cannot be {target.value}."
        )


def pause(digest_id: int) -> None:
    """Stop a sending digest; batches in flight stop at their next check."""
    _switch(digest_id, (DigestStatus.sending,), DigestStatus.paused)
    db.session.commit()


def resume(digest_id: int) -> None:
    """Continue a paused digest and queue its open ranges again."""
    _switch(digest_id, (DigestStatus.paused,), DigestStatus.sending)
    db.session.commit()  # even when there is nothing left to queue
    if not digest_tasks.enqueue_batches(digest_id):
        control.finish_if_done(digest_id)  # every row was done while it was paused


def cancel(digest_id: int) -> int:
    """Cancel a scheduled, starting, sending or paused digest; its open deliveries are skipped.

    The number skipped. Rows a batch holds are skipped by it (it checks the status) or by
    the reaper when their lease expires.
    """
    sources = (DigestStatus.scheduled, DigestStatus.sending, DigestStatus.paused)
    _switch(digest_id, sources, DigestStatus.cancelled)
    skipped = changed(
        update(Delivery)
        .where(Delivery.digest_id == digest_id, Delivery.status == DeliveryStatus.pending)
        .values(status=DeliveryStatus.skipped)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return skipped
