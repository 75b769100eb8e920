"""The one place a digest changes state: create, schedule, unschedule, start, pause, resume,
cancel, and the scheduler's start of due digests.

The admin pages, `mailer digest ...` and the beat job call these and nothing else. Each
commits its change, then queues the worker's part (mailer.tasks.digests): a start is the
`start_digest` task, which claims the digest once (mailer.digests.outbox.start).

The week's digest (mailer.digests.weekly): the scheduler drafts it at the lead time and
mails the editors; an editor approves it (`approve`) or holds it (`hold`). No start or
schedule sends an article a digest of the list carries within a week (`ArticlesTwice`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from flask import current_app
from redis import RedisError
from sqlalchemy import update

from mailer import clock
from mailer.digests import autopause, control, service, testsend, weekly
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
)
from mailer.tasks import digests as digest_tasks
from mailer.tasks.queue import enqueue_after_commit

logger = logging.getLogger(__name__)

__all__ = ["NotSendable", "PastTime"]


class NotSendable(Exception):
    """The digest cannot be started, scheduled, paused, resumed or cancelled from its status."""


class PastTime(ValueError):
    """A digest can only be scheduled for a time still to come."""


class ArticlesTwice(NotSendable):
    """Another digest of the list carries some of these articles within a week."""


def _check_articles(digest_id: int, when: datetime) -> None:
    """Refuse to send articles another digest of the list brings within a week of `when`."""
    digest = db.session.get(Digest, digest_id)
    other = weekly.clash(digest, when) if digest is not None else None
    if other is not None:
        db.session.rollback()
        raise ArticlesTwice(
            f"The digest “{other.subject}” ({other.shown_status}) brings some of these articles"
            " to this list within a week of this one: remove them here, or hold that one."
        )


def create(mailing_list: MailingList, articles: Sequence[Article] | None = None) -> Digest:
    """A draft of the list's next digest (the articles since its last one, unless given)."""
    digest = service.create_digest(mailing_list, articles)
    db.session.commit()
    return digest


def _move(
    digest_id: int, target: DigestStatus, when: datetime | None, verb: str, *, drafts: bool = True
) -> None:
    """Move a digest still waiting (a draft, or scheduled and not yet due) to `target`."""
    waiting = (Digest.status == DigestStatus.scheduled) & (Digest.scheduled_at > clock.now())
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
        shown = digest.shown_status if digest else None
        raise NotSendable(f"{service.state_sentence(shown)}: it cannot be {verb}.")
    db.session.commit()


def schedule(digest_id: int, when: datetime) -> None:
    """Send a waiting digest at `when` (UTC, in the future); the scheduler starts it then."""
    if when <= clock.now():
        raise PastTime("Choose a time in the future.")
    _check_articles(digest_id, when)
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
    now = clock.now()
    _check_articles(digest_id, now)
    _move(digest_id, DigestStatus.scheduled, now, "started")
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


def approve(digest_id: int) -> bool:
    """Send the week's digest an editor reviewed: at its slot, or now if the slot passed.

    True if scheduled for the slot, False if started now.
    """
    digest = db.session.get(Digest, digest_id)
    if digest is None or digest.schedule_slot is None or digest.status != DigestStatus.draft:
        raise NotSendable("Only a weekly digest waiting for an editor can be approved.")
    other = weekly.week_digest(digest.list_id, digest.schedule_slot, exclude_id=digest.id)
    if other is not None:
        raise NotSendable(
            f"This list's digest of the week is “{other.subject}” ({other.shown_status}):"
            " this one is not sent. Schedule it for another week by hand, or cancel that one."
        )
    if digest.schedule_slot > clock.now():
        schedule(digest_id, digest.schedule_slot)
        return True
    start(digest_id)
    return False


def hold(digest_id: int) -> None:
    """Keep the week's scheduled digest from going out: a draft again, until approved."""
    digest = db.session.get(Digest, digest_id)
    if digest is None or digest.schedule_slot is None:
        raise NotSendable("Only a weekly digest made by the scheduler can be held.")
    _move(digest_id, DigestStatus.draft, None, "held", drafts=False)


def start_due(now: datetime | None = None) -> list[int]:
    """The scheduler: draft the coming week's digests (and mail the editors), start due ones.

    A due digest whose articles another digest of the list brings within a week (added by
    hand after it was scheduled) goes back to draft instead: no article twice.
    """
    now = now or clock.now()
    grace, lead = current_app.config["SCHEDULE_GRACE"], weekly.lead_time()
    create_due_digests(now, grace, lead)
    db.session.commit()
    for digest_id in weekly.review_not_queued(now - grace):
        if digest_tasks.enqueue_review_mails(digest_id, weekly.editor_ids()):
            weekly.mark_review_queued(digest_id, now)
            db.session.commit()
    started = []
    for digest_id in control.auto_send_due(now):
        digest = db.session.get(Digest, digest_id)
        if digest is not None and weekly.clash(digest, now) is not None:
            logger.warning(
                "digest %s: its articles go to the list already: back to draft", digest_id
            )
            changed(
                update(Digest)
                .where(Digest.id == digest_id, Digest.status == DigestStatus.scheduled)
                .values(status=DigestStatus.draft, scheduled_at=None)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
            continue
        enqueue_after_commit(digest_tasks.start_digest, digest_id)
        started.append(digest_id)
    return started


def _switch(
    digest_id: int, sources: tuple[DigestStatus, ...], target: DigestStatus, verb: str
) -> None:
    """Move the digest from one of `sources` to `target` (flushed), or raise NotSendable:
    "This digest is a draft: only a sending digest can be paused." """
    moved = changed(
        update(Digest)
        .where(Digest.id == digest_id, Digest.status.in_(sources))
        .values(status=target)
        .execution_options(synchronize_session=False)
    )
    if not moved:
        db.session.rollback()
        status = digest_status(digest_id)
        names = [s.value for s in sources]
        which = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise NotSendable(
            f"{service.state_sentence(status.value if status else None)}:"
            f" only a {which} digest can be {verb}."
        )


def pause(digest_id: int) -> None:
    """Stop a sending digest; batches in flight stop at their next check."""
    _switch(digest_id, (DigestStatus.sending,), DigestStatus.paused, "paused")
    db.session.commit()


def pause_if_over(digest_id: int) -> bool:
    """Pause a sending digest whose bounces or complaints passed its list's limits.

    Called where a bounce or complaint is recorded and after each batch. Commits only when
    it pauses (with whatever the caller flushed): then the editors' mails are queued.
    """
    reason = autopause.check(digest_id)
    return reason is not None and auto_pause(digest_id, reason)


def auto_pause(digest_id: int, reason: str) -> bool:
    """Pause a sending digest by itself, keep why, and mail every editor; False if it was
    not sending (paused, cancelled or finished meanwhile: nothing done, nothing committed).

    The same pause as an editor's: batches in flight stop at their next look at the status.
    """
    moved = changed(
        update(Digest)
        .where(Digest.id == digest_id, Digest.status == DigestStatus.sending)
        .values(status=DigestStatus.paused, pause_reason=reason[:500])
        .execution_options(synchronize_session=False)
    )
    if not moved:
        return False
    db.session.commit()
    logger.warning("digest %s: %s", digest_id, reason)
    for editor_id in weekly.editor_ids():  # the active editors, as for the review mail
        enqueue_after_commit(digest_tasks.send_pause_notice, digest_id, editor_id)
    return True


def resume(digest_id: int) -> None:
    """Continue a paused digest and queue its open ranges again.

    After an auto-pause the rates start again from now (mailer.digests.autopause): the
    editor resumed knowing the reason, which the page showed.
    """
    _switch(digest_id, (DigestStatus.paused,), DigestStatus.sending, "resumed")
    db.session.execute(
        update(Digest)
        .where(Digest.id == digest_id, Digest.pause_reason.is_not(None))
        .values(pause_reason=None, rates_since=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()  # even when there is nothing left to queue
    if not digest_tasks.enqueue_batches(digest_id):
        control.finish_if_done(digest_id)  # every row was done while it was paused


def cancel(digest_id: int) -> int:
    """Cancel a scheduled, starting, sending or paused digest; its open deliveries are skipped.

    The number skipped. Rows a batch holds are skipped by it (it checks the status) or by
    the reaper when their lease expires.
    """
    sources = (DigestStatus.scheduled, DigestStatus.sending, DigestStatus.paused)
    _switch(digest_id, sources, DigestStatus.cancelled, "cancelled")
    skipped = changed(
        update(Delivery)
        .where(Delivery.digest_id == digest_id, Delivery.status == DeliveryStatus.pending)
        .values(status=DeliveryStatus.skipped)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return skipped
