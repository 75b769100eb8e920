"""Celery tasks: thin wrappers that load rows by id and call one service function."""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from celery import Task, shared_task
from celery.signals import worker_process_shutdown
from sqlalchemy import select, update

from mailer.delivery.smtp import close_all as close_smtp_connections
from mailer.emails import get_transport, render_email
from mailer.extensions import db
from mailer.models import Subscriber, utcnow
from mailer.subscriptions import service
from mailer.urls import external_url

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
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        code = max(codes) if codes else None
    return isinstance(code, int) and 400 <= code < 500


def _retry(task: Task, exc: smtplib.SMTPException | OSError, what: str, subscriber_id: int) -> None:
    if _is_transient(exc) and task.request.retries < (task.max_retries or 0):
        countdown = min(600, 5 * 2**task.request.retries)
        logger.warning(
            "%s for subscriber %s: transient SMTP error, retry in %ss",
            what,
            subscriber_id,
            countdown,
        )
        raise task.retry(exc=exc, countdown=countdown)
    logger.error("%s for subscriber %s failed: %s", what, subscriber_id, exc)


@worker_process_shutdown.connect
def _close_smtp(**_kwargs: object) -> None:
    close_smtp_connections()  # say QUIT rather than drop the kept connection


@shared_task(name="mailer.send_confirmation", bind=True, acks_late=True, max_retries=8)
def send_confirmation(self: Task, subscriber_id: int) -> None:
    """Mail the confirmation link for a subscriber's pending subscriptions."""
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None or service.is_suppressed(subscriber.email):
        return
    list_ids = service.pending_list_ids(subscriber)
    if not list_ids:
        return  # confirmed meanwhile, or unsubscribed: nothing to confirm
    lists = [s.mailing_list for s in subscriber.subscriptions if s.list_id in list_ids]
    token = service.confirm_token(subscriber, list_ids)
    email = render_email(
        "confirm",
        to=subscriber.email,
        subscriber=subscriber,
        lists=lists,
        confirm_url=external_url("subscriptions.confirm", token=token),
        max_age_days=_days(service.confirm_max_age()),
    )
    try:
        get_transport().send(email)
    except (smtplib.SMTPException, OSError) as exc:
        _retry(self, exc, "confirmation mail", subscriber_id)
        return
    subscriber.confirm_sent_at = utcnow()
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
            "subscriptions.preferences", token=service.preferences_token(subscriber)
        ),
        unsubscribe_url=external_url(
            "subscriptions.unsubscribe", token=service.unsubscribe_token(subscriber)
        ),
    )
    try:
        get_transport().send(email)
    except (smtplib.SMTPException, OSError) as exc:
        _retry(self, exc, "already-subscribed mail", subscriber_id)
        return
    logger.info("already-subscribed mail sent for subscriber %s", subscriber_id)


@shared_task(name="mailer.sweep_confirmations")
def sweep_confirmations() -> int:
    """Re-enqueue confirmation mails that were asked for but never sent (Redis was down...)."""
    now = utcnow()
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
