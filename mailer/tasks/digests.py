"""Digest tasks: start a digest, send its batches, re-queue lost work, start due digests.

Each calls one function of mailer.digests; they never decide a digest's state themselves.
"""

from __future__ import annotations

import logging

import redis
from celery import Task, shared_task
from flask import current_app

from mailer import i18n
from mailer.digests import control, outbox, sending, testsend, weekly
from mailer.emails import render_email
from mailer.extensions import db
from mailer.models import Digest, DigestStatus, Editor
from mailer.tasks.mail import send_data, send_mail
from mailer.tasks.queue import enqueue_after_commit
from mailer.urls import external_url

logger = logging.getLogger(__name__)


def enqueue_batches(digest_id: int) -> int:
    """Queue one bulk task per range of open deliveries (commits first)."""
    ranges = outbox.batch_ranges(digest_id, int(current_app.config["DELIVERY_BATCH_SIZE"]))
    for lo, hi in ranges:
        enqueue_after_commit(send_digest_batch, digest_id, lo, hi)
    return len(ranges)


def enqueue_review_mails(digest_id: int, editor_ids: list[int]) -> bool:
    """Queue the review mail of the week's digest to each editor (commits first).

    False if the queue was down for any of them: the scheduler tries again at its next run.
    """
    queued = sum(enqueue_after_commit(send_review_mail, digest_id, e) for e in editor_ids)
    logger.info("digest %s: review mail queued for %d editors", digest_id, queued)
    return queued == len(editor_ids)


@shared_task(name="mailer.send_review_mail", bind=True, acks_late=True, max_retries=8)
def send_review_mail(self: Task, digest_id: int, editor_id: int) -> None:
    """Mail an editor the review link of the week's digest (mailer.digests.weekly)."""
    email = weekly.review_email(digest_id, editor_id)
    if email is None:
        logger.info("digest %s: no review mail for editor %s (gone or sent)", digest_id, editor_id)
        return
    send_mail(self, email, f"digest {digest_id}: review mail for editor {editor_id}")


@shared_task(name="mailer.start_digest", acks_late=True)
def start_digest(digest_id: int) -> None:
    """Claim the digest, render it once, write its outbox, then queue the batches."""
    count = outbox.start(digest_id)
    db.session.commit()
    if count is None:
        logger.info("digest %s: already started", digest_id)
        return
    batches = enqueue_batches(digest_id)
    logger.info("digest %s: %d deliveries in %d batches", digest_id, count, batches)


@shared_task(
    name="mailer.send_digest_batch",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def send_digest_batch(self: Task, digest_id: int, lo: int, hi: int) -> None:
    """Send one range of a digest's deliveries; deferred ones come back after their back-off."""
    from mailer.digests import lifecycle  # it queues this module's tasks: imported late

    sending.send_batch(digest_id, lo, hi)
    # Bounces that came before the minimum sample was out pause it only now (autopause).
    lifecycle.pause_if_over(digest_id)
    # The range's earliest deferred row, of this run or an earlier one (see next_retry_in).
    retry_in = control.next_retry_in(digest_id, lo, hi)
    if retry_in is not None:
        # Below the broker's visibility timeout (an hour): see DELIVERY_RETRY_BASE.
        send_digest_batch.apply_async((digest_id, lo, hi), countdown=min(retry_in, 3000))


@shared_task(name="mailer.reap_deliveries")
def reap_deliveries() -> int:
    """Re-queue work no task carries: expired leases, batches lost with Redis."""
    stalled = control.reap()
    if stalled and _bulk_queue_length() > 0:
        return 0  # batches are still waiting for a worker: not lost, just queued
    for digest_id in stalled:
        logger.warning("digest %s: open deliveries and no worker on them: re-queued", digest_id)
        enqueue_batches(digest_id)
    return len(stalled)


def _bulk_queue_length() -> int:
    try:
        return int(current_app.extensions["redis"].llen("bulk"))
    except redis.RedisError:
        return 0


@shared_task(name="mailer.send_scheduled_digests")
def send_scheduled_digests() -> int:
    """The scheduler: make this week's digests, then start every due one (one service call)."""
    from mailer.digests import lifecycle  # it queues this module's tasks: imported late

    return len(lifecycle.start_due())


@shared_task(name="mailer.send_test_digest", bind=True, acks_late=True, max_retries=5)
def send_test_digest(self: Task, digest_id: int, test_id: str) -> None:
    """Mail a digest's test send: the real message for a sample reader (mailer.digests.testsend).

    `test_id` names the address kept in Redis: no address travels in the queue (audit I1).
    """
    test = testsend.message(test_id)
    if test is None:
        logger.info("digest %s: test send %s expired or digest gone", digest_id, test_id[:6])
        return
    if send_data(self, test.envelope_from, test.to, test.data, f"digest {digest_id}: test"):
        testsend.forget(test_id)


@shared_task(name="mailer.send_pause_notice", bind=True, acks_late=True, max_retries=8)
def send_pause_notice(self: Task, digest_id: int, editor_id: int) -> None:
    """Tell an editor that a digest paused itself, and why (no reader's address in it)."""
    digest = db.session.get(Digest, digest_id)
    editor = db.session.get(Editor, editor_id)
    if digest is None or editor is None or digest.pause_reason is None:
        return  # resumed meanwhile: the editors saw it
    if digest.status != DigestStatus.paused:
        return
    email = render_email(
        "digest_paused",
        to=editor.email,
        language=i18n.SOURCE_LANGUAGE,  # editors' mails: the admin's language
        subject=digest.subject,
        list_name=digest.mailing_list.name,
        reason=digest.pause_reason,
        url=external_url("admin.edit_digest", digest_id=digest_id),
    )
    send_mail(self, email, f"pause notice of digest {digest_id} for editor {editor_id}")
