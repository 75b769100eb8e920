"""Celery tasks: thin wrappers that load rows by id and call one service function."""

from __future__ import annotations

import dataclasses
import logging
import smtplib
from datetime import timedelta

import redis
from celery import Task, shared_task
from celery.signals import worker_process_shutdown
from flask import current_app
from sqlalchemy import select, update

from mailer import clock, retention
from mailer.articles.feeds import FeedError, import_feed
from mailer.bounces import imap
from mailer.bounces import service as bounces
from mailer.delivery import Email
from mailer.delivery.errors import describe, sanitized
from mailer.delivery.smtp import close_all as close_smtp_connections
from mailer.delivery.smtp import smtp_code
from mailer.digests import control, outbox, sending
from mailer.digests.content import (
    fill_slots,
    list_headers,
    list_sender,
    render_digest,
    sample_slots,
)
from mailer.digests.schedule import create_due_digests
from mailer.emails import get_transport, render_email
from mailer.extensions import db
from mailer.models import Digest, Subscriber, utcnow
from mailer.privacy import address_hash
from mailer.subscriptions import address_cap, links, service
from mailer.urls import external_url
from mailer.verp import confirmation_verp_address

logger = logging.getLogger(__name__)

# Transient SMTP trouble (4xx, connection refused or dropped): retry with back-off.
TRANSIENT = (
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    ConnectionError,
    TimeoutError,
)


def _is_transient(exc: smtplib.SMTPException | OSError) -> bool:
    if isinstance(exc, TRANSIENT):
        return True
    code = smtp_code(exc)
    return code is not None and 400 <= code < 500


def _retry(task: Task, exc: smtplib.SMTPException | OSError, what: str) -> None:
    """Retry a transient SMTP failure with back-off; log a permanent one.

    `what` names ids only, and the error is logged (and handed to Celery, which logs it
    too) by its class, code and enhanced status: smtplib's exceptions carry the recipient.
    """
    if _is_transient(exc) and task.request.retries < (task.max_retries or 0):
        countdown = min(600, 5 * 2**task.request.retries)
        logger.warning(
            "%s: transient SMTP error (%s), retry in %ss", what, describe(exc), countdown
        )
        raise task.retry(exc=sanitized(exc), countdown=countdown)
    logger.error("%s failed: %s", what, describe(exc))


def _with_verp(email: Email, subscriber: Subscriber) -> Email:
    """The mail with a signed envelope sender naming the subscriber, so a bounce finds them."""
    verp = confirmation_verp_address(subscriber.id, address_hash(subscriber.email))
    return dataclasses.replace(email, envelope_from=verp)


@worker_process_shutdown.connect
def _close_smtp(**_kwargs: object) -> None:
    close_smtp_connections()  # say QUIT rather than drop the kept connection


@shared_task(name="mailer.send_confirmation", bind=True, acks_late=True, max_retries=8)
def send_confirmation(self: Task, subscriber_id: int) -> None:
    """Mail the confirmation link for a subscriber's pending subscriptions, once per request.

    Only a request that took a slot of the per-address cap has `confirm_requested_at`, and
    once its mail is sent (`confirm_sent_at` after it) a re-run or a sweep sends nothing.
    """
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None or not service.may_confirm(subscriber.email):
        return
    requested, sent = subscriber.confirm_requested_at, subscriber.confirm_sent_at
    if requested is None or (sent is not None and sent >= requested):
        return  # no request, or its mail went out already
    list_ids = service.pending_list_ids(subscriber)
    if not list_ids:
        return  # confirmed meanwhile, or unsubscribed: nothing to confirm
    lists = [s.mailing_list for s in subscriber.subscriptions if s.list_id in list_ids]
    token = links.confirm_token(subscriber, list_ids)
    email = render_email(
        "confirm",
        to=subscriber.email,
        lists=lists,
        confirm_url=external_url("subscriptions.confirm", token=token),
        max_age_days=_days(service.confirm_max_age()),
    )
    email = _with_verp(email, subscriber)
    try:
        get_transport().send(email)
    except (smtplib.SMTPException, OSError) as exc:
        _retry(self, exc, f"confirmation mail for subscriber {subscriber_id}")
        return
    subscriber.confirm_sent_at = clock.now()
    db.session.commit()
    logger.info("confirmation mail sent for subscriber %s", subscriber_id)


@shared_task(name="mailer.send_already_subscribed", bind=True, acks_late=True, max_retries=8)
def send_already_subscribed(self: Task, subscriber_id: int) -> None:
    """Tell a confirmed subscriber who signed up again where to manage their subscription."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None or service.is_suppressed(subscriber.email):
        return
    email = render_email(
        "already_subscribed",
        to=subscriber.email,
        subscriber=subscriber,
        preferences_url=external_url(
            "subscriptions.preferences", token=links.preferences_token(subscriber)
        ),
        unsubscribe_url=external_url(
            "subscriptions.unsubscribe", token=links.unsubscribe_token(subscriber)
        ),
    )
    email = _with_verp(email, subscriber)
    try:
        get_transport().send(email)
    except (smtplib.SMTPException, OSError) as exc:
        _retry(self, exc, f"already-subscribed mail for subscriber {subscriber_id}")
        return
    logger.info("already-subscribed mail sent for subscriber %s", subscriber_id)


@shared_task(name="mailer.send_test_digest", bind=True, acks_late=True, max_retries=5)
def send_test_digest(self: Task, digest_id: int, address: str) -> None:
    """Mail a digest to one address for review, with a sample reader's links."""
    digest = db.session.get(Digest, digest_id)
    if digest is None:
        return
    rendered = render_digest(digest)
    slots = sample_slots()
    html, text = fill_slots(rendered, slots)
    email = Email(
        to=address,
        subject=f"[Test] {rendered.subject}",
        text=text,
        html=html,
        sender=list_sender(digest.mailing_list),
        headers=list_headers(digest.mailing_list, slots["unsubscribe_url"]),
    )
    try:
        get_transport().send(email)
    except (smtplib.SMTPException, OSError) as exc:
        _retry(self, exc, f"digest {digest_id}: test send")
        return
    logger.info("digest %s: test sent", digest_id)


@shared_task(name="mailer.sweep_confirmations")
def sweep_confirmations() -> int:
    """Re-enqueue confirmation mails that were asked for but never sent (Redis was down...).

    Only requests that took a slot of the per-address cap have `confirm_requested_at`: a
    request the cap held back is never sent from here either. Old slots are deleted.
    """
    now = clock.now()
    address_cap.prune()
    db.session.commit()
    # Never queued, or queued long enough ago that its retries (about 20 min) are over.
    stale = db.session.scalars(
        select(Subscriber.id).where(
            Subscriber.confirm_requested_at > now - timedelta(days=1),
            (Subscriber.confirm_sent_at.is_(None))
            | (Subscriber.confirm_sent_at < Subscriber.confirm_requested_at),
            (Subscriber.confirm_queued_at.is_(None))
            | (Subscriber.confirm_queued_at < now - timedelta(minutes=30)),
        )
    ).all()
    for subscriber_id in stale:
        db.session.execute(
            update(Subscriber).where(Subscriber.id == subscriber_id).values(confirm_queued_at=now)
        )
        db.session.commit()
        send_confirmation.delay(subscriber_id)
    if stale:
        logger.info("re-enqueued %d confirmation mails", len(stale))
    return len(stale)


def _days(delta: timedelta) -> int:
    return max(1, round(delta.total_seconds() / 86400))


# --- digests ----------------------------------------------------------------------------------


def enqueue_batches(digest_id: int) -> int:
    """Queue one bulk task per range of open deliveries (after the caller's commit)."""
    ranges = outbox.batch_ranges(digest_id, int(current_app.config["DELIVERY_BATCH_SIZE"]))
    for lo, hi in ranges:
        send_digest_batch.delay(digest_id, lo, hi)
    return len(ranges)


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
    sending.send_batch(digest_id, lo, hi)
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
    """Make this week's digest for lists whose slot passed, then start every due digest."""
    create_due_digests(utcnow(), current_app.config["SCHEDULE_GRACE"])
    db.session.commit()
    due = control.auto_send_due()
    for digest_id in due:
        start_digest.delay(digest_id)
    return len(due)


@shared_task(name="mailer.poll_feeds")
def poll_feeds() -> None:
    """Import each feed of FEEDS and commit it; a broken feed is logged and skipped."""
    for index, url in enumerate(current_app.config["FEEDS"], 1):
        try:
            report = import_feed(url)
        except FeedError as exc:
            db.session.rollback()
            logger.warning("feed %d: nothing imported: %s", index, exc)
            continue
        db.session.commit()
        logger.info(
            "feed %d: %d added, %d updated, %d unchanged, %d skipped",
            index,
            report.added,
            report.updated,
            report.unchanged,
            len(report.skipped),
        )


@shared_task(name="mailer.process_bounces")
def process_bounces() -> int:
    """Process bounce mail the receiver stored but did not finish (it crashed, the DB failed)."""
    pending = bounces.unprocessed(timedelta(minutes=2))
    for inbound_id in pending:
        if bounces.count_attempt(inbound_id):  # counted first: a poison message stops at 5
            db.session.commit()
            bounces.process_stored(inbound_id)
            db.session.commit()
    if pending:
        logger.info("processed %d stored bounce messages", len(pending))
    return len(pending)


@shared_task(name="mailer.apply_retention")
def apply_retention() -> int:
    """Delete what the retention limits say is no longer kept (README, "Retention")."""
    report = retention.apply(utcnow())
    if report.signups_deleted or report.unsubscribed_erased or report.bounces_purged:
        logger.info(
            "retention: %d unconfirmed sign-ups deleted, %d unsubscribed people erased,"
            " %d raw bounce messages purged",
            report.signups_deleted,
            report.unsubscribed_erased,
            report.bounces_purged,
        )
    return report.signups_deleted + report.unsubscribed_erased + report.bounces_purged


@shared_task(name="mailer.poll_bounce_mailbox")
def poll_bounce_mailbox() -> int:
    """Store, remove and process the messages of the bounce mailbox (BOUNCE_IMAP_URL), if set."""
    url = current_app.config.get("BOUNCE_IMAP_URL")
    if not url:
        return 0
    report = imap.poll(imap.parse_url(url), int(current_app.config["BOUNCE_MAX_BYTES"]))
    if report.stored or report.too_large:
        logger.info(
            "bounce mailbox: %d stored, %d processed, %d too large",
            report.stored,
            report.processed,
            report.too_large,
        )
    return report.stored
