"""Housekeeping tasks of the beat: lost confirmation mails, stored bounces, the bounce
mailbox, retention."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from flask import current_app
from sqlalchemy import select, update

from mailer import clock, retention
from mailer.bounces import imap
from mailer.bounces import service as bounces
from mailer.extensions import db
from mailer.models import Subscriber, utcnow
from mailer.subscriptions import address_cap
from mailer.tasks.mail import send_confirmation
from mailer.tasks.queue import enqueue_after_commit

logger = logging.getLogger(__name__)


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
        enqueue_after_commit(send_confirmation, subscriber_id)
    if stale:
        logger.info("re-enqueued %d confirmation mails", len(stale))
    return len(stale)


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
    total = (
        report.signups_deleted
        + report.unsubscribed_erased
        + report.bounces_purged
        + report.audit_events_deleted
    )
    if total:
        logger.info(
            "retention: %d unconfirmed sign-ups deleted, %d unsubscribed people erased,"
            " %d raw bounce messages purged, %d audit events deleted",
            report.signups_deleted,
            report.unsubscribed_erased,
            report.bounces_purged,
            report.audit_events_deleted,
        )
    return total


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
